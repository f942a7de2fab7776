"""Vector index adapter: the embedded Qdrant engine (Qdrant Edge), in generations.

The database is the source of truth; the index is a projection of its published chunks.
Each rebuild writes a new generation directory, validates it, then switches the ``CURRENT``
pointer file atomically. Readers (the web process) notice the pointer change on their next
query and reopen, so a worker can rebuild while the web process keeps answering. Generations are
created without a write-ahead log (they are immutable once flushed), which lets any number of
processes read the live one; only the builder writes, and only to a fresh directory.
The previous generations are kept for rollback.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    Fusion,
    MatchValue,
    Modifier,
    PayloadSchemaType,
    Point,
    Prefetch,
    Query,
    QueryRequest,
    SparseVector,
    UpdateOperation,
)

from assistant.types import IndexPoint, SparseVec

DENSE = "dense"
LEXICAL = "lex"
KEEP_GENERATIONS = 3
# What a generation was built with (e.g. the embedding model and backend), written beside its segments.
META_FILE = "guichet-meta.json"
_BATCH = 256


class IndexBuildError(RuntimeError):
    """A new generation failed validation; the live one is untouched."""


class IndexUnavailable(RuntimeError):
    """No generation has been built yet, or the live one cannot be opened."""


@dataclass(frozen=True)
class Hit:
    point_id: int
    score: float
    payload: dict[str, object]
    dense: tuple[float, ...]


@dataclass(frozen=True)
class HybridQuery:
    dense: tuple[tuple[float, ...], ...]  # one or more query vectors (e.g. the question and its translation)
    sparse: SparseVec
    dense_limit: int
    sparse_limit: int
    limit: int
    rrf_k: int
    must: tuple[tuple[str, str], ...] = ()
    # One dense candidate list per document language: an embedding model trained on one language
    # ranks every page written in the question's language first; per-language lists cancel that.
    dense_languages: tuple[str, ...] = ()
    lexical_weight: float = 1.0


class VectorIndex(Protocol):
    """What retrieval and ingestion need from an index: ``EdgeIndex`` or ``QdrantServerIndex``.

    Generation names sort in build order; ``activate`` makes an older one live (rollback).
    """

    def current_generation(self) -> str | None: ...

    def generations(self) -> list[str]: ...

    def build_generation(
        self,
        points: Iterable[IndexPoint],
        *,
        dim: int,
        smoke: Sequence[tuple[float, ...]] = (),
        meta: Mapping[str, str] | None = None,
    ) -> tuple[str, int]: ...

    def generation_meta(self, name: str) -> dict[str, str]: ...

    def activate(self, name: str) -> None: ...

    def hybrid_search(self, query: HybridQuery) -> list[Hit]: ...

    def count(self) -> int: ...

    def live_points(self) -> tuple[str, int]: ...

    def close(self) -> None: ...


def _filter(must: Iterable[tuple[str, str]]) -> Filter | None:
    conditions = [FieldCondition(key=key, match=MatchValue(value=value)) for key, value in must]
    return Filter(must=list(conditions)) if conditions else None


class EdgeIndex:
    """Generations of an embedded Qdrant shard under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pointer = root / "CURRENT"
        self._lock = threading.Lock()
        self._open_name: str | None = None
        self._shard: EdgeShard | None = None

    # --- generations ------------------------------------------------------------------
    def current_generation(self) -> str | None:
        try:
            name = self._pointer.read_text().strip()
        except FileNotFoundError:
            return None
        return name or None

    def generations(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name.startswith("gen-"))

    @contextmanager
    def _build_lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".build.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def build_generation(
        self,
        points: Iterable[IndexPoint],
        *,
        dim: int,
        smoke: Sequence[tuple[float, ...]] = (),
        meta: Mapping[str, str] | None = None,
    ) -> tuple[str, int]:
        """Write a new generation, validate it, make it live; return its name and point count.

        ``meta`` is stored with the generation (``generation_meta``) before it goes live.

        Validation: the stored point count equals what was written, and every ``smoke`` vector
        finds a published point. On any failure the half-built directory is removed and the live
        generation stays as it was.
        """
        with self._build_lock():
            # A sequence number orders generations; the time is for people reading the folder.
            sequence = 1 + max((int(g.split("-")[1]) for g in self.generations()), default=0)
            name = f"gen-{sequence:06d}-{time.strftime('%Y%m%dT%H%M%S')}"
            path = self.root / name
            try:
                expected = self._write(path, points, dim=dim, smoke=smoke)
                (path / META_FILE).write_text(json.dumps(dict(meta or {})))
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
            self._switch(name)
            self._prune()
            return name, expected

    def _write(self, path: Path, points: Iterable[IndexPoint], *, dim: int, smoke: Sequence[tuple[float, ...]]) -> int:
        config = EdgeConfig(
            vectors={DENSE: EdgeVectorParams(size=dim, distance=Distance.Cosine)},
            sparse_vectors={LEXICAL: EdgeSparseVectorParams(modifier=Modifier.Idf)},
            # A generation is written once, flushed, then only read. Without a WAL there is no
            # WAL lock, so several processes (web workers, the evaluator) can read it at once.
            wal_enabled=False,
        )
        shard = EdgeShard.create(str(path), config)
        expected = 0
        try:
            # Keyword, not Bool: the engine's bool match did not filter in our tests (0.9.0).
            for field in ("status", "procedure", "language"):
                shard.update(UpdateOperation.create_field_index(field, PayloadSchemaType.Keyword))
            batch: list[Point] = []
            for point in points:
                batch.append(_to_point(point))
                expected += 1
                if len(batch) >= _BATCH:
                    shard.update(UpdateOperation.upsert_points(batch))
                    batch = []
            if batch:
                shard.update(UpdateOperation.upsert_points(batch))
            shard.flush()
            # The engine builds HNSW graphs only in its optimizer, and nothing else ever runs it on a
            # generation (no more writes come). Segments above its indexing threshold (~10 MB of
            # vectors: ~6.5k points of 384 dims) get their graph here; smaller ones stay plain, where
            # an exact scan is faster anyway. Measured in bench/retrieval.py (README, Benchmarks).
            shard.optimize()
            shard.flush()
            stored = shard.count(CountRequest(exact=True))
            if stored != expected:
                raise IndexBuildError(f"generation {path.name} holds {stored} points, expected {expected}")
            published = _filter([("status", "published")])
            for vector in smoke:
                found = shard.query(
                    QueryRequest(query=Query.Nearest(list(vector), using=DENSE), filter=published, limit=1)
                )
                if not found:
                    raise IndexBuildError(f"generation {path.name} failed its smoke query: no published point found")
        finally:
            shard.close()
        return expected

    def generation_meta(self, name: str) -> dict[str, str]:
        """What ``build_generation`` stored with generation ``name``; empty for one built without."""
        try:
            stored = json.loads((self.root / name / META_FILE).read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in stored.items()} if isinstance(stored, dict) else {}

    def activate(self, name: str) -> None:
        """Make an existing generation live (used by rollback)."""
        if name not in self.generations():
            raise IndexUnavailable(f"no generation named {name!r}")
        with self._build_lock():
            self._switch(name)

    def _switch(self, name: str) -> None:
        tmp = self.root / f".CURRENT.{os.getpid()}"
        tmp.write_text(name)
        os.replace(tmp, self._pointer)

    def _prune(self) -> None:
        live = self.current_generation()
        for old in self.generations()[:-KEEP_GENERATIONS]:
            if old != live:
                shutil.rmtree(self.root / old, ignore_errors=True)

    # --- reading ----------------------------------------------------------------------
    def _live_shard(self) -> EdgeShard:
        name = self.current_generation()
        if name is None:
            raise IndexUnavailable("the knowledge base has not been indexed yet")
        if name != self._open_name or self._shard is None:
            try:
                shard = EdgeShard.load(str(self.root / name))
            except Exception as exc:  # the engine raises plain exceptions on a broken shard
                raise IndexUnavailable(f"index generation {name} cannot be opened: {exc}") from exc
            if self._shard is not None:
                self._shard.close()
            self._shard, self._open_name = shard, name
        return self._shard

    def close(self) -> None:
        with self._lock:
            if self._shard is not None:
                self._shard.close()
            self._shard, self._open_name = None, None

    def hybrid_search(self, query: HybridQuery) -> list[Hit]:
        flt = _filter(query.must)
        dense_filters = [_filter((*query.must, ("language", lang))) for lang in query.dense_languages] or [flt]
        prefetches = [
            Prefetch(query=Query.Nearest(list(vector), using=DENSE), limit=query.dense_limit, filter=f)
            for vector in query.dense
            for f in dense_filters
        ]
        prefetches.append(
            Prefetch(
                query=Query.Nearest(SparseVector(list(query.sparse.indices), list(query.sparse.values)), using=LEXICAL),
                limit=query.sparse_limit,
                filter=flt,
            )
        )
        dense_lists = len(query.dense) * len(dense_filters)
        weights = [1.0] * dense_lists + [query.lexical_weight * dense_lists]
        request = QueryRequest(
            prefetches=prefetches,
            query=Fusion.Rrf(k=query.rrf_k, weights=weights),  # type: ignore[arg-type]  # stub omits the class
            filter=flt,
            limit=query.limit,
            with_payload=True,
            with_vector=[DENSE],
        )
        with self._lock:
            scored = self._live_shard().query(request)
        hits = []
        for point in scored:
            vector = point.vector
            dense = vector.get(DENSE) if isinstance(vector, dict) else None
            hits.append(
                Hit(
                    point_id=int(str(point.id)),
                    score=float(point.score),
                    payload=dict(point.payload or {}),
                    dense=tuple(float(x) for x in dense if isinstance(x, float)) if isinstance(dense, list) else (),
                )
            )
        return hits

    def count(self) -> int:
        return self.live_points()[1]

    def live_points(self) -> tuple[str, int]:
        """The generation being read and its point count, seen together (one switch cannot split them)."""
        with self._lock:
            shard = self._live_shard()
            return str(self._open_name), int(shard.count(CountRequest(exact=True)))


