"""Server-sent events from a synchronous answer pipeline, without holding the event loop."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable

from django.db import connections
from django.utils import translation
from django.utils.translation import gettext as _

from assistant.types import StreamEvent
from portal.observability import metrics
from portal.observability.request_id import request_id_bound, request_id_get

logger = logging.getLogger(__name__)

Emit = Callable[[StreamEvent], None]
Work = Callable[[Emit, Callable[[], bool]], None]


def sse_format(event: StreamEvent) -> bytes:
    payload = json.dumps(event.data, ensure_ascii=False)
    return f"event: {event.kind}\ndata: {payload}\n\n".encode()


def error_event(language: str) -> StreamEvent:
    with translation.override(language):
        message = _("Something went wrong on our side. Please try again, or contact the Guichet helpdesk.")
    return StreamEvent("error", {"message": message})


def event_stream(work: Work, *, language: str) -> AsyncIterator[bytes]:
    """Run ``work`` in a thread; yield each event it emits as soon as it is emitted.

    When the client goes away the generator is closed, and ``work`` sees ``cancelled()`` turn true.
    The request id is taken now, in the view, and bound in the answer thread, whose log lines carry it.
    """
    return _events(work, language=language, request_id=request_id_get())


async def _events(work: Work, *, language: str, request_id: str) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
    cancel = threading.Event()
    failed = threading.Event()

    def emit(event: StreamEvent) -> None:
        if event.kind != "token":
            metrics.queue_depth_sample()  # queue positions change between events, not between tokens
        loop.call_soon_threadsafe(queue.put_nowait, event)

    def run() -> None:
        with request_id_bound(request_id):
            try:
                work(emit, cancel.is_set)
            except Exception:
                failed.set()
                logger.exception("streamed answer failed")
                emit(error_event(language))
            finally:
                connections.close_all()  # this thread's connections; it ends here
                loop.call_soon_threadsafe(queue.put_nowait, None)

    started = time.perf_counter()
    outcome, events = "client_gone", 0
    with metrics.stream_in_progress():
        threading.Thread(target=run, name="answer", daemon=True).start()
        try:
            while (event := await queue.get()) is not None:
                events += 1
                yield sse_format(event)
            outcome = "error" if failed.is_set() else "complete"
        finally:
            cancel.set()
            seconds = time.perf_counter() - started
            metrics.stream_record(outcome=outcome, seconds=seconds)
            with request_id_bound(request_id):
                logger.info("answer stream %s after %.0fms (%d events)", outcome, seconds * 1000, events)
