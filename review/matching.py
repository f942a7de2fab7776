"""Find the approved verified answer a citizen's question asks for, if one is close enough.

A question matches when its embedding is at least ``VERIFIED_MATCH_THRESHOLD`` (cosine) from the
verified answer's question or one of its paraphrases, and the answer has a text in the question's
language. Phrasing vectors are cached per process and recomputed when the answer is edited.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from assistant.embedder import Embedder, get_embedder
from assistant.lexical import fold
from assistant.types import Source
from ingestion.models import Document
from review.models import VerifiedAnswer

_cache: dict[tuple[int, str], tuple[datetime, list[list[float]]]] = {}
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class VerifiedMatch:
    verified_answer_id: int
    score: float
    phrasing: str
    text: str
    sources: tuple[Source, ...]


def normalised(text: str) -> str:
    """What is embedded, for questions and phrasings alike."""
    return fold(" ".join(text.split()))


def best_similarity(query: list[float], vectors: list[list[float]]) -> tuple[float, int]:
    """The highest cosine (vectors are normalised) and its position; (-1.0, -1) when there are none."""
    best, position = -1.0, -1
    for i, vector in enumerate(vectors):
        score = sum(a * b for a, b in zip(query, vector, strict=True))
        if score > best:
            best, position = score, i
    return best, position


def _phrasing_vectors(verified: VerifiedAnswer, embedder: Embedder) -> list[list[float]]:
    key = (verified.pk, embedder.name)
    with _cache_lock:
        cached = _cache.get(key)
    if cached and cached[0] == verified.updated_at:
        return cached[1]
    vectors = embedder.embed_documents([normalised(p) for p in verified.phrasings()])
    with _cache_lock:
        _cache[key] = (verified.updated_at, vectors)
    return vectors


def _sources(documents: list[Document], score: float) -> tuple[Source, ...]:
    return tuple(
        Source(
            number=number,
            document_key=d.key,
            procedure=d.procedure,
            language=d.language,
            title=d.title,
            heading_path="",
            url=d.url,
            text="",
            score=round(score, 4),
        )
        for number, d in enumerate(documents, start=1)
    )


def serveable_verified_answers(language: str) -> list[VerifiedAnswer]:
    """Approved, not past review, with a text in ``language`` and every source page published."""
    candidates = (
        VerifiedAnswer.objects.filter(
            state=VerifiedAnswer.State.APPROVED,
            review_date__gte=timezone.localdate(),
            texts__language=language,
        )
        .exclude(documents__status__in=[Document.Status.DRAFT, Document.Status.WITHDRAWN])
        .prefetch_related("texts", "documents")
        .distinct()
    )
    return [v for v in candidates if v.documents.all()]


def verified_match(
    *, question: str, language: str, embedder: Embedder | None = None, threshold: float | None = None
) -> VerifiedMatch | None:
    """The best approved verified answer for ``question`` above the threshold, or None."""
    candidates = serveable_verified_answers(language)
    if not candidates:
        return None
    embedder = embedder or get_embedder()
    threshold = settings.VERIFIED_MATCH_THRESHOLD if threshold is None else threshold
    query = embedder.embed_query(normalised(question))
    best: tuple[float, VerifiedAnswer, str] | None = None
    for verified in candidates:
        score, position = best_similarity(query, _phrasing_vectors(verified, embedder))
        if position >= 0 and (best is None or score > best[0]):
            best = (score, verified, verified.phrasings()[position])
    if best is None or best[0] < threshold:
        return None
    score, verified, phrasing = best
    text = next(t.text for t in verified.texts.all() if t.language == language)
    documents = sorted(verified.documents.all(), key=lambda d: (d.language != language, d.title))
    return VerifiedMatch(
        verified_answer_id=verified.pk, score=score, phrasing=phrasing, text=text, sources=_sources(documents, score)
    )


def best_verified_score(*, question: str, language: str, embedder: Embedder) -> tuple[float, int | None]:
    """The best similarity and its verified answer, whatever the threshold (for measuring false matches)."""
    match = verified_match(question=question, language=language, embedder=embedder, threshold=-1.0)
    return (match.score, match.verified_answer_id) if match else (-1.0, None)
