"""The one context every answer step reads and writes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.types import RetrievalResult, Source, StreamEvent


def _no_emit(event: StreamEvent) -> None:
    return None


def _never() -> bool:
    return False


@dataclass
class AnswerContext:
    question: str
    ui_language: str
    emit: Callable[[StreamEvent], None] = _no_emit
    cancelled: Callable[[], bool] = _never
    language: str = ""
    # The language the model writes in: the question's, or its fallback (ANSWER_LANGUAGE_FALLBACKS).
    answer_language: str = ""
    # Shown before a fallback-language answer, in the question's language (already translated).
    notice: str = ""
    history: tuple[tuple[str, str], ...] = ()  # earlier (question, answer) pairs, oldest first
    search_variants: dict[str, str] = field(default_factory=dict)  # standalone question per language
    retrieval: RetrievalResult | None = None
    sources: tuple[Source, ...] = ()
    raw_output: str = ""
    answer: str = ""
    citations: tuple[int, ...] = ()
    status: str = "pending"
    reason: str = ""
    aborted: bool = False
    metrics: dict[str, dict[str, object]] = field(default_factory=dict)
    first_token_ms: float | None = None
    # time.monotonic() after which generation stops and the partial answer is kept (ANSWER_TIMEOUT_S).
    deadline: float = math.inf

    def shown_language(self) -> str:
        """The language of the answer's body: the fallback's when the notice heads it (the notice keeps
        the question's language, so a screen reader reads each part with the right voice)."""
        if self.notice and self.answer_language and self.answer.startswith(self.notice):
            return self.answer_language
        return self.language

    def abort(self, *, status: str, reason: str, reply: str) -> None:
        """Stop the pipeline here; ``reply`` is what the citizen reads (already translated)."""
        self.status, self.reason, self.answer, self.aborted = status, reason, reply, True
