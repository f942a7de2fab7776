"""The pipeline step that serves an approved verified answer before retrieval and the model."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import DatabaseError

from assistant.embedder import Embedder
from assistant.pipeline.context import AnswerContext
from assistant.types import StreamEvent
from review.matching import verified_match

logger = logging.getLogger(__name__)


@dataclass
class ServeVerified:
    """A question that matches a verified answer gets it, marked as verified, with its sources.

    Anything going wrong here (database, embedder) only skips the step: the normal pipeline answers.
    """

    embedder: Embedder | None = None
    name: str = "verified"

    def __call__(self, ctx: AnswerContext) -> None:
        try:
            match = verified_match(question=ctx.question, language=ctx.language, embedder=self.embedder)
        except (DatabaseError, OSError, RuntimeError) as exc:
            logger.warning("verified answers skipped: %s", type(exc).__name__)
            ctx.metrics.setdefault(self.name, {})["skipped"] = type(exc).__name__
            return
        if match is None:
            return
        ctx.sources = match.sources
        ctx.metrics.setdefault(self.name, {}).update({"id": match.verified_answer_id, "score": round(match.score, 4)})
        ctx.emit(StreamEvent("sources", {"sources": [s.public() for s in ctx.sources]}))
        ctx.citations = tuple(s.number for s in ctx.sources)
        ctx.emit(StreamEvent("token", {"text": match.text}))
        ctx.abort(status="verified", reason="verified_answer", reply=match.text)
