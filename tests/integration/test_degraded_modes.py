"""Degraded modes: a dead model server or index trips its breaker, a dead broker or read-only DB loses nothing."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib import messages
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.test import AsyncClient, Client
from django.utils import translation

from assistant import replies
from assistant.circuit import circuit_breaker
from assistant.llm import ChatMessage, LLMUnavailable, get_llm
from assistant.models import Answer, Conversation
from assistant.pipeline.context import AnswerContext
from assistant.pipeline.steps import CheckInput, Compose, DetectLanguage, Retrieve
from assistant.services import answer_question
from assistant.types import StreamEvent
from assistant.vector_index import EdgeIndex, IndexUnavailable, get_index

pytestmark = pytest.mark.django_db
HELLO = [ChatMessage("user", "Hello")]
QUESTION = "Comment demander l'allocation familiale pour mon enfant ?"


@pytest.fixture(autouse=True)
def _breaker_settings(settings: Any) -> None:
    settings.BREAKER_FAILURES = 3
    settings.BREAKER_OPEN_S = 60.0


class _ModelServer:
    """A loopback "model server" that counts connections; ``dead`` closes each one unanswered."""

    def __init__(self) -> None:
        self.dead = True
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with conn:
                if not self.dead:
                    self._answer(conn)

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"content-length: *(\d+)", head, re.IGNORECASE).group(1))  # type: ignore[union-attr]
        while len(body) < length:
            body += conn.recv(65536)
        chunk = '{"choices": [{"delta": {"content": "ok"}, "finish_reason": "stop"}]}'
        events = f"data: {chunk}\n\ndata: [DONE]\n\n".encode()
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n"
            + f"Content-Length: {len(events)}\r\n\r\n".encode()
            + events
        )

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


@pytest.fixture
def model_server(settings: Any) -> Iterator[_ModelServer]:
    server = _ModelServer()
    settings.LLM_BASE_URL = server.base_url
    get_llm.cache_clear()
    yield server
    get_llm.cache_clear()
    server.close()


def _events() -> tuple[list[StreamEvent], Any]:
    events: list[StreamEvent] = []
    return events, events.append


def test_model_breaker_opens_fails_fast_then_closes_after_a_successful_trial(
    model_server: _ModelServer, settings: Any
) -> None:
    llm = get_llm()
    for _ in range(3):
        with pytest.raises(LLMUnavailable, match="failed"):
            list(llm.stream(HELLO, max_tokens=5, temperature=0.0))
    assert model_server.connections == 3 and circuit_breaker("model").state == "open"
    with pytest.raises(LLMUnavailable, match="circuit breaker 'model' is open"):
        list(llm.stream(HELLO, max_tokens=5, temperature=0.0))
    assert model_server.connections == 3  # failed without touching the server
    body = Client().get("/readyz").json()
    assert body["checks"]["model"]["detail"].endswith("breaker open")

    settings.BREAKER_OPEN_S = 0.2
    time.sleep(0.3)
    assert circuit_breaker("model").state == "half_open"
    model_server.dead = False
    assert "".join(llm.stream(HELLO, max_tokens=5, temperature=0.0)) == "ok"
    assert circuit_breaker("model").state == "closed"


def test_question_while_the_model_is_down_gets_sources_only_and_is_stored_failed(
    model_server: _ModelServer, demo_kb_index: Path, settings: Any
) -> None:
    settings.INDEX_DIR = demo_kb_index
    llm = get_llm()
    for _ in range(3):
        with pytest.raises(LLMUnavailable):
            list(llm.stream(HELLO, max_tokens=5, temperature=0.0))
    seen = model_server.connections
    events, emit = _events()
    conversation = Conversation.objects.create(session_key="degraded", ui_language="fr")
    steps = (CheckInput(), DetectLanguage(), Retrieve(), Compose(llm=llm))
    answer = answer_question(conversation=conversation, question=QUESTION, ui_language="fr", emit=emit, steps=steps)
    with translation.override("fr"):
        expected = str(replies.MODEL_UNAVAILABLE)
    assert model_server.connections == seen  # the open breaker answered, not the dead server
    answer.refresh_from_db()
    assert (answer.status, answer.metrics["reason"], answer.text) == ("failed", "llm_unavailable", expected)
    sources = next(e for e in events if e.kind == "sources").data["sources"]
    # Stored sources are what the citizen saw, plus the retrieval score kept for reviewers.
    assert sources and [{k: v for k, v in s.items() if k != "score"} for s in answer.sources] == sources
    assert events[-1].kind == "done" and events[-1].data["answer"] == expected


def test_index_breaker_opens_on_an_unreadable_index_and_closes_on_a_working_one(
    demo_kb_index: Path, tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gen_000001").mkdir()
    (tmp_path / "gen_000001" / "segments").write_text("not a shard")
    (tmp_path / "CURRENT").write_text("gen_000001")
    broken = EdgeIndex(tmp_path)
    touched: list[int] = []
    real_open = broken._live_shard

    def counting_open() -> Any:
        touched.append(1)
        return real_open()

    monkeypatch.setattr(broken, "_live_shard", counting_open)
    conversation = Conversation.objects.create(session_key="degraded", ui_language="fr")

    def ask(index: Any) -> Answer:
        steps = (CheckInput(), DetectLanguage(), Retrieve(index=index))
        return answer_question(
            conversation=conversation, question=QUESTION, ui_language="fr", emit=lambda e: None, steps=steps
        )

    with pytest.raises(IndexUnavailable):
        broken.live_points()
    touched.clear()
    for _ in range(3):
        assert ask(broken).metrics["reason"] == "index_unavailable"
    assert len(touched) == 3 and circuit_breaker("index").state == "open"
    answer = ask(broken)
    with translation.override("fr"):
        assert (answer.status, answer.text) == ("failed", str(replies.INDEX_UNAVAILABLE))
    assert len(touched) == 3  # failed fast, the broken index was not opened again

    settings.BREAKER_OPEN_S = 0.2
    time.sleep(0.3)
    assert ask(get_index(demo_kb_index)).metrics["reason"] != "index_unavailable"
    assert circuit_breaker("index").state == "closed"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.django_db(transaction=True)  # outside a transaction the enqueue runs within the request
def test_admin_action_with_the_broker_down_keeps_the_change_and_warns(
    admin_user: Any, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    from django.contrib.messages import get_messages
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.test import RequestFactory

    from ingestion.models import Source
    from ingestion.tasks import after_commit, ingest_sources
    from portal.celery import app

    source = Source.objects.create(name="Zz folder", kind=Source.Kind.FOLDER, path="/kb")
    client = Client()
    client.force_login(admin_user)
    request = RequestFactory().post("/admin/")
    request.session = client.session
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    app.set_current()  # shared tasks publish through the current app; another test may have made its own
    previous = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{_closed_port()}/0"
    app._pool, app.amqp._producer_pool = None, None  # pools made for the old broker URL
    try:
        # The admin action, end to end: the request succeeds and the source is kept.
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/admin/ingestion/source/",
                {"action": "reingest_now", "_selected_action": [str(source.pk)]},
                follow=True,
            )
        # The enqueue itself, as it runs after commit: the editor is warned on their request.
        with django_capture_on_commit_callbacks(execute=True):
            after_commit(ingest_sources, [source.pk], request=request)
    finally:
        app.conf.broker_url = previous
        app._pool, app.amqp._producer_pool = None, None
    assert response.status_code == 200
    warnings = [str(m) for m in get_messages(request) if m.level == messages.WARNING]
    assert len(warnings) == 1 and "manage.py index rebuild" in warnings[0]
    assert caplog.text.count("broker unavailable") == 2 and Source.objects.filter(pk=source.pk).exists()


class _Answers:
    """A step that streams a fixed answer, so the test needs neither index nor model."""

    name = "scripted"

    def __call__(self, ctx: AnswerContext) -> None:
        ctx.emit(StreamEvent("sources", {"sources": []}))
        ctx.emit(StreamEvent("token", {"text": "Streamed despite the database."}))
        ctx.answer, ctx.status = "Streamed despite the database.", "answered"


@pytest.mark.django_db(transaction=True)  # the stream's worker thread has its own DB connection
def test_read_only_database_still_streams_the_answer_to_done(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_execute = CursorWrapper.execute

    def read_only(self: CursorWrapper, sql: str, params: Any = None) -> Any:
        if re.match(r'\s*(INSERT INTO|UPDATE) "assistant_answer"', sql):
            raise OperationalError("attempt to write a readonly database")
        return real_execute(self, sql, params)

    monkeypatch.setattr(CursorWrapper, "execute", read_only)
    monkeypatch.setattr("assistant.services.answer_steps", lambda: (CheckInput(), _Answers()))
    caplog.set_level(logging.INFO)
    question = "Wéi kann ech mech bei der Gemeng umellen?"

    async def ask() -> bytes:
        response = await AsyncClient().post(
            "/ask/", {"question": question, "ui_language": "lb"}, headers={"Accept": "text/event-stream"}
        )
        return b"".join([part async for part in response.streaming_content])  # type: ignore[attr-defined]

    body = async_to_sync(ask)().decode()
    assert "Streamed despite the database." in body
    assert body.rstrip().split("\n\n")[-1].startswith("event: done")
    assert "could not be stored" in caplog.text and question not in caplog.text
    monkeypatch.undo()
    assert not Answer.objects.exists()
