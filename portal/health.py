"""Health of the service and of each dependency, for load balancers and operators.

``/healthz`` (liveness) says the process answers; it checks nothing else, so a dead dependency
never gets healthy web processes restarted in a loop. ``/readyz`` (readiness) checks each
dependency with a short timeout: the database, the index and the model are required to answer
citizens; the broker only carries background work, a read-only database still lets answers be shown
(not stored) and a dead cache only lifts the rate limits, so without those the service is degraded,
not down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from django.conf import settings
from django.db import connection

from assistant.circuit import circuit_breaker

CHECK_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    required: bool
    ms: float

    def public(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, "required": self.required, "ms": round(self.ms, 1)}


def _database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def _database_writes() -> str:
    """A database that answers but refuses writes (a replica, a full disk, read-only mode) loses questions."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A standby reports the first; a database or role set read-only by an operator the second.
            cursor.execute(
                "SELECT current_setting('transaction_read_only'), current_setting('default_transaction_read_only')"
            )
            read_only = "on" in {str(value).lower() for value in cursor.fetchone()}
        elif connection.vendor == "sqlite":
            cursor.execute("PRAGMA query_only")
            read_only = bool(cursor.fetchone()[0])
        else:
            return f"{connection.vendor}: not checked"
    if read_only:
        raise PermissionError("the database is read-only: answers are shown but not stored")
    return "writable"


def _cache() -> str:
    """The shared cache holds rate limits and pending-question claims; without it they fail open."""
    from django.core.cache import cache

    key = "readyz-probe"
    cache.set(key, "1", timeout=10)
    if cache.get(key) != "1":
        raise RuntimeError("the cache does not keep what it is given")
    return type(cache).__name__


def _index() -> str:
    from assistant.embedder import index_embedding
    from assistant.vector_index import get_index

    index = get_index()
    generation, points = index.live_points()
    if points == 0:
        raise RuntimeError(f"live generation {generation} is empty")
    # Vectors of another model or backend than the one queries are embedded with: every answer would
    # fail (retrieval refuses to compare them), so the instance is not ready until a rebuild.
    embedding = index_embedding(index=index)
    if embedding.built_with is not None and embedding.needs_rebuild:
        raise RuntimeError(embedding.describe().replace("\n", " "))
    return f"{generation}: {points} points, embedded by {embedding.built_with or 'an unrecorded embedder'}"


def _model() -> str:
    if settings.LLM_BASE_URL:
        response = httpx.get(f"{settings.LLM_BASE_URL.rstrip('/')}/models", timeout=CHECK_TIMEOUT_S)
        response.raise_for_status()
        return f"server {settings.LLM_BASE_URL} answers"
    path = settings.LLM_MODEL_PATH
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}: run `manage.py fetch_model`")
    return f"{path.name} ({path.stat().st_size // 1_000_000} MB)"


def _broker() -> str:
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_S)
        return conn.transport_cls if isinstance(conn.transport_cls, str) else type(conn.transport).__name__


CHECKS: tuple[tuple[str, Callable[[], str], bool], ...] = (
    ("database", _database, True),
    ("database_writes", _database_writes, False),
    ("cache", _cache, False),
    ("index", _index, True),
    ("model", _model, True),
    ("broker", _broker, False),
)

# Checks whose dependency answers go through a circuit breaker of the same name.
BREAKERS = ("index", "model")


def readiness_checks() -> list[Check]:
    breakers = {name: circuit_breaker(name).state for name in BREAKERS}
    results = []
    for name, probe, required in CHECKS:
        started = time.perf_counter()
        try:
            detail, ok = probe(), True
        except Exception as exc:  # every failure of a dependency is a "not ready" answer, never a 500
            detail, ok = f"{type(exc).__name__}: {exc}"[:300], False
        if name in breakers:  # an open breaker means answers skip this dependency for now
            detail = f"{detail}; breaker {breakers[name]}"
        results.append(Check(name, ok, detail, required, (time.perf_counter() - started) * 1000))
    return results


def readiness_status(checks: list[Check]) -> str:
    if any(c.required and not c.ok for c in checks):
        return "unavailable"
    return "degraded" if any(not c.ok for c in checks) else "ok"
