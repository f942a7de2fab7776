"""LLM adapters: llama.cpp in-process (default) or an OpenAI-compatible server (LLM_BASE_URL)."""

from __future__ import annotations

import atexit
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings


class LLMUnavailable(RuntimeError):
    """The model cannot be loaded or reached; the message is for operators, not citizens."""


@dataclass(frozen=True)
class ChatMessage:
    role: str
    content: str


QueueObserver = Callable[[int], None]
_observers = threading.local()


@contextmanager
def observe_queue(observer: QueueObserver) -> Iterator[None]:
    """While this runs, generations started by this thread report how many requests are ahead of them.

    Thread-local, so the pipeline needs no knowledge of queues: the web view that streams an answer
    installs an observer that turns positions into ``queue`` events.
    """
    previous = getattr(_observers, "current", None)
    _observers.current = observer
    try:
        yield
    finally:
        _observers.current = previous


def _notify_queue(ahead: int) -> None:
    observer: QueueObserver | None = getattr(_observers, "current", None)
    if observer is not None:
        observer(ahead)


class _TicketQueue:
    """A first-come, first-served lock that knows each waiter's place in line.

    ``threading.Lock`` is neither fair nor countable; tickets make both true.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    @property
    def waiting(self) -> int:
        """Requests waiting for the model (not counting the one being generated)."""
        with self._cond:
            return max(0, self._next_ticket - self._serving - 1)

    @contextmanager
    def turn(self, on_position: QueueObserver) -> Iterator[None]:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            reported = -1
            while ticket != self._serving:
                ahead = ticket - self._serving
                if ahead != reported:
                    on_position(ahead)
                    reported = ahead
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._serving += 1
                self._cond.notify_all()


class LLM(Protocol):
    name: str

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        """Yield the answer's text pieces as the model produces them."""
        ...


class LlamaCppLLM:
    """A GGUF model run in this process by llama-cpp-python, one generation at a time."""

    def __init__(self, model_path: Path, *, n_ctx: int, n_threads: int, n_gpu_layers: int) -> None:
        self.name = model_path.resolve().name if model_path.exists() else model_path.name
        self._path = model_path
        self._n_ctx, self._n_threads, self._n_gpu_layers = n_ctx, n_threads or None, n_gpu_layers
        self._model: Any = None
        self._load_lock = threading.Lock()
        # llama.cpp contexts are not re-entrant: requests queue here, in order of arrival.
        self._queue = _TicketQueue()

    @property
    def waiting(self) -> int:
        """How many requests are waiting for the model right now."""
        return self._queue.waiting

    def _llama(self) -> Any:
        with self._load_lock:
            if self._model is None:
                if not self._path.exists():
                    raise LLMUnavailable(f"model file {self._path} is missing: run `manage.py fetch_model`")
                from llama_cpp import Llama

                self._model = Llama(
                    model_path=str(self._path),
                    n_ctx=self._n_ctx,
                    n_threads=self._n_threads,
                    n_gpu_layers=self._n_gpu_layers,
                    verbose=False,
                )
                # Free the native context before interpreter teardown, not in __del__ after it.
                atexit.register(self._model.close)
            return self._model

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        llama = self._llama()
        with self._queue.turn(_notify_queue):
            chunks = llama.create_chat_completion(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                max_tokens=max_tokens,
                temperature=temperature,
                stream=True,
            )
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    yield piece


class OpenAICompatibleLLM:
    """A llama.cpp (or any OpenAI-compatible) server: streaming chat completions over HTTP."""

    def __init__(self, base_url: str, *, model: str = "default", timeout_s: float = 60.0) -> None:
        self.name = f"{model}@{base_url}"
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._timeout = timeout_s

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        import httpx

        body = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        try:
            with httpx.stream("POST", self._url, json=body, timeout=self._timeout) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    piece = json.loads(data)["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
        except httpx.HTTPError as exc:
            raise LLMUnavailable(f"LLM server {self._url} failed: {exc}") from exc


class ScriptedLLM:
    """A stand-in for fast unit tests: streams a fixed reply word by word."""

    def __init__(self, reply: str) -> None:
        self.name = "scripted"
        self.reply = reply
        self.calls: list[list[ChatMessage]] = []

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        self.calls.append(messages)
        for i, word in enumerate(self.reply.split(" ")):
            yield word if i == 0 else " " + word


@lru_cache(maxsize=1)
def get_llm() -> LLM:
    if settings.LLM_BASE_URL:
        return OpenAICompatibleLLM(settings.LLM_BASE_URL)
    return LlamaCppLLM(
        settings.LLM_MODEL_PATH,
        n_ctx=settings.LLM_N_CTX,
        n_threads=settings.LLM_N_THREADS,
        n_gpu_layers=settings.LLM_N_GPU_LAYERS,
    )
