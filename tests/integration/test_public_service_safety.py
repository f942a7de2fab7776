"""Safe for a public service: personal data in questions, limits on asking, web hardening (real DB, cache)."""

from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.db import models
from django.test import AsyncClient, Client, override_settings

from assistant.limits import client_ip, pending_claim, pending_release
from assistant.models import Answer, Conversation, Feedback
from tests.services import require_redis
from tests.unit.test_pii_questions import CORPUS, NATIONAL_ID

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _stored_text() -> str:
    """Every text column of every conversation, answer and feedback, as one string to search."""
    values: list[str] = []
    for model in (Conversation, Answer, Feedback):
        fields = [
            f.name for f in model._meta.fields if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        for row in model.objects.values_list(*fields):
            values.extend(str(v) for v in row)
    return "\n".join(values)


# --- personal data --------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "question", "values", "kinds"), CORPUS)
def test_question_with_personal_data_is_refused_and_no_raw_value_is_stored_or_logged(
    language: str, question: str, values: list[str], kinds: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = Client()
    response = client.post("/ask/", {"question": question, "ui_language": language})
    assert response.status_code == 200
    html = response.content.decode()
    answer = Answer.objects.get()
    assert (answer.status, answer.metrics["reason"]) == ("rejected", "personal_data")
    assert answer.metrics["input"]["personal_data"] == {kind: kinds.count(kind) for kind in kinds}
    assert "[" in answer.question and "]" in answer.question  # the placeholders, e.g. "[IBAN]"
    stored, logged = _stored_text(), caplog.text
    for value in values:
        assert value not in stored and value not in logged and value not in html
        assert re.sub(r"\D", "", value) not in re.sub(r"\D", "", answer.question) or not re.sub(r"\D", "", value)


async def _ask_streaming(question: str, ui_language: str) -> bytes:
    client = AsyncClient()
    response = await client.post(
        "/ask/", {"question": question, "ui_language": ui_language}, headers={"Accept": "text/event-stream"}
    )
    return b"".join([part async for part in response.streaming_content])  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)  # the stream's worker thread has its own DB connection
def test_streamed_refusal_for_personal_data_lists_the_kind_in_the_questions_language(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    body = async_to_sync(_ask_streaming)(f"Mäi Matrikel: {NATIONAL_ID}", "de").decode()
    assert "event: done" in body and '"status": "rejected"' in body
    # Asked in Luxembourgish on the German interface: the refusal follows the question.
    assert "eng national Identifikatiounsnummer" in body and NATIONAL_ID not in body
    assert NATIONAL_ID not in _stored_text() and NATIONAL_ID not in caplog.text
    assert Answer.objects.get().metrics["reason"] == "personal_data"


# --- limits ---------------------------------------------------------------------------------------


def test_question_over_the_length_cap_is_refused_with_a_clear_message() -> None:
    response = Client().post("/ask/", {"question": "x" * 1001, "ui_language": "en"})
    assert response.status_code == 200
    assert "at most 1000 characters" in response.content.decode()
    assert Answer.objects.get().status == "rejected"


def _conversation_of(client: Client) -> str:
    client.post("/ask/", {"question": "Hello", "ui_language": "en"})
    return str(Answer.objects.latest("created_at").conversation_id)


def test_second_question_while_one_is_pending_is_refused_with_409() -> None:
    client = Client()
    conversation = _conversation_of(client)
    assert pending_claim(conversation_id=conversation)  # a question of this conversation is in progress
    try:
        page = client.post("/ask/", {"question": "Hello", "ui_language": "fr", "conversation": conversation})
        assert page.status_code == 409
        assert "attendre la réponse à votre question précédente" in page.content.decode()
        stream = client.post(
            "/ask/",
            {"question": "Hello", "ui_language": "en", "conversation": conversation},
            headers={"Accept": "text/event-stream"},
        )
        assert stream.status_code == 409 and stream["Content-Type"].startswith("text/event-stream")
        assert stream.content.decode().startswith("event: error\n") and "previous question" in stream.content.decode()
        assert Answer.objects.count() == 1  # neither refused question was taken
    finally:
        pending_release(conversation_id=conversation)
    # Once the answer is done the conversation takes questions again.
    again = client.post("/ask/", {"question": "Hello", "ui_language": "en", "conversation": conversation})
    assert again.status_code == 200 and Answer.objects.count() == 2


@pytest.fixture
def redis_cache() -> Iterator[None]:
    require_redis()
    prefix = f"test-{uuid.uuid4().hex}"
    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": "redis://127.0.0.1:6379/0",
                "KEY_PREFIX": prefix,
            }
        }
    ):
        yield


