"""One id per request, carried by a context variable into every log record, the answer thread and Celery tasks.

An incoming ``X-Request-ID`` (set by the reverse proxy, say) is kept only when it is a plain token
(``[A-Za-z0-9-]{8,64}``); anything else, or nothing, gets a fresh id. The id goes back in the
response's ``X-Request-ID`` header, so a citizen's support request can quote it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from portal.observability import metrics

HEADER = "X-Request-ID"
_SAFE = re.compile(r"[A-Za-z0-9-]{8,64}")
# Empty outside a request or a task.
_request_id: ContextVar[str] = ContextVar("guichet_request_id", default="")
# (task id, task name) while a Celery task runs in this context.
_task: ContextVar[tuple[str, str] | None] = ContextVar("guichet_task", default=None)

logger = logging.getLogger(__name__)


def request_id_get() -> str:
    """The current request's (or task's) id, or "" outside one."""
    return _request_id.get()


def request_id_new() -> str:
    return uuid.uuid4().hex


def request_id_accept(raw: str | None) -> str:
    """``raw`` when it is a safe token, else a fresh id: a header never puts arbitrary text in the logs."""
    return raw if raw and _SAFE.fullmatch(raw) else request_id_new()


def request_id_set(value: str) -> None:
    """Set the id for the rest of this context (a request: the context dies with it)."""
    _request_id.set(value)


@contextmanager
def request_id_bound(value: str) -> Iterator[str]:
    """The id of everything done inside the block (an answer thread, a task), restored after it."""
    token = _request_id.set(value)
    try:
        yield value
    finally:
        _request_id.reset(token)


@contextmanager
def task_bound(task_id: str, task_name: str) -> Iterator[None]:
    token = _task.set((task_id, task_name))
    try:
        yield
    finally:
        _task.reset(token)


def task_get() -> tuple[str, str] | None:
    return _task.get()


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside a request) and, inside a Celery task, ``task_id`` and ``task_name``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _request_id.get() or "-"
        task = _task.get()
        if task is not None and not hasattr(record, "task_id"):
            record.task_id, record.task_name = task
        return True


def _view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name or "other") if match is not None else "unmatched"


class RequestIdMiddleware:
    """First in MIDDLEWARE: sets the request id, then records the request (counter, latency, access log).

    The duration is the time until the response starts: a streamed answer's own duration is
    ``guichet_stream_duration_seconds``. The access log line has the method, the path without its
    query string, the view, the status and the time, never a body (questions are POSTed).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self._async:
            return self._acall(request)
        started = self._before(request)
        response = self.get_response(request)
        assert isinstance(response, HttpResponseBase)
        return self._after(request, response, started)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        started = self._before(request)
        response = await self.get_response(request)  # type: ignore[misc]
        return self._after(request, response, started)

    @staticmethod
    def _before(request: HttpRequest) -> float:
        request_id_set(request_id_accept(request.headers.get(HEADER)))
        return time.perf_counter()

    @staticmethod
    def _after(request: HttpRequest, response: HttpResponseBase, started: float) -> HttpResponseBase:
        seconds = time.perf_counter() - started
        response[HEADER] = request_id_get()
        view = _view_name(request)
        metrics.http_request_record(
            method=request.method or "", view=view, status=response.status_code, seconds=seconds
        )
        logger.info("%s %s %s %s %.0fms", request.method, request.path, view, response.status_code, seconds * 1000)
        return response
