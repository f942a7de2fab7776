from __future__ import annotations

import pytest

from portal.env import ConfigError, env_bool, env_int, env_list, env_pairs


def test_bad_boolean_is_an_error_not_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "flase")
    with pytest.raises(ConfigError, match="X_FLAG"):
        env_bool("X_FLAG", False)


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("OFF", False), ("", True)])
def test_booleans(monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool) -> None:
    monkeypatch.setenv("X_FLAG", raw)
    assert env_bool("X_FLAG", True) is expected


def test_int_bounds_and_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_INT", "12x")
    with pytest.raises(ConfigError):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "-1")
    with pytest.raises(ConfigError, match=">= 0"):
        env_int("X_INT", 1, minimum=0)


def test_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_list("X_LIST", []) == ["a", "b", "c"]


CODES = {"lb", "fr", "de", "en"}


def test_pairs_default_empty_and_explicit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_PAIRS", raising=False)
    assert env_pairs("X_PAIRS", "lb:de", allowed=CODES) == {"lb": "de"}
    monkeypatch.setenv("X_PAIRS", "")  # set but empty: the operator switched every fallback off
    assert env_pairs("X_PAIRS", "lb:de", allowed=CODES) == {}
    monkeypatch.setenv("X_PAIRS", " lb : fr , en:fr ")
    assert env_pairs("X_PAIRS", "lb:de", allowed=CODES) == {"lb": "fr", "en": "fr"}


@pytest.mark.parametrize("raw", ["lb", "lb:xx", "lb:lb", "lb:de,lb:fr", "lb:de,de:fr", "lb=de"])
def test_malformed_pairs_are_errors(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("X_PAIRS", raw)
    with pytest.raises(ConfigError, match="X_PAIRS"):
        env_pairs("X_PAIRS", "", allowed=CODES)
