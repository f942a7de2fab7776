"""Per-question scores and their aggregation; pure functions, so any figure can be recomputed."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from assistant.lexical import fold

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[A-Z][A-Z0-9]{1,}\b")  # acronyms: SNCA, CNS, ADEM


def rank_of(retrieved: Sequence[str], acceptable: frozenset[str]) -> int | None:
    """1-based rank of the first acceptable document, or None."""
    for rank, doc in enumerate(retrieved, start=1):
        if doc in acceptable:
            return rank
    return None


def _squash(text: str) -> str:
    return re.sub(r"[\s’'`\"«»]+", " ", fold(text)).strip()


def fact_found(fact: str, answer: str) -> bool:
    """Strict: the fact's text appears in the answer, ignoring case, accents and quote styles."""
    return _squash(fact) in _squash(answer)


def fact_found_loose(fact: str, answer: str) -> bool:
    """For translated answers: every number and acronym of the fact appears in the answer.

    A fact with neither can only be found strictly.
    """
    anchors = _NUMBER.findall(fact) + _NAME.findall(fact)
    if not anchors:
        return fact_found(fact, answer)
    folded = _squash(answer)
    return all(_squash(anchor) in folded for anchor in anchors)


def coverage(facts: Sequence[str], answer: str, *, loose: bool) -> float | None:
    if not facts:
        return None
    judge = fact_found_loose if loose else fact_found
    return sum(judge(f, answer) for f in facts) / len(facts)


def mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.fmean(present), 3) if present else None


def percentile(values: Sequence[float | None], q: float) -> float | None:
    present = sorted(v for v in values if v is not None)
    if not present:
        return None
    index = min(len(present) - 1, max(0, round(q * (len(present) - 1))))
    return round(present[index], 1)
