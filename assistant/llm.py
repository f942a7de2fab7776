"""LLM adapters: llama.cpp in-process (default) or an OpenAI-compatible server (LLM_BASE_URL)."""

from __future__ import annotations

import atexit
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings

from assistant.circuit import circuit_breaker


class LLMUnavailable(RuntimeError):
    """The model cannot be loaded or reached; the message is for operators, not citizens."""


# The name of the model's circuit breaker, the same as its readiness check's.
MODEL_BREAKER = "model"


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


class _SlotQueue:
    """A first-come, first-served gate for ``slots`` concurrent generations that knows each waiter's place.

    ``threading.Lock``/``Semaphore`` are neither fair nor countable; an explicit line makes both true.
    With one slot it is the in-process model's queue; with N it mirrors a model server's ``--parallel``
    slots, so that questions wait (and are counted, and refused when too many) here rather than piling
    up unseen on the server.
    """

    def __init__(self, slots: int = 1) -> None:
        self._cond = threading.Condition()
        self._slots = max(1, slots)
        self._active = 0
        self._line: deque[object] = deque()

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot (not counting those being generated)."""
        with self._cond:
            return len(self._line)

    @contextmanager
    def turn(self, on_position: QueueObserver) -> Iterator[None]:
        ticket = object()
        with self._cond:
            self._line.append(ticket)
            reported = -1
            while not (self._active < self._slots and self._line[0] is ticket):
                ahead = self._line.index(ticket) + 1  # the ones before it, plus the generation it waits for
                if ahead != reported:
                    on_position(ahead)
                    reported = ahead
                self._cond.wait()
            self._line.popleft()
            self._active += 1
            self._cond.notify_all()  # the next in line may have a free slot too
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()


class LLM(Protocol):
    name: str

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        """Yield the answer's text pieces as the model produces them."""
        ...


def prompt_state_cache(capacity_mb: int) -> Any:
    """llama-cpp-python's RAM cache of prompt states, keeping only what a restore needs.

    A saved state holds the KV cache of the tokens seen (~29 KB a token for the offline model) and a
    copy of the logits buffer, up to n_batch x n_vocab floats (~311 MB for a 152k vocabulary), which
    the cache's capacity does not even count. A restored state is decoded again before sampling, so
    only the last row of logits is kept, and the capacity then bounds the real memory.
    """
    from llama_cpp import LlamaRAMCache

    class _PromptStateCache(LlamaRAMCache):
        def __setitem__(self, key: Any, value: Any) -> None:
            value.scores = value.scores[-1:].copy()
            super().__setitem__(key, value)

    return _PromptStateCache(capacity_bytes=capacity_mb << 20)


