"""Observability on the real app: /metrics after real questions (real index, embedder and llama.cpp), who may
read it, logs that carry the request id and never a question, and the request id in a real Celery worker."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from celery import Celery
from django.test import AsyncClient, Client
from prometheus_client.parser import text_string_to_metric_families

from portal.observability.request_id import request_id_bound

ROOT = Path(__file__).resolve().parents[2]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(client: Client | None = None, **extra: str) -> Samples:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _ask_streaming(question: str, *, request_id: str) -> tuple[dict[str, str], list[str]]:
    client = AsyncClient()
    response = await client.post(
        "/ask/",
        {"question": question, "ui_language": "fr"},
        headers={"Accept": "text/event-stream", "X-Request-ID": request_id},
    )
    assert response.status_code == 200
    body = b"".join([part async for part in response.streaming_content]).decode()
    kinds = [line.removeprefix("event: ") for line in body.splitlines() if line.startswith("event: ")]
    return dict(response.items()), kinds


@pytest.mark.real_model
@pytest.mark.django_db(transaction=True)
def test_metrics_after_real_questions(demo_kb_index: Path, settings: object) -> None:
    from ingestion.runs import RunTally, run_finish, run_start

    settings.LLM_MAX_TOKENS = 64  # type: ignore[attr-defined]  # enough tokens to count, quick on CPU
    before = _scrape()

    headers, kinds = async_to_sync(_ask_streaming)(
        "Comment échanger mon permis de conduire étranger ?", request_id="metrics-e2e-0001"
    )
    assert headers["X-Request-ID"] == "metrics-e2e-0001"
    assert kinds[0] == "sources" and "token" in kinds and kinds[-1] == "done"
    refused = Client().post(
        "/ask/", {"question": "Mon e-mail est jean.dupont@example.lu, comment changer d'adresse ?", "ui_language": "fr"}
    )
    assert refused.status_code == 200  # the answer page, saying why the question was refused
    # An ingestion run, as the worker records it (the figures come from the database at scrape time).
    tally = RunTally(added=[{"key": "k"}, {"key": "l"}], failed=[{"where": "w", "error": "timeout"}])
    run_finish(run=run_start(trigger="cli", sources=[]), tally=tally)

    after = _scrape()

    def grew(name: str, by: float = 1, **labels: str) -> bool:
        return _get(after, name, **labels) - _get(before, name, **labels) >= by

    for step in ("input", "language", "injection", "route", "retrieval", "generation"):
        assert grew("guichet_pipeline_step_duration_seconds_count", step=step), step
    assert _get(after, "guichet_pipeline_step_duration_seconds_bucket", step="generation", le="+Inf") >= 1
    assert grew("guichet_refusals_total", reason="personal_data")
    assert grew("guichet_answer_tokens_total", by=5, language="fr")
    assert grew("guichet_answer_first_token_seconds_count")
    assert grew("guichet_http_requests_total", by=2, method="POST", view="ask", status="200")
    assert grew("guichet_http_request_duration_seconds_count", by=2, method="POST", view="ask")
    assert grew("guichet_stream_duration_seconds_count", outcome="complete")
    assert grew("guichet_answers_total", status="rejected", reason="personal_data")
    assert ("guichet_llm_queue_depth", frozenset()) in after
    assert _get(after, "guichet_answers_in_progress") == 0 and _get(after, "guichet_streams_active") == 0
    assert grew("guichet_ingestion_runs_total", trigger="cli", status="succeeded")
    assert grew("guichet_ingestion_documents_total", by=2, outcome="added")
    assert grew("guichet_ingestion_documents_total", outcome="failed")
    assert _get(after, "guichet_ingestion_last_finished_timestamp_seconds", status="succeeded") > 0
    # No label holds a question.
    assert not any("permis" in value or "example.lu" in value for _, labels in after for _, value in labels)


@pytest.mark.django_db
def test_metrics_are_refused_to_other_clients(settings: object) -> None:
    outside = Client(REMOTE_ADDR="203.0.113.7")
    assert outside.get("/metrics").status_code == 403
    relayed = Client(headers={"X-Forwarded-For": "203.0.113.7"})  # a local reverse proxy relaying a citizen
    assert relayed.get("/metrics").status_code == 403
    assert Client().post("/metrics").status_code == 405

    settings.METRICS_TOKEN = "scrape-token-for-the-test"  # type: ignore[attr-defined]
    assert outside.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    samples = _scrape(outside, HTTP_AUTHORIZATION="Bearer scrape-token-for-the-test")
    assert ("guichet_llm_queue_depth", frozenset()) in samples
    assert Client().get("/metrics")["Cache-Control"].startswith("max-age=0")


@pytest.mark.real_model
@pytest.mark.django_db(transaction=True)
def test_logs_carry_the_request_id_and_never_the_question(
    demo_kb_index: Path, settings: object, json_logs: io.StringIO
) -> None:
    settings.LLM_MAX_TOKENS = 48  # type: ignore[attr-defined]
    question = "Wéi deklaréieren ech d'Gebuert vun engem Kand?"
    headers, kinds = async_to_sync(_ask_streaming)(question, request_id="logs-e2e-0001")
    assert headers["X-Request-ID"] == "logs-e2e-0001" and kinds[-1] == "done"
    personal = "My e-mail is jane.doe@example.lu and my IBAN LU28 0019 4006 4475 0000: how do I register a birth?"
    response = Client().post("/ask/", {"question": personal, "ui_language": "en"}, headers={"X-Request-ID": "x y"})
    assert response.status_code == 200
    generated = response["X-Request-ID"]
    assert generated != "x y" and len(generated) == 32

    output = json_logs.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]  # every line is one JSON object
    assert lines and all({"time", "level", "logger", "message", "request_id"} <= set(line) for line in lines)
    for secret in (question, "Gebuert vun engem Kand", "jane.doe@example.lu", "LU28", "register a birth"):
        assert secret.lower() not in output.lower(), f"{secret!r} was logged"
    ours = {line["logger"] for line in lines if line["request_id"] == "logs-e2e-0001"}
    # The access line (web), the answer's line (the answer thread) and the end of the stream all carry it.
    assert {"portal.observability.request_id", "assistant.pipeline.runner", "portal.streaming"} <= ours
    refusal = [line for line in lines if line["request_id"] == generated and line["logger"].startswith("assistant")]
    assert refusal and "rejected (personal_data)" in str(refusal[0]["message"])


# --- Celery ---------------------------------------------------------------------------------------


@pytest.fixture
def json_worker(tmp_path: Path) -> Iterator[tuple[Celery, Path]]:
    """A real worker process on the SQLite broker, logging JSON to a file."""
    broker, backend = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}", f"db+sqlite:///{tmp_path / 'results.sqlite3'}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "INDEX_DIR": str(tmp_path / "index"),
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": backend,
        "LOG_FORMAT": "json",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    log = tmp_path / "worker.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=INFO"],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    client = Celery("test-client", broker=broker, backend=backend, set_as_current=False)
    try:
        yield client, log
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_worker_logs_with_the_request_id_of_the_request_that_queued_the_task(
    json_worker: tuple[Celery, Path],
) -> None:
    client, log = json_worker
    task = "assistant.tasks.conversations_purge_daily"
    with request_id_bound("celery-e2e-0001"):  # as in a web request: the publish signal adds the header
        from_request = client.send_task(task)
    assert from_request.get(timeout=120) == 0
    with request_id_bound(""):  # beat, a command: no request
        from_beat = client.send_task(task)
    assert from_beat.get(timeout=60) == 0

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("request_id") == "celery-e2e-0001"]
    messages = [str(line["message"]) for line in ours]
    assert any(m.startswith(f"task {task} started") for m in messages), lines[-10:]
    assert any(m.startswith(f"task {task} finished: SUCCESS") for m in messages)
    assert {line.get("task_id") for line in ours} == {from_request.id}
    assert all(line["task_name"] == task for line in ours)
    # A task queued outside a request is followed by its own task id.
    assert any(line.get("request_id") == from_beat.id for line in lines)
