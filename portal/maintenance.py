"""The kill switch: takes the public chat offline with a translated maintenance page (HTTP 503).

Operators turn it on and off in the admin (``portal.models.ServiceSwitch``; who, when and why are
kept in its history). The chat page, ``/ask/`` (streamed and without JavaScript), ``/feedback/``
and the conversation export check it; the admin, the privacy page and the health endpoints do not.

Cheap: each process reads the switch at most once every ``KILL_SWITCH_CACHE_S`` seconds (a primary
key lookup), so turning it on takes effect everywhere within that time (at once in the process
that saved it).

Fails open: when the database cannot be read, the last state this process read is kept, and the
chat stays online if it never read one. A database outage is already handled by the degraded
modes (answers still stream without being stored); failing closed would turn every database blip
into a full outage of the public service. An operator who must take the chat offline while the
database is down does it at the reverse proxy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.template import loader
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _

from assistant.types import StreamEvent
from portal.streaming import sse_format

logger = logging.getLogger(__name__)

MAINTENANCE_MESSAGE = _(
    "The assistant is offline for maintenance. Please try again later. For help now, contact the Guichet helpdesk."
)


class _SwitchMemo:
    """The switch as this process last read it, and when (monotonic seconds)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.offline = False
        self.read_at: float | None = None


_memo = _SwitchMemo()


def _read_switch() -> bool:
    from portal.models import SWITCH_PK, ServiceSwitch

    with transaction.atomic():  # a savepoint: a failed read must not spoil an enclosing transaction
        value = ServiceSwitch.objects.filter(pk=SWITCH_PK).values_list("chat_offline", flat=True).first()
    return bool(value)


def chat_offline() -> bool:
    """Whether the public chat is switched off; at most one database read per process every few seconds."""
    now = time.monotonic()
    with _memo.lock:
        if _memo.read_at is not None and now - _memo.read_at < settings.KILL_SWITCH_CACHE_S:
            return _memo.offline
        try:
            _memo.offline = _read_switch()
        except DatabaseError as exc:
            # Fail open (see the module's docstring); tried again after KILL_SWITCH_CACHE_S.
            logger.warning("kill switch unreadable, keeping the last known state: %s", type(exc).__name__)
        _memo.read_at = now
        return _memo.offline


def switch_memo_clear(*, forget_state: bool = False) -> None:
    """Make the next check read the database (after a change); ``forget_state`` also drops the last
    known state, as in a new process (tests)."""
    with _memo.lock:
        _memo.read_at = None
        if forget_state:
            _memo.offline = False


def request_language(request: HttpRequest) -> str:
    """The citizen's language: the form's, the URL prefix's, the language cookie's, else the active one.

    ``/ask/`` and ``/feedback/`` have no language prefix (LocaleMiddleware gives them the default
    language), so the form's interface language and the cookie come first there.
    """
    codes = {code for code, _name in settings.LANGUAGES}
    candidates = (
        request.POST.get("ui_language", "") if request.method == "POST" else "",
        translation.get_language_from_path(request.path_info) or "",
        request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, ""),
        translation.get_language() or "",
    )
    return next((c for c in candidates if c in codes), str(settings.LANGUAGE_CODE))


def maintenance_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After, never cached: an event for the chat script, JSON for feedback, else a page."""
    language = request_language(request)
    accept = request.headers.get("Accept", "")
    with translation.override(language):
        message = str(MAINTENANCE_MESSAGE)
        response: HttpResponse
        if "text/event-stream" in accept:
            event = StreamEvent("error", {"message": message, "reason": "maintenance"})
            response = HttpResponse(sse_format(event), content_type="text/event-stream", status=503)
        elif "application/json" in accept:
            response = JsonResponse({"ok": False, "outcome": "maintenance", "message": message}, status=503)
        else:
            html = loader.render_to_string("errors/maintenance.html", {"message": message}, request=request)
            response = HttpResponse(html, status=503)
    response["Retry-After"] = str(settings.KILL_SWITCH_RETRY_AFTER_S)
    add_never_cache_headers(response)  # the chat must come back as soon as it is switched on again
    return response


def unless_chat_offline(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Serve ``view`` only while the kill switch is off; otherwise the maintenance response."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if chat_offline():
            return maintenance_response(request)
        return view(request, *args, **kwargs)

    return wrapped
