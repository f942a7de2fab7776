"""Faults of the dependencies around a question, through /ask/ and /readyz, against real processes and
sockets: an HTTP model server (a separate process) that is killed mid-answer or hangs mid-answer, one
that records what it was asked (max_tokens), a health probe against a hanging server, and the shared
cache (Redis) refusing or hanging. The machine's own Redis and PostgreSQL are never stopped: a closed
port or a listener of the test's own stands in for a dead one."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import translation

from assistant import replies
from assistant.limits import pending_claim, pending_release
from assistant.llm import get_llm
from assistant.models import Answer
from tests.services import require_redis

pytestmark = pytest.mark.django_db
QUESTION = "Comment échanger mon permis de conduire étranger ?"

# An OpenAI-compatible model server in a process of its own: streams "Les pièces ..." one piece every
# 0.1 s, printing "piece N" as each leaves. MODE: "stream" (to the end), "hang" (stops sending after
# 3 pieces and keeps the connection open). With a REQUEST_LOG path it writes each request body there.
STUB_SERVER = r"""
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

mode, log_path = sys.argv[1], sys.argv[2]
WORDS = ["Les", " pièces", " demandées", " sont", " la", " carte", " d'identité", " et", " le", " permis"] * 30

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b'{"data": [{"id": "stub"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        request = self.rfile.read(int(self.headers["Content-Length"]))
        if log_path != "-":
            with open(log_path, "ab") as log:
                log.write(request + b"\n")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for number, word in enumerate(WORDS, start=1):
            if mode == "hang" and number > 3:
                time.sleep(3600)
            chunk = {"choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}]}
            data = f"data: {json.dumps(chunk)}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            print(f"piece {number}", flush=True)
            time.sleep(0.1)
        done = b"data: [DONE]\n\n"
        self.wfile.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
"""


class StubModelServer:
    """The stub above in its own process group, so that a kill reaches it and nothing else of ours."""

    def __init__(self, mode: str, request_log: Path | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", STUB_SERVER, mode, str(request_log) if request_log else "-"],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline().split()
        assert first[0] == "port", first
        self.base_url = f"http://127.0.0.1:{first[1]}/v1"
        self.pieces = 0
        self.killed_at: float | None = None
        self._kill_after: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def kill_after(self, pieces: int) -> None:
        self._kill_after = pieces

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("piece "):
                self.pieces = int(line.split()[1])
                if self._kill_after is not None and self.pieces >= self._kill_after and self.killed_at is None:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.killed_at = time.monotonic()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


@pytest.fixture
def stub_server(request: pytest.FixtureRequest, settings: Any, demo_kb_index: Path, tmp_path: Path) -> Iterator[Any]:
    settings.INDEX_DIR = demo_kb_index
    server = StubModelServer(request.param, request_log=tmp_path / "requests.jsonl")
    settings.LLM_BASE_URL = server.base_url
    get_llm.cache_clear()
    yield server
    get_llm.cache_clear()
    server.stop()


def _fr(message: Any) -> str:
    with translation.override("fr"):
        return str(message)


@pytest.mark.parametrize("stub_server", ["stream"], indirect=True)
def test_model_server_killed_mid_answer_gives_sources_and_a_clear_message_and_keeps_the_partial(
    stub_server: StubModelServer, settings: Any
) -> None:
    settings.LLM_TIMEOUT_S = 10.0  # the kill, not a timeout, must end the answer
    stub_server.kill_after(3)
    response = Client().post("/ask/", {"question": QUESTION, "ui_language": "fr"})
    returned_at = time.monotonic()
    assert stub_server.killed_at is not None and stub_server.process.poll() is not None
    assert returned_at - stub_server.killed_at < 5  # within seconds of the kill, not after LLM_TIMEOUT_S
    assert response.status_code == 200
    html = response.content.decode()
    assert _fr(replies.MODEL_UNAVAILABLE).replace("'", "&#x27;") in html
    assert 'data-role="source"' in html  # the sources found before the model died are shown
    answer = Answer.objects.get()
    assert (answer.status, answer.metrics["reason"]) == ("failed", "llm_unavailable")
    assert answer.raw_output.startswith("Les pièces") and answer.sources
    readiness = Client().get("/readyz")
    assert readiness.status_code == 503 and not readiness.json()["checks"]["model"]["ok"]


@pytest.mark.parametrize("stub_server", ["hang"], indirect=True)
def test_model_server_hanging_mid_answer_is_given_up_after_llm_timeout(
    stub_server: StubModelServer, settings: Any
) -> None:
    settings.LLM_TIMEOUT_S = 1.0
    started = time.monotonic()
    response = Client().post("/ask/", {"question": QUESTION, "ui_language": "fr"})
    elapsed = time.monotonic() - started
    assert stub_server.pieces == 3 and stub_server.process.poll() is None  # it is still there, silent
    assert response.status_code == 200 and elapsed < 15
    assert _fr(replies.MODEL_UNAVAILABLE).replace("'", "&#x27;") in response.content.decode()
    answer = Answer.objects.get()
    assert answer.status == "failed" and answer.raw_output == "Les pièces demandées"


@pytest.mark.parametrize("stub_server", ["stream"], indirect=True)
def test_max_tokens_and_temperature_settings_reach_the_model_server(
    stub_server: StubModelServer, settings: Any, tmp_path: Path
) -> None:
    settings.LLM_MAX_TOKENS = 37
    settings.LLM_TEMPERATURE = 0.0
    assert Client().post("/ask/", {"question": QUESTION, "ui_language": "fr"}).status_code == 200
    requests = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    compose = [r for r in requests if "permis" in r["messages"][-1]["content"]][-1]
    assert compose["max_tokens"] == 37 and compose["temperature"] == 0.0 and compose["stream"] is True
    assert Answer.objects.get().raw_output.startswith("Les pièces demandées")


class _SilentListener:
    """Accepts connections and never answers: a hung server (model or Redis) we control."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self._open.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._open:
            conn.close()
        self._sock.close()


@pytest.fixture
def silent_listener() -> Iterator[_SilentListener]:
    listener = _SilentListener()
    yield listener
    listener.close()


def test_readiness_answers_within_seconds_when_the_model_server_hangs(
    silent_listener: _SilentListener, demo_kb_index: Path, settings: Any
) -> None:
    settings.INDEX_DIR = demo_kb_index
    settings.LLM_BASE_URL = f"http://127.0.0.1:{silent_listener.port}/v1"
    started = time.monotonic()
    response = Client().get("/readyz")
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and elapsed < 5
    model = response.json()["checks"]["model"]
    assert not model["ok"] and "Timeout" in model["detail"]
    assert response.json()["checks"]["database"]["ok"] and response.json()["checks"]["index"]["ok"]
    assert Client().get("/healthz").status_code == 200  # liveness never depends on a dependency


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_cache(url: str) -> dict[str, Any]:
    from portal.settings import _cache_from_url  # the production configuration, timeouts included

    return {"default": _cache_from_url(url)}


def test_questions_and_feedback_still_work_when_the_shared_cache_refuses_connections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with override_settings(CACHES=_redis_cache(f"redis://127.0.0.1:{_closed_port()}/2")):
        client = Client()
        asked = client.post("/ask/", {"question": "Hello", "ui_language": "en"})
        answer = Answer.objects.get()
        rated = client.post("/feedback/", {"answer": answer.pk, "rating": "up"}, headers={"Accept": "application/json"})
    assert asked.status_code == 200 and answer.status == "routed"
    assert rated.status_code == 200 and rated.json()["ok"]
    assert "shared cache unavailable" in caplog.text  # failing open is logged, never silent


def test_a_hanging_shared_cache_costs_seconds_not_the_answer(silent_listener: _SilentListener) -> None:
    with override_settings(CACHES=_redis_cache(f"redis://127.0.0.1:{silent_listener.port}/2")):
        started = time.monotonic()
        response = Client().post("/ask/", {"question": "Hello", "ui_language": "en"})
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and Answer.objects.get().status == "routed"
    assert elapsed < 10  # each cache call gives up after its 1 s socket timeout


def test_only_one_of_many_simultaneous_questions_claims_a_conversation_on_redis(
    caplog: pytest.LogCaptureFixture,
) -> None:
    require_redis()
    caplog.set_level(logging.WARNING)
    with override_settings(CACHES=_redis_cache("redis://127.0.0.1:6379/0")):
        conversation = f"test-claim-{time.time_ns()}"
        barrier = threading.Barrier(16)

        def claim() -> bool:
            barrier.wait(5)
            return pending_claim(conversation_id=conversation)

        try:
            with ThreadPoolExecutor(16) as pool:
                won = list(pool.map(lambda _: claim(), range(16)))
        finally:
            pending_release(conversation_id=conversation)
    assert won.count(True) == 1 and "shared cache unavailable" not in caplog.text
