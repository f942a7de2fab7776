"""Shared fixtures. Network: only loopback connections are allowed in every test."""

from __future__ import annotations

import io
import ipaddress
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
BLOCKED: list[object] = []


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # unix socket path
        return True
    host = address[0]
    if host in {"localhost", ""}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: resolving it would already be a request leaving the machine


def _guarded(real: Any) -> Any:
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
            BLOCKED.append(address)
            raise ConnectionRefusedError(f"test network guard: outbound connection to {address!r} blocked")
        return real(self, address)

    return connect


@pytest.fixture(autouse=True, scope="session")
def _block_outbound_network() -> Iterator[None]:
    socket.socket.connect = _guarded(_real_connect)  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded(_real_connect_ex)  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True, scope="session")
def _isolated_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests never touch the live index under var/."""
    from django.conf import settings

    path = tmp_path_factory.mktemp("index")
    previous = settings.INDEX_DIR
    settings.INDEX_DIR = path
    yield path
    settings.INDEX_DIR = previous


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Rate-limit counters and pending-question claims of one run never leak into the next."""
    from django.test.utils import override_settings

    location = str(tmp_path_factory.mktemp("cache"))
    override = override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": location}}
    )
    override.enable()
    yield
    override.disable()


@pytest.fixture(scope="session")
def demo_kb_index(django_db_setup: None, django_db_blocker: Any, _isolated_index_dir: Path) -> Iterator[Path]:
    """The demo knowledge base ingested once, with the real embedder, into the session's index."""
    from django.conf import settings

    from ingestion.models import Document
    from ingestion.services import ingest_folder

    with django_db_blocker.unblock():
        report = ingest_folder(path=settings.DEMO_KB_DIR)
        assert report.failed == 0, report.errors
        assert report.build is not None and report.build.points > 0
    yield _isolated_index_dir
    with django_db_blocker.unblock():
        Document.objects.all().delete()


@pytest.fixture(autouse=True)
def _breakers_closed() -> Iterator[None]:
    """A dependency one test killed never leaves its circuit breaker open for the next test."""
    from assistant.circuit import breakers_reset

    breakers_reset()
    yield
    breakers_reset()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Everything logged in this process, at every level, as LOG_FORMAT=json prints it."""
    from portal.observability.logs import JsonFormatter
    from portal.observability.request_id import RequestIdFilter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)
