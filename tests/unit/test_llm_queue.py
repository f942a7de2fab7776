from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.llm import ChatMessage, LlamaCppLLM, observe_queue


class _BlockingModel:
    """Stands in for llama.cpp: each generation waits until the test releases it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def create_chat_completion(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        self.started.set()
        self.release.wait(5)
        yield {"choices": [{"delta": {"content": "ok"}}]}


def _llm(tmp_path: Path) -> tuple[LlamaCppLLM, _BlockingModel]:
    llm = LlamaCppLLM(tmp_path / "model.gguf", n_ctx=512, n_threads=1, n_gpu_layers=0)
    model = _BlockingModel()
    llm._model = model
    return llm, model


def _generate(llm: LlamaCppLLM, positions: list[int], out: list[str]) -> None:
    with observe_queue(positions.append):
        out.append("".join(llm.stream([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0)))


def test_waiting_requests_learn_their_place_in_line_and_are_served_in_order(tmp_path: Path) -> None:
    llm, model = _llm(tmp_path)
    positions: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    order: list[str] = []
    threads = []
    for name in ("a", "b", "c"):
        thread = threading.Thread(target=_generate, args=(llm, positions[name], order))
        thread.start()
        threads.append(thread)
        if name == "a":
            assert model.started.wait(5)
        deadline = time.monotonic() + 5
        while name != "a" and llm.waiting < (1 if name == "b" else 2) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert llm.waiting == 2
    model.release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["ok", "ok", "ok"]
    assert positions["a"] == []  # served at once: nothing to report
    assert positions["b"] == [1]
    # Moves up as the queue drains (whether it wakes in between depends on thread scheduling).
    assert positions["c"] in ([2], [2, 1])
    assert llm.waiting == 0


def test_a_generation_abandoned_midway_frees_the_model(tmp_path: Path) -> None:
    llm, model = _llm(tmp_path)
    model.release.set()
    stream = llm.stream([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0)
    next(stream)
    stream.close()  # the citizen pressed stop
    assert "".join(llm.stream([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0)) == "ok"


def test_a_model_server_gets_at_most_its_slots_the_rest_wait_in_line() -> None:
    """The server adapter's gate, against a real HTTP server that holds each generation open."""
    import http.server
    import json

    from assistant.llm import OpenAICompatibleLLM

    release = threading.Event()
    active, peak, lock = [0], [0], threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            release.wait(5)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            chunk = {"choices": [{"delta": {"content": "ok"}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
            with lock:
                active[0] -= 1

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    llm = OpenAICompatibleLLM(f"http://127.0.0.1:{server.server_address[1]}/v1", timeout_s=10, slots=2)
    outputs: list[str] = []
    positions: list[list[int]] = [[] for _ in range(4)]
    threads = [
        threading.Thread(target=lambda i=i: _generate(llm, positions[i], outputs))  # type: ignore[misc]
        for i in range(4)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while (llm.waiting < 2 or active[0] < 2) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert llm.waiting == 2 and active[0] == 2  # two generations on the server, two in line
    release.set()
    for thread in threads:
        thread.join(10)
    server.shutdown()
    assert outputs == ["ok"] * 4 and peak[0] == 2 and llm.waiting == 0
    assert sorted(p[0] for p in positions if p) == [1, 2]  # the waiting ones learnt their place
