"""OpenAICompatibleLLM against a real server: `python -m llama_cpp.server` with the offline model.

One server is shared by the module (starting it costs a few seconds); the test that kills a
server mid-stream starts its own. The failure cases that need no model (refused, silent, cut
after the request) use plain sockets on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from assistant.llm import LLM, ChatMessage, LLMUnavailable, OpenAICompatibleLLM
from assistant.pipeline.steps import Step

# Every test takes the database, so pytest-django keeps the module's tests together (one server).
pytestmark = [pytest.mark.real_model, pytest.mark.django_db]

_START_TIMEOUT_S = 90.0
HELLO = [ChatMessage("user", "Count from one to twenty in English words, separated by commas.")]


@dataclass(frozen=True)
class LLMServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start_server(log: Path) -> LLMServer:
    """Start llama-cpp-python's OpenAI-compatible server on a free loopback port; wait until it answers."""
    model = Path(settings.LLM_MODEL_PATH)
    if not model.exists():
        pytest.fail(f"model {model} is missing: run `manage.py fetch_model --offline`")
    port = _free_port()
    # One thread: with the test process and other suites busy on the same 2 cores, llama.cpp's
    # worker threads wait on each other; one thread was 4x faster than two on a loaded machine.
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1",
        "--host", "127.0.0.1", "--port", str(port), "--verbose", "False",
    ]  # fmt: skip
    with open(log, "wb") as out:
        # Its own process group, so a kill reaches the server and nothing else of ours.
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1.0, trust_env=False).status_code == 200:
                return LLMServer(base_url, process, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    _stop_server(process)
    pytest.fail(f"llama_cpp.server did not answer /v1/models within {_START_TIMEOUT_S}s:\n{log.read_text()[-2000:]}")


def _stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _chat_steps(llm: LLM, *, context_chars: int) -> tuple[Step, ...]:
    """The chat's own pipeline with a shorter source block: prompt evaluation dominates on 2 CPU cores."""
    from dataclasses import replace

    from assistant.pipeline.steps import Compose
    from assistant.services import answer_steps

    return tuple(
        replace(s, context_chars=context_chars) if isinstance(s, Compose) else s for s in answer_steps(llm=llm)
    )


@pytest.fixture(scope="module")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMServer]:
    server = _start_server(tmp_path_factory.mktemp("llm-server") / "server.log")
    yield server
    _stop_server(server.process)


@pytest.fixture
def own_llm_server(tmp_path: Path) -> Iterator[LLMServer]:
    """A server this test may kill."""
    server = _start_server(tmp_path / "server.log")
    yield server
    _stop_server(server.process)


def test_streamed_tokens_arrive_incrementally(llm_server: LLMServer) -> None:
    llm = OpenAICompatibleLLM(llm_server.base_url, timeout_s=30)
    arrivals: list[tuple[float, str]] = []
    for piece in llm.stream(HELLO, max_tokens=24, temperature=0.0):
        arrivals.append((time.perf_counter(), piece))
    text = "".join(piece for _, piece in arrivals)
    assert len(arrivals) >= 8, text
    assert "one" in text.lower()
    # Pieces arrive spread over the generation, not in one buffered lump at the end.
    assert arrivals[-1][0] - arrivals[0][0] > 0.2
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(arrivals)]
    assert sum(1 for g in gaps if g > 0.005) >= len(gaps) // 2


@pytest.mark.django_db
def test_pipeline_answers_a_demo_kb_question_through_the_server(
    llm_server: LLMServer, demo_kb_index: Path, settings: object
) -> None:
    from assistant.models import Answer, Conversation
    from assistant.services import answer_question
    from assistant.types import StreamEvent

    settings.LLM_MAX_TOKENS = 48  # type: ignore[attr-defined]
    settings.LLM_TEMPERATURE = 0.0  # type: ignore[attr-defined]
    llm = OpenAICompatibleLLM(llm_server.base_url, timeout_s=120)
    events: list[StreamEvent] = []
    conversation = Conversation.objects.create(session_key="llm-server", ui_language="fr")
    answer = answer_question(
        conversation=conversation,
        question="Comment échanger mon permis de conduire étranger ?",
        ui_language="fr",
        emit=events.append,
        steps=_chat_steps(llm, context_chars=1000),
    )
    answer.refresh_from_db()
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert kinds.count("token") > 3, answer.raw_output
    assert answer.sources[0]["procedure"] == "driving-licence-exchange"
    assert answer.raw_output.strip()
    assert answer.status in {Answer.Status.ANSWERED, Answer.Status.REPLACED}, (
        answer.status,
        answer.metrics,
        answer.raw_output,
    )


class _KillServerAfter:
    """Passes the server's pieces through and kills the server once ``after`` pieces have arrived."""

    def __init__(self, llm: OpenAICompatibleLLM, process: subprocess.Popen[bytes], after: int) -> None:
        self.name, self._llm, self._process, self._after = llm.name, llm, process, after
        self.received: list[str] = []
        self.killed_at: float | None = None

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        for piece in self._llm.stream(messages, max_tokens=max_tokens, temperature=temperature):
            self.received.append(piece)
            yield piece
            if len(self.received) == self._after:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
                self.killed_at = time.monotonic()


