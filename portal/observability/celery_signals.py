"""The request id crosses into Celery: a task published during a request carries it in a message header,
and the worker binds it while the task runs, so the worker's log lines carry the same id.

A task published outside any request (Celery beat, a command) gets its own task id as request id.
The worker's log handlers get the request-id filter and the ``LOG_FORMAT`` formatter too: Celery sets
up its own handlers in the worker, so Django's LOGGING alone would not reach them.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack, suppress
from typing import Any

from celery import signals

from portal.observability.request_id import (
    RequestIdFilter,
    request_id_accept,
    request_id_bound,
    request_id_get,
    request_id_new,
    task_bound,
)

HEADER = "guichet_request_id"

logger = logging.getLogger(__name__)
# task id -> (what restores the context after the task, start time)
_running: dict[str, tuple[ExitStack, float]] = {}


@signals.before_task_publish.connect(weak=False)
def _request_id_publish(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    request_id = request_id_get()
    if request_id and headers is not None:
        headers.setdefault(HEADER, request_id)


def _incoming(task: Any, task_id: str) -> str:
    request = getattr(task, "request", None)
    raw = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER)
    if isinstance(raw, str) and raw:
        return request_id_accept(raw)
    return request_id_accept(task_id) if task_id else request_id_new()


@signals.task_prerun.connect(weak=False)
def _request_id_bind(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    name = str(getattr(task, "name", "") or "")
    bound = ExitStack()
    bound.enter_context(request_id_bound(_incoming(task, task_id)))
    bound.enter_context(task_bound(task_id, name))
    _running[task_id] = (bound, time.perf_counter())
    logger.info("task %s started", name)


@signals.task_postrun.connect(weak=False)
def _request_id_release(task_id: str = "", task: Any = None, state: str | None = None, **kwargs: Any) -> None:
    bound, started = _running.pop(task_id, (ExitStack(), time.perf_counter()))
    logger.info(
        "task %s finished: %s in %.0fms",
        getattr(task, "name", ""),
        state or "unknown",
        (time.perf_counter() - started) * 1000,
    )
    with suppress(ValueError):  # prerun ran in another context (a pool that switches them): nothing to restore
        bound.close()


def _handlers_adopt(logger: logging.Logger | None = None, **kwargs: Any) -> None:
    """Celery's worker handlers get the request-id filter and the LOG_FORMAT formatter, like the web's."""
    from django.conf import settings

    from portal.observability.logs import formatter_for

    if logger is None:
        return
    for handler in logger.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        handler.setFormatter(formatter_for(getattr(settings, "LOG_FORMAT", "text")))


signals.after_setup_logger.connect(_handlers_adopt, weak=False)
signals.after_setup_task_logger.connect(_handlers_adopt, weak=False)
