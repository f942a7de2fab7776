"""Unanswered and trending questions: what citizens asked that the knowledge base could not answer well.

A question counts as unanswered when its answer was
- ``declined``: retrieval found nothing relevant enough, or the model said the sources hold no answer;
- ``replaced``: the model's text failed the citation check and the citizen got the list of sources
  instead (except a ``prompt_leak``: that is an attack, not missing content);
- low confidence: ``answered``, but the best chunk retrieval kept has a dense (cosine) score under
  ``UNANSWERED_LOW_SCORE`` (``metrics["retrieval"]["chunks"]``, entries with ``kept`` and ``dense``):
  the answer rests on passages that only just cleared the decline threshold (``min_dense_score``).
  Answers stored before chunk scores were recorded are never counted as low confidence.

Questions are stored PII-redacted. They are embedded with the same embedding model as retrieval
(cached by text) and grouped by meaning (``clusters_greedy``): a greedy pass where each question
joins the group whose centroid is closest if the cosine similarity reaches
``UNANSWERED_CLUSTER_THRESHOLD``, then groups whose centroids are that similar are merged, then
every question moves to its closest final centroid, so the result depends little on order.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from assistant.embedder import Embedder, get_embedder
from assistant.models import Answer
from review.dashboard import DateRange, report_languages

logger = logging.getLogger(__name__)

LOW_CONFIDENCE = "low_confidence"
EXCLUDED_REASONS = frozenset({"prompt_leak"})
TREND_DAYS = 7


def iso_week(day: date) -> str:
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def period_weeks(period: DateRange) -> list[str]:
    """The ISO weeks the period touches, in order."""
    return list(dict.fromkeys(iso_week(day) for day in period.days()))


def best_kept_score(retrieval: object) -> float | None:
    """The highest dense (cosine) score among the chunks retrieval kept, as recorded in its metrics."""
    chunks = retrieval.get("chunks") if isinstance(retrieval, dict) else None
    if not isinstance(chunks, list):
        return None  # answers stored before chunk scores were recorded
    scores = [
        float(c["dense"])
        for c in chunks
        if isinstance(c, dict) and c.get("kept") and isinstance(c.get("dense"), (int, float))
    ]
    return max(scores, default=None)


def retrieval_weak(retrieval: object) -> bool:
    """Retrieval kept chunks, but the best of them scored under ``UNANSWERED_LOW_SCORE``."""
    best = best_kept_score(retrieval)
    return best is not None and best < settings.UNANSWERED_LOW_SCORE


def answer_low_confidence(*, status: str, metrics: object) -> bool:
    """An answered question whose retrieval was weak (see ``retrieval_weak``)."""
    if status != Answer.Status.ANSWERED or not isinstance(metrics, dict):
        return False
    return retrieval_weak(metrics.get("retrieval"))


@dataclass(frozen=True)
class UnansweredQuestion:
    answer_id: int
    question: str
    language: str
    kind: str  # declined | replaced | low_confidence
    reason: str  # the pipeline's reason (below_threshold, model_found_no_answer, no_valid_citation, ...)
    created_at: datetime

    @property
    def day(self) -> date:
        return timezone.localtime(self.created_at).date()


def unanswered_questions(
    *, period: DateRange, language: str = "", limit: int | None = None
) -> list[UnansweredQuestion]:
    """Declined, replaced and low-confidence questions of the period, newest first (at most ``limit``)."""
    limit = settings.UNANSWERED_MAX_QUESTIONS if limit is None else limit
    statuses = [Answer.Status.DECLINED, Answer.Status.REPLACED, Answer.Status.ANSWERED]
    rows = period.answers().filter(status__in=statuses)
    if language:
        rows = rows.filter(language=language)
    found: list[UnansweredQuestion] = []
    # Only the metrics this needs: the JSON of every answered row is read to find the weak ones.
    columns = ("id", "question", "language", "status", "metrics__reason", "metrics__retrieval", "created_at")
    ordered = rows.order_by("-created_at", "-id").values_list(*columns)
    for answer_id, question, lang, status, reason, retrieval, created_at in ordered.iterator(chunk_size=500):
        reason = reason if isinstance(reason, str) else ""
        if not question.strip() or reason in EXCLUDED_REASONS:
            continue
        if status == Answer.Status.ANSWERED:
            if not retrieval_weak(retrieval):
                continue
            kind = LOW_CONFIDENCE
        else:
            kind = str(status)
        found.append(UnansweredQuestion(answer_id, question, lang, kind, reason, created_at))
        if len(found) >= limit:
            break
    return found


# --- embeddings -----------------------------------------------------------------------------
def _cache_key(model: str, text: str) -> str:
    digest = hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()[:40]
    return f"review:embedding:{digest}"


def questions_embed(*, texts: Sequence[str], embedder: Embedder) -> np.ndarray:
    """L2-normalised vectors, one row per text. Vectors are cached by model and text; a cache that
    fails (Redis down) only costs the time of embedding again."""
    keys = [_cache_key(embedder.name, text) for text in texts]
    try:
        cached: dict[str, list[float]] = cache.get_many(keys)
    except Exception as exc:  # the cache backend's own errors have no common base class
        logger.warning("embedding cache unavailable: %s", type(exc).__name__)
        cached = {}
    missing = [i for i, key in enumerate(keys) if key not in cached]
    if missing:
        fresh = embedder.embed_documents([texts[i] for i in missing])
        new = {keys[i]: vector for i, vector in zip(missing, fresh, strict=True)}
        cached.update(new)
        try:
            # Kept as long as the questions themselves (retention), so each is embedded once.
            cache.set_many(new, timeout=(settings.CONVERSATION_RETENTION_DAYS + 1) * 24 * 3600)
        except Exception as exc:  # as above: storing is an optimisation only
            logger.warning("embedding cache unavailable: %s", type(exc).__name__)
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return _unit(np.asarray([cached[key] for key in keys], dtype=np.float32))


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def clusters_greedy(vectors: np.ndarray, *, threshold: float) -> list[list[int]]:
    """Group row indices of unit vectors whose meaning is close (cosine to a group's centroid >= threshold).

    1. Leader pass: each row joins the group with the closest centroid if close enough, else starts one.
    2. Merge pass (centroid linkage): the two groups with the closest centroids are merged while
       those centroids are at least ``threshold`` similar, so a paraphrase that happened to start its
       own group early is not left apart.
    3. Every row moves to its closest final centroid.

    Returns the groups largest first (ties: the group holding the earliest row first); rows keep
    their input order inside a group.
    """
    count = len(vectors)
    if count == 0:
        return []
    sums = np.zeros_like(vectors)
    centroids = np.zeros_like(vectors)
    groups = 0
    for row in range(count):
        vector = vectors[row]
        if groups:
            similarities = centroids[:groups] @ vector
            best = int(np.argmax(similarities))
            if similarities[best] >= threshold:
                sums[best] += vector
                centroids[best] = _unit(sums[best])
                continue
        sums[groups] = vector
        centroids[groups] = vector
        groups += 1
    sums, centroids = sums[:groups], centroids[:groups]
    alive = np.ones(groups, dtype=bool)
    closeness = centroids @ centroids.T
    np.fill_diagonal(closeness, -np.inf)
    while groups > 1:
        first, second = (int(i) for i in np.unravel_index(int(np.argmax(closeness)), closeness.shape))
        if closeness[first, second] < threshold:
            break
        keep, gone = min(first, second), max(first, second)
        sums[keep] += sums[gone]
        centroids[keep] = _unit(sums[keep])
        alive[gone] = False
        closeness[gone, :] = closeness[:, gone] = -np.inf
        linked = np.where(alive, centroids @ centroids[keep], -np.inf)
        linked[keep] = -np.inf
        closeness[keep, :] = closeness[:, keep] = linked
    final = centroids[alive]
    assignment = np.argmax(vectors @ final.T, axis=1)
    members: dict[int, list[int]] = {}
    for row, label in enumerate(assignment.tolist()):
        members.setdefault(label, []).append(row)
    return sorted(members.values(), key=lambda rows: (-len(rows), rows[0]))


# --- the report -----------------------------------------------------------------------------
@dataclass(frozen=True)
class QuestionCluster:
    representative: UnansweredQuestion
    questions: tuple[UnansweredQuestion, ...]  # newest first
    languages: dict[str, int]
    weeks: dict[str, int]
    kinds: dict[str, int]
    latest: datetime
    recent: int  # in the last TREND_DAYS days of the period
    previous: int  # in the TREND_DAYS days before those

    @property
    def size(self) -> int:
        return len(self.questions)

    @property
    def rising(self) -> bool:
        return self.recent > self.previous

    def examples(self, limit: int = 5) -> list[UnansweredQuestion]:
        """Other questions of the cluster, newest first, without repeating the representative's text."""
        seen = {self.representative.question.casefold()}
        found: list[UnansweredQuestion] = []
        for question in self.questions:
            key = question.question.casefold()
            if key not in seen:
                seen.add(key)
                found.append(question)
            if len(found) >= limit:
                break
        return found


@dataclass(frozen=True)
class UnansweredReport:
    period: DateRange
    language: str
    threshold: float
    weeks: tuple[str, ...]
    languages: tuple[str, ...]
    clusters: tuple[QuestionCluster, ...]
    questions: int
    truncated: bool  # more questions matched than UNANSWERED_MAX_QUESTIONS: only the newest were clustered

    def iter_clusters(self, order: str = "size") -> Iterator[QuestionCluster]:
        """Largest first, or ``order="trend"``: the biggest rise of the last days over the days before."""
        if order == "trend":
            yield from sorted(self.clusters, key=lambda c: (-(c.recent - c.previous), -c.recent, -c.size))
        else:
            yield from self.clusters


def _cluster(
    members: list[UnansweredQuestion], vectors: np.ndarray, *, period: DateRange, weeks: Sequence[str]
) -> QuestionCluster:
    centroid = vectors.mean(axis=0)
    closeness = vectors @ centroid
    # The member closest to the centroid speaks for the cluster; among equals, the newest.
    best = max(range(len(members)), key=lambda i: (round(float(closeness[i]), 5), members[i].created_at))
    ordered = tuple(sorted(members, key=lambda q: (q.created_at, q.answer_id), reverse=True))
    recent_from = period.end - timedelta(days=TREND_DAYS - 1)
    previous_from = recent_from - timedelta(days=TREND_DAYS)
    week_counts = Counter(iso_week(q.day) for q in members)
    language_counts = Counter(q.language for q in members)
    return QuestionCluster(
        representative=members[best],
        questions=ordered,
        languages={code: language_counts[code] for code in report_languages() if language_counts[code]},
        weeks={week: week_counts[week] for week in weeks},
        kinds=dict(Counter(q.kind for q in members).most_common()),
        latest=ordered[0].created_at,
        recent=sum(1 for q in members if q.day >= recent_from),
        previous=sum(1 for q in members if previous_from <= q.day < recent_from),
    )


def unanswered_report(
    *,
    period: DateRange,
    language: str = "",
    embedder: Embedder | None = None,
    threshold: float | None = None,
) -> UnansweredReport:
    """The period's unanswered questions grouped by meaning, largest group first."""
    threshold = settings.UNANSWERED_CLUSTER_THRESHOLD if threshold is None else threshold
    limit = settings.UNANSWERED_MAX_QUESTIONS
    questions = unanswered_questions(period=period, language=language, limit=limit + 1)
    truncated = len(questions) > limit
    questions = questions[:limit]
    weeks = period_weeks(period)
    clusters: list[QuestionCluster] = []
    if questions:
        vectors = questions_embed(texts=[q.question for q in questions], embedder=embedder or get_embedder())
        for rows in clusters_greedy(vectors, threshold=threshold):
            clusters.append(_cluster([questions[r] for r in rows], vectors[rows], period=period, weeks=weeks))
    clusters.sort(key=lambda c: (-c.size, -c.latest.timestamp()))
    return UnansweredReport(
        period=period,
        language=language,
        threshold=threshold,
        weeks=tuple(weeks),
        languages=report_languages(),
        clusters=tuple(clusters),
        questions=len(questions),
        truncated=truncated,
    )


def unanswered_csv_rows(report: UnansweredReport, *, examples: int = 5) -> Iterator[list[object]]:
    """One row per cluster: its representative question, size, counts per language and week, latest date."""
    language_columns = [f"lang_{code or 'undetected'}" for code in report.languages]
    yield [
        "cluster",
        "representative_question",
        "size",
        *language_columns,
        *report.weeks,
        "declined",
        "replaced",
        "low_confidence",
        "latest",
        "other_questions",
    ]
    for number, cluster in enumerate(report.clusters, start=1):
        yield [
            number,
            cluster.representative.question,
            cluster.size,
            *(cluster.languages.get(code, 0) for code in report.languages),
            *(cluster.weeks.get(week, 0) for week in report.weeks),
            cluster.kinds.get(Answer.Status.DECLINED, 0),
            cluster.kinds.get(Answer.Status.REPLACED, 0),
            cluster.kinds.get(LOW_CONFIDENCE, 0),
            timezone.localtime(cluster.latest).date().isoformat(),
            " | ".join(q.question for q in cluster.examples(examples)),
        ]
