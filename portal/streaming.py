"""Server-sent events from a synchronous answer pipeline, without holding the event loop."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable

from django.db import connections
from django.utils import translation
from django.utils.translation import gettext as _

from assistant.types import StreamEvent

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


async def event_stream(work: Work, *, language: str) -> AsyncIterator[bytes]:
    """Run ``work`` in a thread; yield each event it emits as soon as it is emitted.

    When the client goes away the generator is closed, and ``work`` sees ``cancelled()`` turn true.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[StreamEvent | None] = asyncio.Queue()
    cancel = threading.Event()

    def emit(event: StreamEvent) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, event)

    def run() -> None:
        try:
            work(emit, cancel.is_set)
        except Exception:
            logger.exception("streamed answer failed")
            emit(error_event(language))
        finally:
            connections.close_all()  # this thread's connections; it ends here
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=run, name="answer", daemon=True).start()
    try:
        while (event := await queue.get()) is not None:
            yield sse_format(event)
    finally:
        cancel.set()
