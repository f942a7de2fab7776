from __future__ import annotations

import socket

import pytest

from tests import conftest


def test_outbound_connections_are_blocked_and_recorded() -> None:
    before = len(conftest.BLOCKED)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routable
    assert conftest.BLOCKED[before:] == [("192.0.2.1", 443)]


def test_loopback_connections_are_allowed() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
