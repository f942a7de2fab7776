"""Limits that keep one citizen, one script or one burst from exhausting a shared public service.

Counters and claims live in Django's default cache (``CACHE_URL``: Redis in production, a file
cache under VAR_DIR on one machine), so every web process sees the same figures.

When that cache cannot be reached the limits fail open: the question (or feedback) is taken and a
warning is logged, so that a Redis outage degrades the protection rather than the service. The
other limits (question length, answer time, model queue) do not depend on the cache.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from assistant.llm import get_llm

logger = logging.getLogger(__name__)

RefusalReason = Literal["rate_limited", "pending", "busy"]
# How long a citizen is told to wait when the model's queue is full: about one answer's time.
BUSY_RETRY_AFTER_S = 30


@dataclass(frozen=True)
class Refusal:
    reason: RefusalReason
    retry_after_s: int = 0


def client_ip(*, meta: Mapping[str, object]) -> str:
    """The citizen's address: REMOTE_ADDR, or the proxy header's entry when proxies are trusted.

    Only the last ``TRUSTED_PROXY_COUNT`` hops were written by our own proxies; anything to their
    left came from the client and could be forged, so that is never taken.
    """
    remote = str(meta.get("REMOTE_ADDR", ""))
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    header = "HTTP_" + settings.TRUSTED_PROXY_HEADER.upper().replace("-", "_")
    hops = [hop.strip() for hop in str(meta.get(header, "")).split(",") if hop.strip()]
    if not hops:
        return remote
    return hops[-min(count, len(hops))]


def request_client_ip(request: HttpRequest) -> str:
    """``client_ip`` for a request: django-axes' ``AXES_CLIENT_IP_CALLABLE`` (admin login lockout)."""
    return client_ip(meta=request.META)


def _hashed(value: str) -> str:
    # Cache keys never hold a session key or an IP address in clear.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _count_in_window(*, scope: str, identity: str, window_s: int) -> tuple[int, int]:
    """This request's number in the current fixed window, and the seconds until the window ends."""
    now = time.time()
    window = int(now // window_s)
    key = f"ratelimit:{scope}:{_hashed(identity)}:{window}"
    cache.add(key, 0, timeout=window_s + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr: this is the first of a new window
        cache.set(key, 1, timeout=window_s + 1)
        count = 1
    return int(count), int((window + 1) * window_s - now) + 1


def _cache_unavailable(what: str, exc: Exception) -> None:
    # The exception's class only: a cache client's message could quote a key or an address.
    logger.warning("shared cache unavailable (%s skipped, failing open): %s", what, type(exc).__name__)


def _over_limits(checks: tuple[tuple[str, str, int], ...]) -> Refusal | None:
    """Count one request for each (scope, identity, limit); refuse when any count is over its limit."""
    window_s = settings.RATE_LIMIT_WINDOW_S
    retry_after = 0
    for scope, identity, limit in checks:
        if limit <= 0 or not identity:
            continue
        try:
            count, remaining = _count_in_window(scope=scope, identity=identity, window_s=window_s)
        except Exception as exc:  # any cache client error (connection refused, timeout, ...)
            _cache_unavailable(f"rate limit {scope}", exc)
            return None
        if count > limit:
            retry_after = max(retry_after, remaining)
    return Refusal("rate_limited", retry_after) if retry_after else None


def rate_limit_check(*, session_key: str, ip: str) -> Refusal | None:
    """Count one question for this session and this address; refuse when either is over its limit."""
    return _over_limits(
        (
            ("session", session_key, settings.RATE_LIMIT_PER_SESSION),
            ("ip", ip, settings.RATE_LIMIT_PER_IP),
        )
    )


def feedback_admit(*, session_key: str, ip: str) -> Refusal | None:
    """Count one feedback post (valid or not) for this session and this address, in the questions' window.

    Separate counters from the questions': giving feedback never uses up the right to ask.
    """
    return _over_limits(
        (
            ("feedback-session", session_key, settings.FEEDBACK_RATE_LIMIT_PER_SESSION),
            ("feedback-ip", ip, settings.FEEDBACK_RATE_LIMIT_PER_IP),
        )
    )


def _pending_key(conversation_id: str) -> str:
    return f"pending-question:{conversation_id}"


def pending_claim(*, conversation_id: str) -> bool:
    """Mark the conversation as having a question in progress; False when one already is.

    ``cache.add`` is atomic on Redis, so two simultaneous posts cannot both win. The claim expires
    after the answer time limit, so a crashed process never locks a conversation for good.
    """
    try:
        return bool(cache.add(_pending_key(conversation_id), 1, timeout=settings.ANSWER_TIMEOUT_S + 60))
    except Exception as exc:  # any cache client error
        _cache_unavailable("pending-question claim", exc)
        return True


def pending_release(*, conversation_id: str) -> None:
    try:
        cache.delete(_pending_key(conversation_id))
    except Exception as exc:  # any cache client error: the claim expires on its own
        _cache_unavailable("pending-question release", exc)


def generation_queue_full() -> Refusal | None:
    """Refuse rather than pile up when ``LLM_MAX_QUEUE`` questions already wait for the in-process model.

    A server model (``LLM_BASE_URL``) has no local queue to read: it is never refused here.
    """
    limit = settings.LLM_MAX_QUEUE
    if limit <= 0:
        return None
    waiting = getattr(get_llm(), "waiting", None)
    if isinstance(waiting, int) and waiting >= limit:
        return Refusal("busy", BUSY_RETRY_AFTER_S)
    return None


def question_admit(*, session_key: str, ip: str, conversation_id: str) -> Refusal | None:
    """Every limit a new question must pass; on success the conversation is claimed (release it after)."""
    refusal = rate_limit_check(session_key=session_key, ip=ip) or generation_queue_full()
    if refusal is not None:
        return refusal
    if not pending_claim(conversation_id=conversation_id):
        return Refusal("pending")
    return None
