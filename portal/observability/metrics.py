"""The Prometheus metrics of the assistant, and the small functions that record them.

Every label value comes from the code (view names, step names, statuses, reasons), never from a
citizen: ``_label`` turns anything unexpected into ``other``, so no question text can become a
label and no label can grow without bound. In multi-process mode (``PROMETHEUS_MULTIPROC_DIR``)
the gauges are summed over the live processes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

_LABEL = re.compile(r"[a-z0-9_:.-]{1,60}")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# Statuses of an answer that are refusals: the question was not answered on purpose, for a reason.
REFUSAL_STATUSES = frozenset({"rejected", "declined"})

# Seconds. Requests and steps are short or take as long as the model does (CPU: tens of seconds).
_FAST_TO_SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
_STREAM = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)

HTTP_REQUESTS = Counter(
    "guichet_http_requests_total", "HTTP requests answered, by method, view name and status code.",
    ["method", "view", "status"],
)  # fmt: skip
HTTP_SECONDS = Histogram(
    "guichet_http_request_duration_seconds", "Time until the response starts (a stream's own length is separate).",
    ["method", "view"], buckets=_FAST_TO_SLOW,
)  # fmt: skip
STREAM_SECONDS = Histogram(
    "guichet_stream_duration_seconds",
    "Length of a streamed answer (server-sent events), by how it ended: complete, error or client_gone.",
    ["outcome"], buckets=_STREAM,
)  # fmt: skip
STREAMS_ACTIVE = Gauge("guichet_streams_active", "Answers being streamed now.", multiprocess_mode="livesum")
QUEUE_DEPTH = Gauge(
    "guichet_llm_queue_depth",
    "Questions waiting for the in-process model (sampled at each step, stream event and scrape).",
    multiprocess_mode="livesum",
)
ANSWERS_ACTIVE = Gauge("guichet_answers_in_progress", "Answer pipelines running now.", multiprocess_mode="livesum")
STEP_SECONDS = Histogram(
    "guichet_pipeline_step_duration_seconds", "Time spent in each answer step.", ["step"], buckets=_FAST_TO_SLOW
)
ANSWERS = Counter(
    "guichet_answers_total", "Answers by final status and reason (reason none when answered).", ["status", "reason"]
)
REFUSALS = Counter(
    "guichet_refusals_total",
    "Questions refused on purpose, by reason (empty, too_long, personal_data, injection, below_threshold, "
    "no_candidates, model_found_no_answer, ...).",
    ["reason"],
)
TOKENS = Counter("guichet_answer_tokens_total", "Token events streamed to citizens, by answer language.", ["language"])
FIRST_TOKEN_SECONDS = Histogram(
    "guichet_answer_first_token_seconds", "Time from the start of generation to the model's first token.",
    buckets=_FAST_TO_SLOW,
)  # fmt: skip


def _label(value: str) -> str:
    if not value:
        return "none"
    return value if _LABEL.fullmatch(value) else "other"


def http_request_record(*, method: str, view: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "other"
    view = _label(view)
    HTTP_REQUESTS.labels(method, view, str(status)).inc()
    HTTP_SECONDS.labels(method, view).observe(seconds)


def refusal_record(reason: str) -> None:
    REFUSALS.labels(_label(reason)).inc()


def step_record(step: str, seconds: float) -> None:
    STEP_SECONDS.labels(_label(step)).observe(seconds)


def answer_record(*, status: str, reason: str, first_token_ms: float | None) -> None:
    reason = reason if status != "answered" else ""
    ANSWERS.labels(_label(status), _label(reason)).inc()
    if status in REFUSAL_STATUSES:
        refusal_record(reason)
    if first_token_ms is not None:
        FIRST_TOKEN_SECONDS.observe(first_token_ms / 1000)


def tokens_record(language: str, count: int = 1) -> None:
    TOKENS.labels(_label(language)).inc(count)


def stream_record(*, outcome: str, seconds: float) -> None:
    STREAM_SECONDS.labels(_label(outcome)).observe(seconds)


@contextmanager
def answer_in_progress() -> Iterator[None]:
    ANSWERS_ACTIVE.inc()
    try:
        yield
    finally:
        ANSWERS_ACTIVE.dec()


@contextmanager
def stream_in_progress() -> Iterator[None]:
    STREAMS_ACTIVE.inc()
    try:
        yield
    finally:
        STREAMS_ACTIVE.dec()


def _waiting_now() -> int | None:
    """Questions waiting for this process's model, or None when it has no queue (a model server) or no model yet."""
    from assistant.llm import get_llm

    if not get_llm.cache_info().currsize:
        return None  # never build the model (nor read settings) just to sample its queue
    waiting = getattr(get_llm(), "waiting", None)
    return waiting if isinstance(waiting, int) else None


def queue_depth_sample(waiting: Callable[[], int | None] = _waiting_now) -> None:
    depth = waiting()
    QUEUE_DEPTH.set(depth or 0)
