"""What an answer may show: the model's text cleaned of markers, and checked against the sources.

The output check (``assistant.pipeline.steps.CheckOutput``) uses these to decide whether the
model's text reaches the citizen. Each works on plain strings, so it is tested on its own and
knows nothing of the pipeline. See docs/adr/0005-checks-after-generation.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from assistant.language import detect_language

CITATION = re.compile(r"\[(\d{1,2})\]")
# The prompt asks the model to answer exactly this when the sources do not hold the answer.
NO_ANSWER = "NO_ANSWER"
# "[2] NO_ANSWER": the model answering source by source; the marker (and its citation) is not text.
_NO_ANSWER_FRAGMENT = re.compile(r"(?:\[\d{1,2}\]\s*:?\s*)?\bNO_ANSWER\b[.:]?")
# The prompt's format placeholders copied by the model: "[n]", "<a fact from source 2>".
_PLACEHOLDER = re.compile(r"\[n\]|<[^<>\n]{1,80}>")
_URL = re.compile(r"https?://[^\s)\]>]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"(?<!\w)(?:\+|00)?\d[\d ./-]{6,}\d")


def no_answer_fragments_removed(text: str) -> str:
    return _NO_ANSWER_FRAGMENT.sub("", text)


def format_placeholders_removed(text: str) -> str:
    return _PLACEHOLDER.sub("", text)


def _strip_unsourced(text: str, sources_text: str, pattern: re.Pattern[str], normalise: Callable[[str], str]) -> str:
    allowed = {normalise(m) for m in pattern.findall(sources_text)}
    return pattern.sub(lambda m: m.group(0) if normalise(m.group(0)) in allowed else "", text)


def unsourced_contacts_removed(text: str, sources_text: str) -> str:
    """URLs, e-mail addresses and phone numbers that no source holds are removed."""
    text = _strip_unsourced(text, sources_text, _URL, lambda s: s.rstrip(".,;"))
    text = _strip_unsourced(text, sources_text, _EMAIL, str.lower)
    return _strip_unsourced(text, sources_text, _PHONE, lambda s: re.sub(r"\D", "", s))


# A number as written in an answer or a page: "8", "2.500", "2 500,00", "3,5", "1,000.50".
_NUMBER = re.compile(r"\d{1,3}(?:[ \u00a0\u202f.,']\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?")
_LIST_MARKER = re.compile(r"^\s*\d{1,2}[.)]\s", re.MULTILINE)


def _number_keys(text: str) -> tuple[set[str], set[str]]:
    """The numbers of ``text`` (digits only, zero decimals dropped) and every run of digits in them."""
    keys, runs = set(), set()
    for token in _NUMBER.findall(text):
        token = re.sub(r"[.,]0{1,2}$", "", token)
        keys.add(re.sub(r"\D", "", token))
        runs.update(re.findall(r"\d+", token))
    return keys, runs


def unsourced_numbers(answer: str, sources_text: str) -> list[str]:
    """Numbers of the answer that no source holds: amounts, ages, deadlines the model made up.

    A number counts as sourced when a source writes it, in any of the usual formats ("2.500" and
    "2 500,00" are the same number), or when each of its digit groups appears in a source (a date
    written differently). Citations ("[1]") and list markers ("1. ") are not facts and are ignored.
    """
    source_keys, source_runs = _number_keys(sources_text)
    missing = []
    for token in _NUMBER.findall(_LIST_MARKER.sub("", CITATION.sub("", answer))):
        keys, runs = _number_keys(token)
        if not (keys & source_keys) and not runs <= source_runs:
            missing.append(token)
    return missing


def written_language(prose: str, *, min_words: int = 8, min_confidence: float = 0.9) -> str:
    """The language an answer is written in, when it is long and clear enough to tell; else ""."""
    if len(prose.split()) < min_words:
        return ""
    language, confidence = detect_language(prose, fallback="")
    return language if confidence >= min_confidence else ""