class LlamaCppLLM:
    """A GGUF model run in this process by llama-cpp-python, one generation at a time."""

    def __init__(
        self, model_path: Path, *, n_ctx: int, n_threads: int, n_gpu_layers: int, prompt_cache_mb: int = 0
    ) -> None:
        self.name = model_path.resolve().name if model_path.exists() else model_path.name
        self._path = model_path
        self._n_ctx, self._n_threads, self._n_gpu_layers = n_ctx, n_threads or None, n_gpu_layers
        self._prompt_cache_mb = prompt_cache_mb
        self._model: Any = None
        self._load_lock = threading.Lock()
        # llama.cpp contexts are not re-entrant: requests queue here, in order of arrival.
        self._queue = _SlotQueue(slots=1)

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

                try:
                    self._model = Llama(
                        model_path=str(self._path),
                        n_ctx=self._n_ctx,
                        n_threads=self._n_threads,
                        n_gpu_layers=self._n_gpu_layers,
                        verbose=False,
                    )
                except ValueError as exc:  # llama-cpp-python's answer to an unreadable or truncated file
                    raise LLMUnavailable(f"model file {self._path} cannot be loaded: {exc}") from exc
                if self._prompt_cache_mb:
                    # llama.cpp keeps only the last prompt's KV state; a follow-up's answer prompt comes
                    # after the rephrase call, so without this cache its shared prefix is evaluated again.
                    self._model.set_cache(prompt_state_cache(self._prompt_cache_mb))
                # Free the native context before interpreter teardown, not in __del__ after it.
                atexit.register(self._model.close)
            return self._model

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        # Only loading is behind the breaker: a missing or unloadable model fails each question fast.
        with circuit_breaker(MODEL_BREAKER).attempt(LLMUnavailable):
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
    """An OpenAI-compatible chat server (llama.cpp's, llama-cpp-python's, vLLM...), streamed over HTTP.

    Tested against a real ``python -m llama_cpp.server`` (tests/integration/test_llm_server.py).
    Failure contract: every way the server can fail (refused, silent, killed mid-stream, HTTP error,
    garbled stream) raises ``LLMUnavailable``, so the pipeline stores a failed answer with what
    was produced so far. Only *connecting* is retried: once the request has been sent, the server
    may already be generating, and a retry would run (and bill a slot for) the generation twice.
    """

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "default",
        timeout_s: float = 60.0,
        connect_timeout_s: float = 5.0,
        connect_retries: int = 2,
        retry_backoff_s: float = 0.2,
        slots: int = 2,
    ) -> None:
        self.name = f"{model}@{base_url}"
        # This process sends at most ``slots`` generations at once (the server's --parallel divided
        # among the web processes); the others wait in line and count for LLM_MAX_QUEUE.
        self._queue = _SlotQueue(slots=slots)
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._timeout_s = timeout_s
        self._connect_timeout_s = min(connect_timeout_s, timeout_s)
        self._connect_retries = connect_retries
        self._backoff_s = retry_backoff_s

    @property
    def waiting(self) -> int:
        """How many requests of this process are waiting for a server slot right now."""
        return self._queue.waiting

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        with self._queue.turn(_notify_queue):
            yield from self._stream(messages, max_tokens=max_tokens, temperature=temperature)

    def _stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        import httpx

        body = {
            "model": self._model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "stream": True,
        }
        # ``read`` bounds the silence between two streamed pieces (and prompt evaluation before the
        # first), not the whole answer: a long answer that keeps streaming is fine, a server that
        # stops talking is not. Connecting gets a short timeout of its own, since it is retried.
        timeout = httpx.Timeout(self._timeout_s, connect=self._connect_timeout_s)
        # A fresh client per answer: no pooled keep-alive connection that the server may have
        # closed meanwhile (a failure on one would look like a failure after sending).
        # trust_env=False: the model server is an internal service, never reached through the
        # HTTP(S)_PROXY meant for the outside world.
        # An open breaker fails here, before any connection; a failure anywhere below counts towards opening it.
        with (
            circuit_breaker(MODEL_BREAKER).attempt(LLMUnavailable),
            httpx.Client(timeout=timeout, trust_env=False) as client,
        ):
            request = client.build_request("POST", self._url, json=body)
            response = self._send(client, request)
            try:
                yield from self._pieces(response)
            except httpx.HTTPError as exc:
                raise LLMUnavailable(f"LLM server {self._url} failed while streaming: {exc!r}") from exc
            finally:
                response.close()

    def _send(self, client: Any, request: Any) -> Any:
        """Send the request, retrying only when no connection could be made (nothing was sent)."""
        import httpx

        attempts = 1 + max(0, self._connect_retries)
        for attempt in range(1, attempts + 1):
            try:
                response = client.send(request, stream=True)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == attempts:
                    raise LLMUnavailable(
                        f"LLM server {self._url} unreachable after {attempts} attempts: {exc!r}"
                    ) from exc
                time.sleep(self._backoff_s * 2 ** (attempt - 1))
                continue
            except httpx.HTTPError as exc:  # sent, then timed out or cut: never retried
                raise LLMUnavailable(f"LLM server {self._url} failed: {exc!r}") from exc
            if response.status_code != 200:
                detail = response.read()[:300].decode(errors="replace")
                response.close()
                raise LLMUnavailable(f"LLM server {self._url} answered {response.status_code}: {detail}")
            return response
        raise AssertionError("unreachable")  # the loop returns or raises

    def _pieces(self, response: Any) -> Iterator[str]:
        finished = False
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                choice = json.loads(data)["choices"][0]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise LLMUnavailable(f"LLM server {self._url} sent an unreadable chunk: {data[:200]!r}") from exc
            finished = finished or bool(choice.get("finish_reason"))
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                yield piece
        # A stream that stops without [DONE] or a finish reason was cut (proxy, crash): the answer
        # is truncated, and a truncated answer must not be shown as a complete one.
        if not finished:
            raise LLMUnavailable(f"LLM server {self._url} closed the stream before the answer was complete")


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
        return OpenAICompatibleLLM(
            settings.LLM_BASE_URL, timeout_s=settings.LLM_TIMEOUT_S, slots=settings.LLM_SERVER_SLOTS
        )
    return LlamaCppLLM(
        settings.LLM_MODEL_PATH,
        n_ctx=settings.LLM_N_CTX,
        n_threads=settings.LLM_N_THREADS,
        n_gpu_layers=settings.LLM_N_GPU_LAYERS,
        prompt_cache_mb=settings.LLM_PROMPT_CACHE_MB,
    )
