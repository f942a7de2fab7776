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
