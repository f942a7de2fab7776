"""A real Celery worker process runs the ingestion task, over Redis and over the embedded SQLite broker."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings

from tests.services import require_redis

ROOT = Path(__file__).resolve().parents[2]


def _broker_urls(kind: str, tmp: Path) -> tuple[str, str]:
    if kind == "redis":
        require_redis()
        return "redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/14"
    return f"sqla+sqlite:///{tmp / 'broker.sqlite3'}", f"db+sqlite:///{tmp / 'results.sqlite3'}"


@pytest.fixture(params=["redis", "sqlite"])
def worker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Celery, Path]]:
    broker, backend = _broker_urls(request.param, tmp_path)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "INDEX_DIR": str(tmp_path / "index"),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": backend,
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=WARNING"],
        cwd=ROOT,
        env=env,
    )
    client = Celery("test-client", broker=broker, backend=backend)
    try:
        yield client, tmp_path
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ingestion_task_runs_on_a_real_worker(worker: tuple[Celery, Path]) -> None:
    client, tmp = worker
    folder = tmp / "kb"
    folder.mkdir()
    for name in ("tax-class.fr.md", "tax-class.de.md"):
        shutil.copy(settings.DEMO_KB_DIR / name, folder / name)

    result = client.send_task("ingestion.tasks.ingest_path", kwargs={"path": str(folder)})
    report = result.get(timeout=240)

    assert report["added"] == 2 and report["failed"] == 0
    assert report["points"] and report["generation"]
    assert (tmp / "index" / "CURRENT").read_text() == report["generation"]
    with sqlite3.connect(tmp / "db.sqlite3") as db:
        keys = {row[0] for row in db.execute("select key from ingestion_document")}
    assert keys == {"tax-class.fr", "tax-class.de"}
