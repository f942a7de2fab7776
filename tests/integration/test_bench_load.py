"""The load run, small: the real embedded stack (runstack: uvicorn web with llama.cpp, Celery worker, beat)
on loopback with an isolated database and index, two citizens for a few seconds through the chat's protocol.

No timing is asserted (figures belong to `make load`); what must hold at any load: no 5xx, no error,
every accepted question stored with a final status, /healthz answering throughout.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.real_model


def test_two_citizens_get_streamed_answers_and_no_question_is_lost(tmp_path: Path) -> None:
    from django.conf import settings

    from bench.load import LoadConfig, Question, bench_keys, load_run

    if not settings.LLM_MODEL_PATH.exists():
        pytest.skip("no model file: run `manage.py fetch_model --offline`")
    questions = [
        Question("en", "Which documents do I need to register a newborn?"),
        Question("fr", "Comment obtenir un certificat de résidence auprès de ma commune ?"),
        Question("de", "Was kostet ein Strafregisterauszug?"),
        Question("lb", "Wat kascht et, e Bulletin N°3 ze froen?"),
    ]
    config = LoadConfig(users=2, duration_s=4.0, think_s=(0.2, 0.5), health_interval_s=0.2)
    # Short answers and a tiny queue: the run stays short and the "busy" path is taken by design.
    overrides = {"LLM_MAX_TOKENS": "24", "LLM_MAX_QUEUE": "1", "LLM_MODEL_PATH": str(settings.LLM_MODEL_PATH)}
    # In a thread of its own: the driver runs asyncio.run(), and a browser test earlier in the run may
    # leave an event loop in this thread.
    result: dict[str, Any] = {}

    def drive() -> None:
        result["report"] = load_run(work=tmp_path, config=config, questions=questions, overrides=overrides, warm_up=1)

    worker = threading.Thread(target=drive)
    worker.start()
    worker.join(900)
    report: dict[str, Any] = result["report"]

    assert report["idle"]["warm_up_outcomes"] == ["answered"], report["idle"]
    assert report["http_5xx"] == 0, report["error_details"]
    assert report["errors"] == 0, report["error_details"]
    assert report["lost_questions"] == 0, report["db_answers"]
    assert report["accepted"] >= 1 and report["answers_completed"] == report["accepted"]
    db = report["db_answers"]
    assert isinstance(db, dict) and db["final"] == report["accepted"] and db["done_events_not_matching_row"] == 0
    assert report["server_log_tracebacks"] == 0
    health = report["healthz"]
    assert isinstance(health, dict) and health["polls"] > 0 and health["non_200"] == 0
    memory = report["memory_mb"]
    assert isinstance(memory, dict) and memory["web_load_peak"] > 0 and memory["worker_load_peak"] > 0
    keys = bench_keys(report)
    assert keys["load_5xx"] == 0 and keys["load_lost_questions"] == 0 and keys["healthz_p99_ms"] is not None
    for outcome in report["questions"]:
        assert outcome["outcome"] in {"answered", "busy", "rate_limited", "pending"}, outcome
        if outcome["outcome"] == "busy":
            assert outcome["http_status"] == 503 and outcome["retry_after_s"]
