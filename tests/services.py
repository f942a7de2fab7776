"""Checks for the servers some tests need. CI starts them; a missing one fails the test unless
TEST_SERVICES=optional (for a laptop without PostgreSQL or Redis), where it is skipped instead."""

from __future__ import annotations

import os
import socket

import pytest


def _reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def require_redis() -> None:
    if _reachable(6379):
        return
    message = "Redis is not running on 127.0.0.1:6379 (start it, or set TEST_SERVICES=optional)"
    if os.environ.get("TEST_SERVICES") == "optional":
        pytest.skip(message)
    pytest.fail(message)
