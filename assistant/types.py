"""Frozen values that travel between ingestion, retrieval and generation.

ORM objects and raw index payloads stay inside their modules; these are the shapes other modules see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

LANGUAGES: tuple[str, ...] = ("lb", "fr", "de", "en")


@dataclass(frozen=True)
class SparseVec:
    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class IndexPoint:
    """One chunk as the index stores it: vectors plus the payload retrieval needs back."""

    point_id: int
    dense: tuple[float, ...]
    sparse: SparseVec
    payload: dict[str, object]


@dataclass(frozen=True)
class ScoredChunk:
    chunk_key: str
    document_key: str
    procedure: str
    language: str
    title: str
    heading_path: str
    url: str
    text: str
    fused_score: float
    dense_score: float
    rank: int


@dataclass(frozen=True)
class RetrievalResult:
    kept: tuple[ScoredChunk, ...]
    rejected: tuple[ScoredChunk, ...]
    reason: str = ""


@dataclass(frozen=True)
class Source:
    """A numbered source shown to the citizen and given to the model as ``[n]``."""

    number: int
    document_key: str
    procedure: str
    language: str
    title: str
    heading_path: str
    url: str
    text: str
    score: float

    def public(self) -> dict[str, object]:
        """The fields the browser may see (no chunk text)."""
        return {
            "number": self.number,
            "document": self.document_key,
            "procedure": self.procedure,
            "language": self.language,
            "title": self.title,
            "section": self.heading_path,
            "url": self.url,
        }


EventKind = Literal["status", "queue", "sources", "token", "done", "error"]


@dataclass(frozen=True)
class StreamEvent:
    kind: EventKind
    data: dict[str, object] = field(default_factory=dict)
