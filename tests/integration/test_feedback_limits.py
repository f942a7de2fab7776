"""Rate limits on /feedback/, per session and per client address, on a real Redis (CACHE_URL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.test import Client, override_settings

from assistant.models import Answer, Feedback
from tests.services import require_redis

pytestmark = pytest.mark.django_db
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """Django's cache on the machine's Redis, under a prefix of this test's own (removed afterwards)."""
    require_redis()
    prefix = f"test-{uuid.uuid4().hex}"
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": REDIS_URL,
                "KEY_PREFIX": prefix,
            }
        }
    ):
        yield prefix
    server = redis.Redis.from_url(REDIS_URL)
    for key in server.scan_iter(f"{prefix}:*"):
        server.delete(key)


def _answered(client: Client, ip: str = "127.0.0.1") -> Answer:
    assert client.post("/ask/", {"question": "Hello", "ui_language": "en"}, REMOTE_ADDR=ip).status_code == 200
    return Answer.objects.latest("created_at")


def _rate(client: Client, answer: Answer, *, json: bool = True, ip: str = "127.0.0.1", language: str = "en") -> Any:
    headers = {"Accept": "application/json"} if json else {}
    return client.post(
        "/feedback/",
        {"answer": answer.pk, "rating": "up", "ui_language": language, "conversation": answer.conversation_id},
        headers=headers,
        REMOTE_ADDR=ip,
    )


def test_feedback_per_session_answers_429_with_retry_after_and_leaves_asking_alone(redis_prefix: str) -> None:
    with override_settings(
        FEEDBACK_RATE_LIMIT_PER_SESSION=3,
        FEEDBACK_RATE_LIMIT_PER_IP=0,
        RATE_LIMIT_PER_SESSION=30,
        RATE_LIMIT_WINDOW_S=600,
    ):
        client = Client()
        answer = _answered(client)
        for _ in range(3):
            assert _rate(client, answer).status_code == 200
        refused = _rate(client, answer, language="de")
        assert refused.status_code == 429
        assert 0 < int(refused["Retry-After"]) <= 601
        body = refused.json()
        assert body["ok"] is False and body["outcome"] == "rate_limited"
        assert "viele Rückmeldungen" in body["message"]
        # Without JavaScript: the translated page, with the same status and header.
        page = _rate(client, answer, json=False, language="fr")
        assert page.status_code == 429 and "Retry-After" in page
        assert "beaucoup d&#x27;avis" in page.content.decode()
        # Invalid posts count too: a script cannot flood the endpoint with malformed ones.
        junk = client.post("/feedback/", {"answer": "x", "rating": "?"}, headers={"Accept": "application/json"})
        assert junk.status_code == 429
        # Asking has its own counters, and another session is not affected.
        assert client.post("/ask/", {"question": "Thanks", "ui_language": "en"}).status_code == 200
        other = Client()
        assert _rate(other, _answered(other)).status_code == 200
    assert Feedback.objects.count() == 2


def test_feedback_per_client_address_counts_every_session_from_it(redis_prefix: str) -> None:
    with override_settings(FEEDBACK_RATE_LIMIT_PER_SESSION=0, FEEDBACK_RATE_LIMIT_PER_IP=2):
        clients = [Client() for _ in range(3)]
        answers = [_answered(c, ip="198.51.100.7") for c in clients]
        assert _rate(clients[0], answers[0], ip="198.51.100.7").status_code == 200
        assert _rate(clients[1], answers[1], ip="198.51.100.7").status_code == 200
        assert _rate(clients[2], answers[2], ip="198.51.100.7").status_code == 429
        assert _rate(clients[2], answers[2], ip="198.51.100.8").status_code == 200


def test_feedback_behind_our_proxy_is_counted_per_forwarded_address(redis_prefix: str) -> None:
    with override_settings(FEEDBACK_RATE_LIMIT_PER_SESSION=0, FEEDBACK_RATE_LIMIT_PER_IP=1, TRUSTED_PROXY_COUNT=1):
        client = Client()
        answer = _answered(client, ip="10.0.0.2")

        def rate(forwarded: str) -> int:
            return client.post(
                "/feedback/",
                {"answer": answer.pk, "rating": "up"},
                headers={"Accept": "application/json"},
                REMOTE_ADDR="10.0.0.2",
                HTTP_X_FORWARDED_FOR=forwarded,
            ).status_code

        assert rate("6.6.6.1, 203.0.113.5") == 200
        assert rate("6.6.6.2, 203.0.113.5") == 429  # a forged left-hand entry does not reset the count
        assert rate("203.0.113.6") == 200  # another citizen behind the same proxy


def test_redis_holds_only_hashed_counters_never_the_session_key_or_address(redis_prefix: str) -> None:
    with override_settings(FEEDBACK_RATE_LIMIT_PER_SESSION=5, FEEDBACK_RATE_LIMIT_PER_IP=5):
        client = Client()
        answer = _answered(client, ip="192.0.2.44")
        _rate(client, answer, ip="192.0.2.44")
        session_key = client.session.session_key
    keys = [k.decode() for k in redis.Redis.from_url(REDIS_URL).scan_iter(f"{redis_prefix}:*")]
    feedback_keys = [k for k in keys if "ratelimit:feedback-" in k]
    assert {k.split(":")[3] for k in feedback_keys} == {"feedback-session", "feedback-ip"}
    assert session_key and all(session_key not in k and "192.0.2.44" not in k for k in keys)