def test_server_killed_mid_stream_raises_and_the_pipeline_stores_the_partial_output(
    own_llm_server: LLMServer, demo_kb_index: Path, settings: object
) -> None:
    from assistant.models import Answer, Conversation
    from assistant.services import answer_question

    # The question and prompt of the pipeline test, which the model answers at length: the kill
    # lands mid-answer, never after a short complete reply.
    settings.LLM_MAX_TOKENS = 300  # type: ignore[attr-defined]
    settings.LLM_TEMPERATURE = 0.0  # type: ignore[attr-defined]
    llm = _KillServerAfter(OpenAICompatibleLLM(own_llm_server.base_url, timeout_s=120), own_llm_server.process, 4)
    conversation = Conversation.objects.create(session_key="llm-killed", ui_language="fr")
    answer = answer_question(
        conversation=conversation,
        question="Comment échanger mon permis de conduire étranger ?",
        ui_language="fr",
        emit=lambda event: None,
        steps=_chat_steps(llm, context_chars=1000),
    )
    answer.refresh_from_db()
    assert llm.killed_at is not None and own_llm_server.process.returncode is not None
    assert answer.status == Answer.Status.FAILED
    assert answer.metrics["reason"] == "llm_unavailable"  # Compose caught LLMUnavailable
    # The partial answer is kept for review: at least what arrived before the kill.
    assert answer.raw_output.startswith("".join(llm.received[:4]))
    # The cut is noticed at once, not after the (120 s) read timeout.
    assert time.monotonic() - llm.killed_at < 5


def test_dead_server_raises_quickly_after_bounded_connect_retries() -> None:
    port = _free_port()  # nothing listens there any more: connections are refused
    llm = OpenAICompatibleLLM(f"http://127.0.0.1:{port}/v1", timeout_s=30, connect_retries=2, retry_backoff_s=0.2)
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="after 3 attempts"):
        list(llm.stream(HELLO, max_tokens=5, temperature=0.0))
    assert time.monotonic() - started < 3


_CANNED = {
    "cut": b"",
    "busy": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbusy",
    # One piece, then a clean close: no finish reason, no [DONE].
    "truncated": b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    b'data: {"choices": [{"index": 0, "delta": {"content": "Bonjour"}, "finish_reason": null}]}\n\n',
}


class _Listener:
    """A loopback TCP server that accepts connections, reads each request, then does ``behaviour``.

    ``hang``: never reads nor answers; the others send ``_CANNED[behaviour]`` and close.
    """

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        self._open: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            if self.behaviour == "hang":
                self._open.append(conn)  # accepted, read nothing, never answer
                continue
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:  # the request headers ...
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            while len(body) < length:  # ... and body have been sent in full
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            self.requests += 1
            conn.sendall(_CANNED[self.behaviour])
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._open:
            conn.close()
        self._sock.close()


@pytest.fixture
def listener(request: pytest.FixtureRequest) -> Iterator[_Listener]:
    server = _Listener(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("listener", ["hang"], indirect=True)
def test_hanging_server_times_out_per_llm_timeout_setting(listener: _Listener, settings: object) -> None:
    from assistant.llm import get_llm

    settings.LLM_BASE_URL = listener.base_url  # type: ignore[attr-defined]
    settings.LLM_TIMEOUT_S = 1.0  # type: ignore[attr-defined]
    get_llm.cache_clear()
    try:
        llm = get_llm()
        assert isinstance(llm, OpenAICompatibleLLM)
        started = time.monotonic()
        with pytest.raises(LLMUnavailable, match="ReadTimeout"):
            list(llm.stream(HELLO, max_tokens=5, temperature=0.0))
        elapsed = time.monotonic() - started
    finally:
        get_llm.cache_clear()
    assert 0.9 <= elapsed < 3, elapsed


@pytest.mark.parametrize("listener", ["cut"], indirect=True)
def test_request_is_not_retried_once_sent(listener: _Listener) -> None:
    llm = OpenAICompatibleLLM(listener.base_url, timeout_s=5, connect_retries=3, retry_backoff_s=0.05)
    with pytest.raises(LLMUnavailable):
        list(llm.stream(HELLO, max_tokens=5, temperature=0.0))
    assert listener.requests == 1  # a retried generation would run (and bill a slot) twice


@pytest.mark.parametrize(
    ("listener", "message"),
    [("busy", "answered 503: busy"), ("truncated", "before the answer was complete")],
    indirect=["listener"],
)
def test_error_status_and_truncated_stream_raise_llm_unavailable(listener: _Listener, message: str) -> None:
    llm = OpenAICompatibleLLM(listener.base_url, timeout_s=5, connect_retries=3, retry_backoff_s=0.05)
    received: list[str] = []
    with pytest.raises(LLMUnavailable, match=message):
        received.extend(llm.stream(HELLO, max_tokens=5, temperature=0.0))
    assert listener.requests == 1
