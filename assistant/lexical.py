"""Sparse lexical vectors computed in the project, so any Qdrant backend gets the same ones.

Tokens are lower-cased, accent-folded, stop-word filtered and stemmed (Snowball, per language).
Documents are stemmed in their own language; queries with every stemmer we have, because the
question's language is often not the page's (a German word in a Luxembourgish question).
Qdrant applies IDF on its side (``Modifier.Idf``); we send BM25-saturated term frequencies.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import snowballstemmer
import yaml

from assistant.types import SparseVec

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_STEMMER_NAMES = {"fr": "french", "de": "german", "en": "english", "lb": "german"}
_BM25_K = 1.2
_BM25_B = 0.75
_AVG_LEN = 180.0
_DATA = Path(__file__).parent / "data"


def fold(text: str) -> str:
    """Lower-case and strip accents: "Références" -> "references"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("ß", "ss")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    """Function words of all four languages: a question's language is often not its page's."""
    raw = yaml.safe_load((_DATA / "stopwords.yaml").read_text(encoding="utf-8"))
    return frozenset(fold(w) for words in raw.values() for w in words.split())


@lru_cache(maxsize=8)
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(_STEMMER_NAMES.get(language, "english"))


@dataclass(frozen=True)
class _Lexicon:
    pattern: re.Pattern[str]
    concept_of: dict[str, int]
    expansions: tuple[str, ...]


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    """Administrative terms in lb/fr/de/en grouped by concept (``lexicon.yaml``), plus the
    Luxembourgish words and colloquialisms of ``lb_lexicon.yaml``."""
    groups: list[tuple[list[str], str]] = []
    for entry in yaml.safe_load((_DATA / "lexicon.yaml").read_text(encoding="utf-8")):
        terms = [str(t) for lang in ("fr", "de", "en", "lb") for t in entry.get(lang, [])]
        groups.append((terms, "; ".join(dict.fromkeys(terms))))
    for word, equivalents in yaml.safe_load((_DATA / "lb_lexicon.yaml").read_text(encoding="utf-8")).items():
        groups.append(([str(word)], str(equivalents)))
    concept_of: dict[str, int] = {}
    for number, (terms, _) in enumerate(groups):
        for term in terms:
            concept_of.setdefault(_squash(term), number)
    # Longest terms first, so "permis de conduire" wins over "permis"; short acronyms match whole words only.
    alternatives = sorted(concept_of, key=len, reverse=True)
    body = "|".join(re.escape(t) + (r"\w*" if len(t) > 4 else "") for t in alternatives)
    return _Lexicon(re.compile(rf"(?<!\w)(?:{body})(?!\w)"), concept_of, tuple(e for _, e in groups))


def _squash(text: str) -> str:
    return " ".join(tokens(text))


def expand_query(text: str) -> str:
    """Append the equivalents, in every language, of the administrative terms found in ``text``."""
    lexicon = _lexicon()
    squashed = _squash(text)
    concepts: dict[int, None] = {}
    for match in lexicon.pattern.finditer(squashed):
        found = match.group(0)
        term = (
            found
            if found in lexicon.concept_of
            else max(
                (t for t in lexicon.concept_of if found.startswith(t)),
                key=len,  # an inflected form
            )
        )
        concepts[lexicon.concept_of[term]] = None
    extra = [lexicon.expansions[n] for n in concepts]
    return f"{text} ({'; '.join(extra)})" if extra else text


def tokens(text: str) -> list[str]:
    return [fold(match) for match in _TOKEN.findall(text)]


def _content_tokens(text: str) -> list[str]:
    stop = _stopwords()
    return [tok for tok in tokens(text) if (len(tok) > 1 or tok.isdigit()) and tok not in stop]


def _term_id(term: str) -> int:
    return zlib.crc32(term.encode("utf-8")) & 0x7FFFFFFF


def content_stems(text: str, language: str) -> list[str]:
    """Folded, stop-word filtered tokens stemmed in ``language`` (lb with the German stemmer)."""
    stemmer = _stemmer(language)
    return [stemmer.stemWord(tok) for tok in _content_tokens(text)]


def document_vector(text: str, language: str) -> SparseVec:
    terms = Counter(content_stems(text, language))
    length = sum(terms.values()) or 1
    norm = _BM25_K * (1 - _BM25_B + _BM25_B * length / _AVG_LEN)
    weights: dict[int, float] = {}
    for term, tf in terms.items():
        idx = _term_id(term)
        weights[idx] = weights.get(idx, 0.0) + tf * (_BM25_K + 1) / (tf + norm)
    ordered = sorted(weights.items())
    return SparseVec(tuple(i for i, _ in ordered), tuple(round(w, 5) for _, w in ordered))


def query_vector(text: str) -> SparseVec:
    stems: set[str] = set()
    for tok in _content_tokens(text):
        for language in ("fr", "de", "en"):
            stems.add(_stemmer(language).stemWord(tok))
    ids = sorted({_term_id(stem) for stem in stems})
    return SparseVec(tuple(ids), tuple(1.0 for _ in ids))