def test_rate_limit_per_session_answers_429_with_retry_after_on_redis(redis_cache: None) -> None:
    with override_settings(RATE_LIMIT_PER_SESSION=2, RATE_LIMIT_PER_IP=0, RATE_LIMIT_WINDOW_S=600):
        client = Client()
        for _ in range(2):
            assert client.post("/ask/", {"question": "Hello", "ui_language": "de"}).status_code == 200
        refused = client.post("/ask/", {"question": "Hello", "ui_language": "de"})
        assert refused.status_code == 429
        assert 0 < int(refused["Retry-After"]) <= 601
        assert "in kurzer Zeit viele Fragen gestellt" in refused.content.decode()
        assert Answer.objects.count() == 2
        # Another session is not affected.
        assert Client().post("/ask/", {"question": "Hello", "ui_language": "de"}).status_code == 200


def test_rate_limit_per_client_address_counts_every_session_from_it(redis_cache: None) -> None:
    with override_settings(RATE_LIMIT_PER_SESSION=0, RATE_LIMIT_PER_IP=2):
        for _ in range(2):
            assert Client().post("/ask/", {"question": "Hello"}, REMOTE_ADDR="198.51.100.7").status_code == 200
        assert Client().post("/ask/", {"question": "Hello"}, REMOTE_ADDR="198.51.100.7").status_code == 429
        assert Client().post("/ask/", {"question": "Hello"}, REMOTE_ADDR="198.51.100.8").status_code == 200


def test_proxy_header_is_trusted_only_when_configured_and_only_our_hops() -> None:
    meta = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}
    with override_settings(TRUSTED_PROXY_COUNT=0):
        assert client_ip(meta=meta) == "10.0.0.2"  # no proxy configured: a client could forge the header
    with override_settings(TRUSTED_PROXY_COUNT=1, TRUSTED_PROXY_HEADER="X-Forwarded-For"):
        assert client_ip(meta=meta) == "203.0.113.9"  # the forged left entry is ignored
        assert client_ip(meta={"REMOTE_ADDR": "10.0.0.2"}) == "10.0.0.2"
    with override_settings(TRUSTED_PROXY_COUNT=1, TRUSTED_PROXY_HEADER="X-Real-IP"):
        assert client_ip(meta={"REMOTE_ADDR": "10.0.0.2", "HTTP_X_REAL_IP": "203.0.113.5"}) == "203.0.113.5"


def test_full_generation_queue_answers_503_busy_with_retry_after() -> None:
    from assistant.llm import LlamaCppLLM, get_llm

    get_llm.cache_clear()
    hold, entered = threading.Event(), threading.Event()
    try:
        with override_settings(LLM_BASE_URL="", LLM_MAX_QUEUE=1):
            llm = get_llm()
            assert isinstance(llm, LlamaCppLLM)

            def occupy() -> None:
                with llm._queue.turn(lambda ahead: None):
                    entered.set()
                    hold.wait(10)

            threads = [threading.Thread(target=occupy) for _ in range(2)]  # one generating, one waiting
            for thread in threads:
                thread.start()
            entered.wait(5)
            deadline = time.monotonic() + 5
            while llm.waiting < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            response = Client().post("/ask/", {"question": "Hello", "ui_language": "en"})
            assert response.status_code == 503
            assert int(response["Retry-After"]) > 0
            assert "very busy right now" in response.content.decode()
            assert not Answer.objects.exists()
    finally:
        hold.set()
        for thread in threads:
            thread.join(5)
        get_llm.cache_clear()


def test_answer_time_limit_stops_generation_and_stores_the_partial_answer() -> None:
    from collections.abc import Iterator as It

    from assistant.llm import ChatMessage
    from assistant.pipeline.steps import Compose, DetectLanguage
    from assistant.services import answer_question

    class SlowLLM:
        name = "slow"

        def __init__(self) -> None:
            self.closed = False

        def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> It[str]:
            try:
                for word in ["Bring", " your", " identity", " card", " and", " a", " form", " along"] * 20:
                    time.sleep(0.05)
                    yield word
            finally:
                self.closed = True

    llm = SlowLLM()
    conversation = Conversation.objects.create(session_key="s", ui_language="en")
    with override_settings(ANSWER_TIMEOUT_S=0.3):
        answer = answer_question(
            conversation=conversation,
            question="How do I register at my commune in Luxembourg?",
            ui_language="en",
            emit=lambda event: None,
            steps=[DetectLanguage(), Compose(llm=llm)],
        )
    answer.refresh_from_db()
    assert answer.status == "timed_out" and answer.metrics["reason"] == "answer_timeout"
    assert answer.text.startswith("Bring your") and "took too long" in answer.text
    assert 0 < len(answer.raw_output) < 60
    assert llm.closed  # the generation itself was stopped, not just ignored


