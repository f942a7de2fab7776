"""Circuit breakers: stop calling a dependency that keeps failing, and try it again after a pause.

A dead model server costs each question its connect retries, and a broken index its open attempt;
after ``BREAKER_FAILURES`` failures in a row the breaker *opens* and calls fail at once, with the
dependency's own exception (``LLMUnavailable``, ``IndexUnavailable``), so callers keep one failure
path. After ``BREAKER_OPEN_S`` seconds it is *half-open*: one call goes through as a trial; its
success closes the breaker, its failure opens it again for another pause.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    """One dependency's breaker; thread-safe, so web threads share what each of them learns."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @staticmethod
    def _threshold() -> int:
        return max(1, int(getattr(settings, "BREAKER_FAILURES", 3)))

    @staticmethod
    def _open_s() -> float:
        return float(getattr(settings, "BREAKER_OPEN_S", 30.0))

    @property
    def state(self) -> str:
        with self._lock:
            return self._state()

    def _state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        if self._trial_running or time.monotonic() - self._opened_at >= self._open_s():
            return HALF_OPEN
        return OPEN

    def _allow(self) -> bool:
        with self._lock:
            state = self._state()
            if state == CLOSED:
                return True
            if state == HALF_OPEN and not self._trial_running:
                self._trial_running = True  # one trial at a time; the others still fail fast
                return True
            return False

    def _success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._trial_running = 0, None, False

    def _failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self._threshold():
                self._opened_at = time.monotonic()
            self._trial_running = False

    def _release(self) -> None:
        """The call ended without telling whether the dependency works (cancelled, other error)."""
        with self._lock:
            self._trial_running = False

    @contextmanager
    def attempt(self, unavailable: type[Exception]) -> Iterator[None]:
        """Run the block unless the breaker is open; ``unavailable`` raised inside counts as a failure."""
        if not self._allow():
            raise unavailable(f"circuit breaker {self.name!r} is open after repeated failures: not calling it")
        try:
            yield
        except unavailable:
            self._failure()
            raise
        except BaseException:
            self._release()
            raise
        self._success()

    def reset(self) -> None:
        self._success()


_BREAKERS: dict[str, CircuitBreaker] = {}
_BREAKERS_LOCK = threading.Lock()


def circuit_breaker(name: str) -> CircuitBreaker:
    """The process's breaker for the dependency ``name`` ("model", "index"), created on first use."""
    with _BREAKERS_LOCK:
        if name not in _BREAKERS:
            _BREAKERS[name] = CircuitBreaker(name)
        return _BREAKERS[name]


def breaker_states() -> dict[str, str]:
    with _BREAKERS_LOCK:
        breakers = list(_BREAKERS.values())
    return {b.name: b.state for b in breakers}


def breakers_reset() -> None:
    """Close every breaker (tests, and after an operator fixed a dependency and wants no pause)."""
    with _BREAKERS_LOCK:
        breakers = list(_BREAKERS.values())
    for breaker in breakers:
        breaker.reset()
