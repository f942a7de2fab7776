"""The passage of a retrieved page closest to the question, quoted word for word.

When the model's text cannot be shown (no valid citation), the citizen still gets the sentence of an
official page that shares the most of the question's words, with its citation, instead of page titles
only. Nothing is generated: the excerpt is the page's own text, so it cannot invent a fact. It is
taken only from pages in the language the reply is written in (a quote in another language would be
read with the wrong voice by a screen reader and is of little use to the citizen), and only when it
shares enough of the question's words; otherwise there is no excerpt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.lexical import content_stems
from assistant.types import Source

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+(?=[\"«„“(]?[A-ZÀ-ÖØ-Þ0-9])|\n+")
_MIN_CHARS, _MAX_CHARS = 25, 420
_SHORT = 140  # a sentence this short is quoted with the next one (it often announces a list or a figure)


@dataclass(frozen=True)
class Excerpt:
    number: int  # the source it is quoted from, as cited ``[n]``
    text: str
    matched: int  # distinct question terms found in it


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def best_excerpt(
    question: str, sources: Sequence[Source], *, language: str, min_terms: int = 2, min_share: float = 0.4
) -> Excerpt | None:
    """The best-matching sentence (or two) of the ``language`` sources, or None below the bar.

    Terms are weighted by rarity across the candidate sentences, so a word every sentence has
    ("Luxembourg", "commune") counts for little. The bar: at least ``min_terms`` distinct question
    terms and ``min_share`` of them in the excerpt.
    """
    candidates: list[tuple[Source, int, list[str], set[str]]] = []
    for source in sources:
        if source.language != language:
            continue
        parts = sentences(source.text)
        for i, sentence in enumerate(parts):
            if _MIN_CHARS <= len(sentence) <= _MAX_CHARS:
                candidates.append((source, i, parts, set(content_stems(sentence, language))))
    wanted = set(content_stems(question, language))
    if not candidates or not wanted:
        return None
    frequency = {t: sum(t in stems for *_, stems in candidates) for t in wanted}
    weight = {t: 1.0 / math.log(2 + frequency[t]) for t in wanted}
    best: tuple[float, Excerpt] | None = None
    for source, i, parts, stems in candidates:
        hit = wanted & stems
        if len(hit) < min_terms or len(hit) / len(wanted) < min_share:
            continue
        score = sum(weight[t] for t in hit)
        if best is None or score > best[0]:  # ties keep the better-ranked source (sources come best first)
            text = parts[i]
            if len(text) < _SHORT and i + 1 < len(parts) and len(text) + len(parts[i + 1]) < _MAX_CHARS:
                text = f"{text} {parts[i + 1]}"
            best = (score, Excerpt(number=source.number, text=text, matched=len(hit)))
    return best[1] if best else None
