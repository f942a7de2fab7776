"""Project the published chunks of the database into a new index generation."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from django.db.models import QuerySet

from assistant import lexical
from assistant.embedder import EMBEDDING_META, Embedder, get_embedder, identity_split
from assistant.types import IndexPoint
from assistant.vector_index import IndexBuildError, VectorIndex, get_index
from ingestion.models import Chunk, Document, EmbeddingCache


@dataclass(frozen=True)
class IndexBuild:
    generation: str
    points: int
    embedded: int


def point_id(chunk_key: str) -> int:
    """Stable 63-bit id from the chunk's key, so a point keeps its id across generations."""
    return int.from_bytes(hashlib.blake2b(chunk_key.encode(), digest_size=8).digest(), "big") >> 1


def embeddings_ensure(*, chunks: list[Chunk], embedder: Embedder) -> int:
    """Embed the chunk texts not yet in the cache; return how many were embedded.

    The cache is keyed by ``embedder.name``, which names the model and the backend: vectors of
    another backend are never reused, so a backend change re-embeds everything once.
    """
    known = set(
        EmbeddingCache.objects.filter(
            model_name=embedder.name, text_hash__in=[c.text_hash for c in chunks]
        ).values_list("text_hash", flat=True)
    )
    todo = {c.text_hash: f"{c.heading_path}\n{c.text}" for c in chunks if c.text_hash not in known}
    if not todo:
        return 0
    hashes = list(todo)
    vectors = embedder.embed_documents([todo[h] for h in hashes])
    EmbeddingCache.objects.bulk_create(
        [
            EmbeddingCache(model_name=embedder.name, text_hash=h, vector=np.asarray(v, dtype=np.float32).tobytes())
            for h, v in zip(hashes, vectors, strict=True)
        ],
        ignore_conflicts=True,
    )
    return len(hashes)


def _points(chunks: list[Chunk], vectors: dict[str, bytes | memoryview]) -> Iterator[IndexPoint]:
    for chunk in chunks:
        document = chunk.document
        key = f"{document.key}#{chunk.position}"
        yield IndexPoint(
            point_id=point_id(key),
            dense=tuple(float(x) for x in np.frombuffer(vectors[chunk.text_hash], dtype=np.float32)),
            sparse=lexical.document_vector(f"{document.title} {chunk.heading_path}\n{chunk.text}", document.language),
            payload={
                "chunk": key,
                "document": document.key,
                "procedure": document.procedure,
                "language": document.language,
                "title": document.title,
                "heading_path": chunk.heading_path,
                "url": document.url,
                "text": chunk.text,
                "status": document.status,
            },
        )


def index_rebuild(
    *,
    index: VectorIndex | None = None,
    embedder: Embedder | None = None,
    documents: QuerySet[Document] | None = None,
) -> IndexBuild:
    """Build a generation from every published chunk (of ``documents``, if given) and make it live.

    Raises ``IndexBuildError`` (the live generation untouched) when nothing is published or the
    new generation fails validation.
    """
    embedder = embedder or get_embedder()
    index = index or get_index()
    published = Chunk.objects.filter(document__status=Document.Status.PUBLISHED)
    if documents is not None:
        published = published.filter(document__in=documents)
    chunks = list(published.select_related("document").order_by("document__key", "position"))
    if not chunks:
        raise IndexBuildError("no published document to index: the live generation is kept")
    embedded = embeddings_ensure(chunks=chunks, embedder=embedder)
    vectors = dict(
        EmbeddingCache.objects.filter(
            model_name=embedder.name, text_hash__in=[c.text_hash for c in chunks]
        ).values_list("text_hash", "vector")
    )
    # Smoke queries: the first, middle and last chunk must each find a published point.
    samples = {chunks[0].text_hash, chunks[len(chunks) // 2].text_hash, chunks[-1].text_hash}
    smoke = [tuple(float(x) for x in np.frombuffer(vectors[h], dtype=np.float32)) for h in sorted(samples)]
    model, backend = identity_split(embedder.name)
    meta = {EMBEDDING_META: embedder.name, "embedding_model": model, "embedding_backend": backend}
    generation, count = index.build_generation(_points(chunks, vectors), dim=embedder.dim, smoke=smoke, meta=meta)
    return IndexBuild(generation=generation, points=count, embedded=embedded)
