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
    yield from _worker(request.param, tmp_path)


@pytest.fixture
def sqlite_worker(tmp_path: Path) -> Iterator[tuple[Celery, Path]]:
    yield from _worker("sqlite", tmp_path)


def _worker(kind: str, tmp_path: Path) -> Iterator[tuple[Celery, Path]]:
    broker, backend = _broker_urls(kind, tmp_path)
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
    # Not the current app: shared tasks in later tests must keep publishing through the project's app.
    client = Celery("test-client", broker=broker, backend=backend, set_as_current=False)
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


def _copy_demo_kb(folder: Path, suffix: str = "") -> None:
    folder.mkdir(exist_ok=True)
    for page in sorted(settings.DEMO_KB_DIR.glob("*.md")):
        (folder / page.name).write_text(page.read_text() + suffix)


@pytest.mark.django_db
def test_questions_keep_being_answered_while_a_worker_rebuilds(sqlite_worker: tuple[Celery, Path]) -> None:
    """The web process queries the live generation during a full re-ingestion in a worker process."""
    from assistant.retrieval import retrieve
    from assistant.vector_index import EdgeIndex

    client, tmp = sqlite_worker
    folder = tmp / "kb"
    _copy_demo_kb(folder)
    first = client.send_task("ingestion.tasks.ingest_path", kwargs={"path": str(folder)}).get(timeout=300)
    assert first["status"] == "succeeded" and first["points"]
    index = EdgeIndex(tmp / "index")  # the web process's reader of the same index root
    questions = [("How do I exchange my foreign driving licence?", "en"), ("Wie beantrage ich Kindergeld?", "de")]
    assert retrieve(question=questions[0][0], language="en", index=index).kept  # warm: model loaded, shard open

    # Every page changes: every chunk is re-embedded, so the rebuild takes a while.
    _copy_demo_kb(folder, suffix="\n\nUpdated after the annual review of this procedure.\n")
    pending = client.send_task("ingestion.tasks.ingest_path", kwargs={"path": str(folder)})
    observed: list[tuple[str, int]] = []  # (generation, points) as the web process saw them
    answered = 0
    while not pending.ready():
        for question, language in questions:
            result = retrieve(question=question, language=language, index=index)
            assert result.kept, "a question found nothing while the index was being rebuilt"
            answered += 1
        observed.append(index.live_points())
    second = pending.get(timeout=10)
    assert second["status"] == "succeeded" and second["changed"] == first["added"]
    assert answered >= 2 and first["generation"] in {g for g, _ in observed}  # queries ran during the rebuild
    complete = {first["generation"]: first["points"], second["generation"]: second["points"]}
    assert all(complete.get(generation) == points for generation, points in observed)  # never a half-built one
    assert index.current_generation() == second["generation"] and index.count() == second["points"]
    with sqlite3.connect(tmp / "db.sqlite3") as db:
        sql = "select count(distinct document_id) from ingestion_chunk where text like '%annual review%'"
        updated = db.execute(sql).fetchone()[0]
    assert updated == first["added"]  # every page's new text is what the live generation was built from


def test_unpublishing_reaches_answers_through_the_worker(sqlite_worker: tuple[Celery, Path]) -> None:
    """An editor's unpublish is committed, then the refresh task on the worker rebuilds without it."""
    from assistant.retrieval import retrieve
    from assistant.vector_index import EdgeIndex

    client, tmp = sqlite_worker
    folder = tmp / "kb"
    _copy_demo_kb(folder)
    client.send_task("ingestion.tasks.ingest_path", kwargs={"path": str(folder)}).get(timeout=300)
    index = EdgeIndex(tmp / "index")
    question = "How do I exchange my foreign driving licence?"
    assert retrieve(question=question, language="en", index=index).kept[0].document_key == "driving-licence-exchange.en"

    with sqlite3.connect(tmp / "db.sqlite3") as db:
        db.execute("update ingestion_document set status = 'draft' where procedure = 'driving-licence-exchange'")
    report = client.send_task("ingestion.tasks.index_refresh").get(timeout=120)

    assert report["status"] == "succeeded" and index.current_generation() == report["generation"]
    kept = retrieve(question=question, language="en", index=index).kept
    assert "driving-licence-exchange" not in {c.procedure for c in kept}
