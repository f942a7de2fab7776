"""Health endpoints against the real dependencies, and with each one taken away."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_liveness_checks_nothing_but_the_process(settings: Any, tmp_path: Path) -> None:
    settings.INDEX_DIR = tmp_path / "no-index"
    response = Client().get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_ready_when_database_index_model_and_broker_answer(demo_kb_index: Path, settings: Any) -> None:
    settings.INDEX_DIR = demo_kb_index
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {name for name, check in body["checks"].items() if check["ok"]} == {
        "database",
        "database_writes",
        "cache",
        "index",
        "model",
        "broker",
    }
    assert "points" in body["checks"]["index"]["detail"]


def test_not_ready_without_an_index(settings: Any, tmp_path: Path) -> None:
    settings.INDEX_DIR = tmp_path / "never-built"
    response = Client().get("/readyz")
    assert response.status_code == 503
    index = response.json()["checks"]["index"]
    assert not index["ok"] and "not been indexed" in index["detail"]


def test_not_ready_when_the_index_was_embedded_by_another_model(demo_kb_index: Path, settings: Any) -> None:
    from assistant.embedder import configured_identity

    settings.INDEX_DIR = demo_kb_index
    built_with = configured_identity()
    assert built_with in Client().get("/readyz").json()["checks"]["index"]["detail"]
    settings.EMBEDDING_MODEL = "another-model"  # what an operator changes without `index rebuild`
    response = Client().get("/readyz")
    assert response.status_code == 503
    index = response.json()["checks"]["index"]
    assert not index["ok"] and "REBUILD NEEDED" in index["detail"] and "index rebuild" in index["detail"]


def test_not_ready_when_the_model_server_is_down(demo_kb_index: Path, settings: Any) -> None:
    settings.INDEX_DIR = demo_kb_index
    settings.LLM_BASE_URL = f"http://127.0.0.1:{_closed_port()}/v1"
    response = Client().get("/readyz")
    assert response.status_code == 503
    model = response.json()["checks"]["model"]
    assert not model["ok"] and "ConnectError" in model["detail"]


def test_degraded_not_down_when_only_the_broker_is_unreachable(demo_kb_index: Path, settings: Any) -> None:
    from portal.celery import app

    settings.INDEX_DIR = demo_kb_index
    previous = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{_closed_port()}/0"
    try:
        response = Client().get("/readyz")
    finally:
        app.conf.broker_url = previous
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and not body["checks"]["broker"]["ok"]


def test_degraded_when_the_database_refuses_writes(demo_kb_index: Path, settings: Any) -> None:
    from django.db import connection

    settings.INDEX_DIR = demo_kb_index
    sql = "SET default_transaction_read_only = {}" if connection.vendor == "postgresql" else "PRAGMA query_only = {}"
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute(sql.format("on"))
    try:
        response = Client().get("/readyz")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(sql.format("off"))
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    writes = body["checks"]["database_writes"]
    assert not writes["ok"] and "read-only" in writes["detail"] and body["checks"]["database"]["ok"]


def test_degraded_when_the_shared_cache_is_unreachable(demo_kb_index: Path, settings: Any) -> None:
    settings.INDEX_DIR = demo_kb_index
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    assert not body["checks"]["cache"]["ok"]