# --- web security ---------------------------------------------------------------------------------


def test_deploy_check_passes_with_production_settings(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "VAR_DIR": str(tmp_path),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_SECURE_COOKIES": "true",
        "DJANGO_HSTS_SECONDS": "31536000",
        "DJANGO_HSTS_INCLUDE_SUBDOMAINS": "true",
        "DJANGO_HSTS_PRELOAD": "true",
        "DJANGO_SSL_REDIRECT": "true",
        "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto=https",
        "DJANGO_ALLOWED_HOSTS": "assistant.example.lu",
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # The default (one machine, plain HTTP) is indeed not production-ready: the check has teeth.
    plain = {k: v for k, v in env.items() if not k.startswith(("DJANGO_HSTS", "DJANGO_SSL", "DJANGO_SECURE"))}
    bad = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=plain,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "security.W004" in bad.stderr + bad.stdout


@pytest.mark.parametrize("path", ["/ask/", "/feedback/"])
def test_every_post_needs_a_csrf_token_and_the_refusal_page_is_generic_and_translated(path: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/de/")
    refused = client.post(path, {"question": "Hallo", "answer": "1", "rating": "up", "ui_language": "de"})
    assert refused.status_code == 403
    html = refused.content.decode()
    assert "Ihre Anfrage konnte nicht überprüft werden" in html
    assert "CSRF" not in html and "Django" not in html and "Traceback" not in html
    token = client.cookies["csrftoken"].value
    accepted = client.post(path, {"question": "Hallo", "answer": "1", "rating": "up"}, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code in {200, 404}  # past the CSRF check (feedback on an unknown answer: 404)


def test_session_cookie_is_httponly_and_samesite() -> None:
    client = Client()
    client.post("/ask/", {"question": "Hello"})
    cookie = client.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


def test_error_pages_are_generic_translated_and_show_no_trace() -> None:
    missing = Client().get("/de/nothing-here/")
    assert missing.status_code == 404
    html = missing.content.decode()
    assert "Seite nicht gefunden" in html and "Traceback" not in html and "Django" not in html


def test_server_error_page_is_generic_and_translated(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: object) -> Answer:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("portal.views.answer_question", broken)
    response = Client(raise_request_exception=False).post(
        "/ask/", {"question": "Hallo", "ui_language": "fr"}, HTTP_ACCEPT_LANGUAGE="fr"
    )
    assert response.status_code == 500
    html = response.content.decode()
    assert "Un problème est survenu" in html
    assert "secret internal detail" not in html and "Traceback" not in html and "RuntimeError" not in html


def test_conversation_responses_are_never_cached() -> None:
    client = Client()
    conversation = _conversation_of(client)
    for response in (
        client.post("/ask/", {"question": "Hello", "conversation": conversation}),
        client.get(f"/en/?conversation={conversation}"),
        client.post("/feedback/", {"answer": "1", "rating": "up"}),
    ):
        assert "no-store" in response["Cache-Control"]


def test_another_sessions_conversation_id_neither_attaches_nor_reveals_it() -> None:
    owner = Client()
    owner.post("/ask/", {"question": "Hello, my name is Tester", "ui_language": "en"})
    theirs = Answer.objects.get()
    intruder = Client()
    page = intruder.get(f"/en/?conversation={theirs.conversation_id}")
    assert "my name is Tester" not in page.content.decode()
    posted = intruder.post("/ask/", {"question": "Hello", "ui_language": "en", "conversation": theirs.conversation_id})
    assert posted.status_code == 200 and "my name is Tester" not in posted.content.decode()
    mine = Answer.objects.exclude(pk=theirs.pk).get()
    assert mine.conversation_id != theirs.conversation_id
    assert Conversation.objects.get(pk=theirs.conversation_id).answers.count() == 1
    # A malformed id is not an error either: it starts a new conversation.
    assert intruder.post("/ask/", {"question": "Hello", "conversation": "not-a-uuid"}).status_code == 200
