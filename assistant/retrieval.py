"""Hybrid retrieval: dense + lexical candidates fused by RRF in Qdrant, grouped by procedure.

It returns what it kept and what it rejected, with scores, so that an editor can see why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from assistant import lexical
from assistant.embedder import Embedder, get_embedder, index_embedding_require
from assistant.types import LANGUAGES, RetrievalResult, ScoredChunk, Source
from assistant.vector_index import Hit, HybridQuery, VectorIndex, get_index

_CONFIG_FILE = Path(__file__).with_name("retrieval.yaml")
PUBLISHED = ("status", "published")


@dataclass(frozen=True)
class RetrievalConfig:
    dense_limit: int
    sparse_limit: int
    rrf_k: int
    fused_limit: int
    max_sources: int
    max_per_document: int
    min_dense_score: float
    context_chars: int
    dense_per_language: bool
    lexical_weight: float
    rephrase: str  # never | followups | always

    def __post_init__(self) -> None:
        if self.rephrase not in {"never", "followups", "always"}:
            raise ValueError(f"retrieval.yaml: rephrase={self.rephrase!r} (never, followups, always)")


@lru_cache(maxsize=1)
def retrieval_config() -> RetrievalConfig:
    return RetrievalConfig(**yaml.safe_load(_CONFIG_FILE.read_text()))


def _scored(hit: Hit, rank: int, queries: tuple[tuple[float, ...], ...]) -> ScoredChunk:
    p = hit.payload
    cosine = max((sum(a * b for a, b in zip(q, hit.dense, strict=False)) for q in queries), default=0.0)
    return ScoredChunk(
        chunk_key=str(p["chunk"]),
        document_key=str(p["document"]),
        procedure=str(p["procedure"]),
        language=str(p["language"]),
        title=str(p["title"]),
        heading_path=str(p["heading_path"]),
        url=str(p["url"]),
        text=str(p["text"]),
        fused_score=hit.score,
        dense_score=round(cosine, 4),
        rank=rank,
    )


def _in_language(
    candidates: list[ScoredChunk], language: str, query: HybridQuery, index: VectorIndex
) -> list[ScoredChunk]:
    """Swap each procedure's chunks for its version in the citizen's language where one exists."""
    result: list[ScoredChunk] = []
    done: set[str] = set()
    for candidate in candidates:
        procedure = candidate.procedure
        if procedure in done:
            continue
        done.add(procedure)
        group = [c for c in candidates if c.procedure == procedure]
        same_language = [c for c in group if c.language == language]
        if same_language:
            group = same_language
        elif language != "lb":  # no page is written in Luxembourgish: keep what ranked best
            local = index.hybrid_search(
                replace(query, limit=2, must=(PUBLISHED, ("procedure", procedure), ("language", language)))
            )
            if local:
                group = [
                    replace(_scored(hit, candidate.rank, query.dense), fused_score=candidate.fused_score)
                    for hit in local
                ]
        result.extend(group)
    return result


def retrieve(
    *,
    question: str,
    language: str,
    variants: dict[str, str] | None = None,
    index: VectorIndex | None = None,
    embedder: Embedder | None = None,
    config: RetrievalConfig | None = None,
) -> RetrievalResult:
    config = config or retrieval_config()
    index = index or get_index()
    embedder = embedder or get_embedder()
    # Vectors of another model or backend would rank wrongly without any error: refuse instead.
    index_embedding_require(index=index, embedder=embedder)
    variants = variants or {}
    # Lexical: the question and its translations, each expanded with the lexicon's equivalents.
    # Dense: the question as typed and its English version (the default embedder only knows English).
    lexical_text = lexical.expand_query(" ".join([question, *variants.values()]))
    dense_texts = dict.fromkeys([question, variants.get("en", question)])
    query = HybridQuery(
        dense=tuple(tuple(embedder.embed_query(lexical.expand_query(text))) for text in dense_texts),
        sparse=lexical.query_vector(lexical_text),
        dense_limit=config.dense_limit,
        sparse_limit=config.sparse_limit,
        limit=config.fused_limit,
        rrf_k=config.rrf_k,
        must=(PUBLISHED,),
        dense_languages=LANGUAGES if config.dense_per_language else (),
        lexical_weight=config.lexical_weight,
    )
    candidates = [_scored(hit, rank, query.dense) for rank, hit in enumerate(index.hybrid_search(query), start=1)]
    if not candidates:
        return RetrievalResult(kept=(), rejected=(), reason="no_candidates")
    if max(c.dense_score for c in candidates[: config.max_sources]) < config.min_dense_score:
        return RetrievalResult(kept=(), rejected=tuple(candidates), reason="below_threshold")
    ordered = _in_language(candidates, language, query, index)
    kept: list[ScoredChunk] = []
    rejected: list[ScoredChunk] = []
    per_document: dict[str, int] = {}
    for chunk in ordered:
        used = per_document.get(chunk.document_key, 0)
        if len(kept) < config.max_sources and used < config.max_per_document:
            kept.append(chunk)
            per_document[chunk.document_key] = used + 1
        else:
            rejected.append(chunk)
    return RetrievalResult(kept=tuple(kept), rejected=tuple(rejected))


def number_sources(chunks: tuple[ScoredChunk, ...]) -> tuple[Source, ...]:
    return tuple(
        Source(
            number=n,
            document_key=c.document_key,
            procedure=c.procedure,
            language=c.language,
            title=c.title,
            heading_path=c.heading_path,
            url=c.url,
            text=c.text,
            score=c.fused_score,
        )
        for n, c in enumerate(chunks, start=1)
    )