def _to_point(point: IndexPoint) -> Point:
    return Point(
        id=point.point_id,
        vector={
            DENSE: list(point.dense),
            LEXICAL: SparseVector(list(point.sparse.indices), list(point.sparse.values)),
        },
        payload=point.payload,
    )


_INDEXES: dict[Path | str, VectorIndex] = {}
_INDEXES_LOCK = threading.Lock()


def get_index(root: Path | None = None) -> VectorIndex:
    """One reader per index root (or Qdrant server, when ``QDRANT_URL`` is set) and process."""
    from django.conf import settings

    if settings.QDRANT_URL and root is None:
        from assistant.qdrant_server import QdrantServerIndex

        with _INDEXES_LOCK:
            if settings.QDRANT_URL not in _INDEXES:
                _INDEXES[settings.QDRANT_URL] = QdrantServerIndex.from_url(
                    settings.QDRANT_URL,
                    api_key=settings.QDRANT_API_KEY,
                    shards=settings.QDRANT_SHARDS,
                    replicas=settings.QDRANT_REPLICAS,
                )
            return _INDEXES[settings.QDRANT_URL]
    key = Path(root or settings.INDEX_DIR)
    with _INDEXES_LOCK:
        if key not in _INDEXES:
            _INDEXES[key] = EdgeIndex(key)
        return _INDEXES[key]
