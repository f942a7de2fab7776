"""Request id, log formats, metric recording and who may read /metrics: fast, no model."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from prometheus_client import REGISTRY

from assistant.pipeline.context import AnswerContext
from assistant.pipeline.runner import pipeline_run
from assistant.types import StreamEvent
from portal.observability import celery_signals, metrics
from portal.observability.logs import JsonFormatter, TextFormatter
from portal.observability.request_id import (
    HEADER,
    RequestIdMiddleware,
    request_id_accept,
    request_id_bound,
    request_id_get,
    task_bound,
)
from portal.observability.views import metrics_allowed

ROOT = Path(__file__).resolve().parents[2]
logger = logging.getLogger("tests.observability")


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


# --- request id -----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["abcdefgh", "0f8e2a7c-1b2d-4c3e-9f00-123456789abc", "A" * 64])
def test_a_safe_incoming_request_id_is_kept(raw: str) -> None:
    assert request_id_accept(raw) == raw


@pytest.mark.parametrize(
    "raw", [None, "", "short", "A" * 65, "has space 123", "line\nbreak-123", "semi;colon12", "ünïcödé-123", "a_b_c_d_e"]
)
def test_anything_else_gets_a_fresh_id(raw: str | None) -> None:
    fresh = request_id_accept(raw)
    assert fresh != raw and len(fresh) == 32 and int(fresh, 16) >= 0
    assert request_id_accept(raw) != fresh  # a new one each time


def _view(request: HttpRequest) -> HttpResponse:
    logger.info("inside the view")
    return HttpResponse("ok")


def test_middleware_sets_the_id_for_the_logs_and_the_response(json_logs: io.StringIO) -> None:
    request = RequestFactory().get("/somewhere", headers={HEADER: "support-ticket-0042"})
    response = RequestIdMiddleware(_view)(request)
    assert isinstance(response, HttpResponse)
    assert response[HEADER] == "support-ticket-0042"
    lines = _lines(json_logs)
    view_line = next(line for line in lines if line["message"] == "inside the view")
    assert view_line["request_id"] == "support-ticket-0042"
    access = next(line for line in lines if line["logger"] == "portal.observability.request_id")
    assert access["request_id"] == "support-ticket-0042" and "GET /somewhere" in str(access["message"])


def test_middleware_replaces_an_unsafe_id() -> None:
    request = RequestFactory().get("/", headers={HEADER: "evil\r\nSet-Cookie: x=1"})
    response = RequestIdMiddleware(_view)(request)
    assert isinstance(response, HttpResponse)
    assert response[HEADER] != "evil\r\nSet-Cookie: x=1" and len(response[HEADER]) == 32


def test_middleware_works_in_async_mode_too(json_logs: io.StringIO) -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        logger.info("inside the async view")
        return HttpResponse("ok")

    middleware = RequestIdMiddleware(view)
    request = RequestFactory().get("/", headers={HEADER: "async-request-1"})
    # In a thread of its own: a browser test earlier in the run may leave an event loop in this one.
    result: dict[str, HttpResponse] = {}
    worker = threading.Thread(target=lambda: result.update(response=async_to_sync(middleware)(request)))  # type: ignore[arg-type]
    worker.start()
    worker.join(30)
    response = result["response"]
    assert response[HEADER] == "async-request-1"
    line = next(line for line in _lines(json_logs) if line["message"] == "inside the async view")
    assert line["request_id"] == "async-request-1"


def test_requests_are_counted_by_view_and_status() -> None:
    def busy(request: HttpRequest) -> HttpResponse:
        request.resolver_match = SimpleNamespace(view_name="ask")  # type: ignore[assignment]
        return HttpResponse(status=503)

    labels = {"method": "POST", "view": "ask", "status": "503"}
    before = _value("guichet_http_requests_total", labels)
    RequestIdMiddleware(busy)(RequestFactory().post("/ask/"))
    assert _value("guichet_http_requests_total", labels) == before + 1
    assert _value("guichet_http_request_duration_seconds_count", {"method": "POST", "view": "ask"}) >= 1
    unmatched = {"method": "GET", "view": "unmatched", "status": "200"}
    before = _value("guichet_http_requests_total", unmatched)
    RequestIdMiddleware(_view)(RequestFactory().get("/nowhere"))
    assert _value("guichet_http_requests_total", unmatched) == before + 1


# --- log formats ----------------------------------------------------------------------------------


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            exc_info = sys.exc_info()
    return logging.LogRecord("guichet.test", logging.WARNING, __file__, 1, message, args, exc_info)


def test_json_formatter_writes_one_object_per_line_with_the_request_id() -> None:
    with request_id_bound("json-test-0001"):
        out = JsonFormatter().format(_record("two\nlines %s", "here", exc=True))
    assert "\n" not in out
    entry = json.loads(out)
    assert {"time", "level", "logger", "message", "request_id", "exception"} <= set(entry)
    assert entry["message"] == "two\nlines here" and entry["level"] == "WARNING" and entry["logger"] == "guichet.test"
    assert entry["request_id"] == "json-test-0001"
    assert "RuntimeError: boom" in str(entry["exception"])
    assert str(entry["time"]).endswith("+00:00")


def test_json_formatter_names_the_celery_task() -> None:
    with request_id_bound("task-request-01"), task_bound("1234-abcd", "ingestion.tasks.ingest_path"):
        entry = json.loads(JsonFormatter().format(_record("working")))
    assert entry["task_id"] == "1234-abcd" and entry["task_name"] == "ingestion.tasks.ingest_path"
    assert "task_id" not in json.loads(JsonFormatter().format(_record("outside")))


def test_text_formatter_shows_the_request_id_or_a_dash() -> None:
    with request_id_bound("text-test-0001"):
        assert "[text-test-0001] hello" in TextFormatter().format(_record("hello"))
    with request_id_bound(""):
        assert "[-] hello" in TextFormatter().format(_record("hello"))


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be text or json"),
        ("METRICS_ALLOWED_NETWORKS", "127.0.0.1,not-a-network", "METRICS_ALLOWED_NETWORKS must be"),
    ],
)
def test_observability_settings_are_parsed_strictly(variable: str, value: str, message: str) -> None:
    env = {**os.environ, variable: value, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode != 0 and message in out.stderr


def test_json_logs_are_what_settings_configure() -> None:
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "portal.settings"}
    code = (
        "import django, logging; django.setup()\n"
        "from portal.observability.request_id import request_id_bound\n"
        "with request_id_bound('settings-check-1'): logging.getLogger('probe').warning('hello')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    entry = next(json.loads(line) for line in out.stderr.splitlines() if '"probe"' in line)
    assert entry["message"] == "hello" and entry["request_id"] == "settings-check-1"


# --- metrics --------------------------------------------------------------------------------------


def test_label_values_never_carry_free_text() -> None:
    before = _value("guichet_refusals_total", {"reason": "other"})
    metrics.refusal_record("Comment échanger mon permis de conduire ?")
    assert _value("guichet_refusals_total", {"reason": "other"}) == before + 1
    assert "permis" not in "\n".join(s.labels.get("reason", "") for m in REGISTRY.collect() for s in m.samples)


class _Step:
    def __init__(self, name: str, *, tokens: int = 0, abort: tuple[str, str] | None = None) -> None:
        self.name, self.tokens, self.stop = name, tokens, abort

    def __call__(self, ctx: AnswerContext) -> None:
        for _ in range(self.tokens):
            ctx.emit(StreamEvent("token", {"text": "x"}))
        if self.stop:
            ctx.abort(status=self.stop[0], reason=self.stop[1], reply="...")


def test_runner_records_steps_tokens_and_outcome() -> None:
    steps = (_Step("obs_first"), _Step("obs_generate", tokens=3))
    seen: list[StreamEvent] = []
    before_tokens = _value("guichet_answer_tokens_total", {"language": "lb"})
    ctx = AnswerContext(question="q", ui_language="lb", language="lb", emit=seen.append)
    ctx.status = "answered"
    pipeline_run(ctx=ctx, steps=steps)
    assert len(seen) == 3 and ctx.emit == seen.append  # events still reach the caller; emit restored
    assert _value("guichet_answer_tokens_total", {"language": "lb"}) == before_tokens + 3
    for name in ("obs_first", "obs_generate"):
        assert _value("guichet_pipeline_step_duration_seconds_count", {"step": name}) >= 1
    assert _value("guichet_answers_total", {"status": "answered", "reason": "none"}) >= 1
    assert _value("guichet_answers_in_progress") == 0


def test_runner_counts_a_refusal_by_reason_and_stops() -> None:
    before = _value("guichet_refusals_total", {"reason": "obs_reason"})
    ctx = AnswerContext(question="q", ui_language="en")
    pipeline_run(ctx=ctx, steps=(_Step("obs_check", abort=("rejected", "obs_reason")), _Step("obs_never")))
    assert _value("guichet_refusals_total", {"reason": "obs_reason"}) == before + 1
    assert _value("guichet_answers_total", {"status": "rejected", "reason": "obs_reason"}) >= 1
    assert _value("guichet_pipeline_step_duration_seconds_count", {"step": "obs_never"}) == 0
    assert ctx.metrics["obs_check"]["stopped"] == "obs_reason"


def test_a_run_kept_out_of_the_metrics_still_times_its_steps() -> None:
    ctx = AnswerContext(question="q", ui_language="en")
    pipeline_run(ctx=ctx, steps=(_Step("obs_unobserved"),), observe=False)
    assert "ms" in ctx.metrics["obs_unobserved"]
    assert _value("guichet_pipeline_step_duration_seconds_count", {"step": "obs_unobserved"}) == 0


def test_a_crashing_step_is_counted_as_an_internal_error() -> None:
    class Crash:
        name = "obs_crash"

        def __call__(self, ctx: AnswerContext) -> None:
            raise RuntimeError("bug")

    before = _value("guichet_answers_total", {"status": "failed", "reason": "internal_error"})
    with pytest.raises(RuntimeError):
        pipeline_run(ctx=AnswerContext(question="q", ui_language="en"), steps=(Crash(),))
    assert _value("guichet_answers_total", {"status": "failed", "reason": "internal_error"}) == before + 1
    assert _value("guichet_pipeline_step_duration_seconds_count", {"step": "obs_crash"}) == 1
    assert _value("guichet_answers_in_progress") == 0


def test_queue_depth_is_sampled_from_the_model_queue() -> None:
    metrics.queue_depth_sample(lambda: 4)
    assert _value("guichet_llm_queue_depth") == 4
    metrics.queue_depth_sample(lambda: None)  # a model server: no queue here
    assert _value("guichet_llm_queue_depth") == 0


# --- who may read /metrics ------------------------------------------------------------------------


def _metrics_request(address: str, **headers: str) -> HttpRequest:
    return RequestFactory().get("/metrics", REMOTE_ADDR=address, headers=headers)


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"])
def test_loopback_may_read_metrics(address: str) -> None:
    assert metrics_allowed(_metrics_request(address))


@pytest.mark.parametrize("address", ["203.0.113.7", "10.0.0.5", "2001:db8::1", "", "garbage"])
def test_other_addresses_may_not(address: str) -> None:
    assert not metrics_allowed(_metrics_request(address))


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_a_request_relayed_by_a_proxy_is_not_trusted_by_address(header: str) -> None:
    assert not metrics_allowed(_metrics_request("127.0.0.1", **{header: "203.0.113.7"}))


@override_settings(METRICS_ALLOWED_NETWORKS=[])
def test_the_token_admits_a_scraper_from_anywhere() -> None:
    with override_settings(METRICS_TOKEN="a-long-scrape-token"):
        assert metrics_allowed(_metrics_request("203.0.113.7", Authorization="Bearer a-long-scrape-token"))
        assert not metrics_allowed(_metrics_request("203.0.113.7", Authorization="Bearer wrong-token"))
        assert not metrics_allowed(_metrics_request("203.0.113.7", Authorization="Basic a-long-scrape-token"))
    # No token configured: an empty bearer never matches.
    assert not metrics_allowed(_metrics_request("203.0.113.7", Authorization="Bearer "))


def test_allowed_networks_are_configurable() -> None:
    import ipaddress

    with override_settings(METRICS_ALLOWED_NETWORKS=[ipaddress.ip_network("10.0.0.0/8")]):
        assert metrics_allowed(_metrics_request("10.1.2.3"))
        assert not metrics_allowed(_metrics_request("127.0.0.1"))


# --- Celery ---------------------------------------------------------------------------------------


def test_a_task_published_during_a_request_carries_its_id() -> None:
    headers: dict[str, object] = {}
    with request_id_bound("publish-test-01"):
        celery_signals._request_id_publish(headers=headers)
    assert headers[celery_signals.HEADER] == "publish-test-01"
    outside: dict[str, object] = {}
    with request_id_bound(""):
        celery_signals._request_id_publish(headers=outside)
    assert outside == {}


def test_the_worker_binds_the_incoming_id_or_the_task_id(json_logs: io.StringIO) -> None:
    task_id = "7d0c51a2-2f1e-4a43-a0f8-0d3c5a4c9b11"
    for incoming, expected in (("from-the-web-01", "from-the-web-01"), ("bad id", None), (None, task_id)):
        task = SimpleNamespace(name="obs.task", request=SimpleNamespace(**{celery_signals.HEADER: incoming}))
        with request_id_bound("outer-context-1"):
            celery_signals._request_id_bind(task_id=task_id, task=task)
            bound = request_id_get()
            logger.info("in the task")
            celery_signals._request_id_release(task_id=task_id, task=task, state="SUCCESS")
            assert request_id_get() == "outer-context-1"  # restored after the task
        assert bound == expected if expected else (len(bound) == 32 and bound != "bad id")
    in_task = [line for line in _lines(json_logs) if line["message"] == "in the task"]
    assert [line["task_name"] for line in in_task] == ["obs.task"] * 3
    assert in_task[0]["request_id"] == "from-the-web-01" and in_task[2]["request_id"] == task_id
