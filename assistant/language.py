"""Language of a question: lb, fr, de or en (py3langid, offline, restricted to our four)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from assistant.types import LANGUAGES

MIN_WORDS = 3
MIN_CONFIDENCE = 0.8


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def detect_language(text: str, *, fallback: str) -> tuple[str, float]:
    """The question's language, or ``fallback`` (the UI language) when the text is too short to tell."""
    language, confidence = _identifier().classify(text)
    if len(text.split()) < MIN_WORDS and confidence < MIN_CONFIDENCE:
        return fallback, float(confidence)
    return str(language), float(confidence)
