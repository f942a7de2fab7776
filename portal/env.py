"""Strict readers for settings taken from environment variables.

A malformed value is a configuration error raised at start-up, never a silent default.
"""

from __future__ import annotations

import os
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """Raised when an environment variable holds a value we cannot use."""


def env_str(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use one of {sorted(_TRUE | _FALSE)})")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name}={value} must be >= {minimum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not a number") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_pairs(name: str, default: str, *, allowed: set[str]) -> dict[str, str]:
    """``"lb:de,xx:fr"`` -> ``{"lb": "de", "xx": "fr"}``; both sides must be in ``allowed``, no chains."""
    raw = os.environ.get(name)
    raw = default if raw is None else raw
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key, sep, value = (side.strip() for side in item.partition(":"))
        if not sep or key not in allowed or value not in allowed or key == value or key in pairs:
            expected = f"FROM:TO with two different codes among {sorted(allowed)}"
            raise ConfigError(f"{name}={raw!r}: {item!r} is not {expected}")
        pairs[key] = value
    if chained := sorted(set(pairs) & set(pairs.values())):
        raise ConfigError(f"{name}={raw!r}: {', '.join(chained)} both falls back and is a fallback")
    return pairs


def env_path(name: str, default: Path) -> Path:
    raw = os.environ.get(name)
    return default if raw is None or raw == "" else Path(raw).expanduser().resolve()
