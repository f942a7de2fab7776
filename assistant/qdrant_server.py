"""Vector index adapter for a Qdrant server (``QDRANT_URL``), in generations like the embedded index.

Each generation is a collection (``guichet_gen_000001``, ...); the alias ``guichet_live`` names the
live one and is switched in one ``update_collection_aliases`` call, which the server applies
atomically: readers query the alias and see either the old generation or the new one, never a mix.
The last ``KEEP_GENERATIONS`` collections are kept for rollback (``manage.py index rollback``).

The same class runs against qdrant-client's local mode (``QDRANT_URL=local:/path`` or
``local::memory:``), which implements the same API in Python: that is how the tests exercise this
adapter, since no Qdrant server can be installed on the development machines. Differences between
local mode and a server that matter here are noted where they arise.
"""

from __future__ import annotations

import atexit
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qdrant_client import QdrantClient, models

from assistant.types import IndexPoint
from assistant.vector_index import (
    DENSE,
    KEEP_GENERATIONS,
    LEXICAL,
    Hit,
    HybridQuery,
    IndexBuildError,
    IndexUnavailable,
)

PREFIX = "guichet_gen_"
ALIAS = "guichet_live"
LOCAL_SCHEME = "local:"
_BATCH = 256
_INDEXED_FIELDS = ("status", "procedure", "language")


def client_from_url(url: str, *, api_key: str = "", timeout_s: int = 10) -> QdrantClient:
    """``http(s)://host:6333`` for a server; ``local:/path`` or ``local::memory:`` for local mode."""
    if url.startswith(LOCAL_SCHEME):
        location = url[len(LOCAL_SCHEME) :]
        if location == ":memory:":
            return QdrantClient(location=":memory:")
        client = QdrantClient(path=location)
        # Local mode otherwise releases its folder lock in __del__ during interpreter teardown,
        # where the import it needs fails noisily: release it while Python is still whole.
        atexit.register(client.close)  # closing twice is harmless
        return client
    return QdrantClient(url=url, api_key=api_key or None, timeout=timeout_s)


def _filter(must: Iterable[tuple[str, str]]) -> models.Filter | None:
    conditions: list[Any] = [models.FieldCondition(key=k, match=models.MatchValue(value=v)) for k, v in must]
    return models.Filter(must=conditions) if conditions else None


class QdrantServerIndex:
    """Generations of the knowledge base as collections of a Qdrant server, behind one alias.

    Satisfies ``assistant.vector_index.VectorIndex``, like ``EdgeIndex``. Builds in one process are
    serialised by a lock; builders in several processes must not overlap (ingestion runs already
    hold a lock). Should two collide anyway, the second fails to create its collection and leaves
    the live generation alone.
    """

    def __init__(self, client: QdrantClient, *, label: str = "qdrant", shards: int = 1, replicas: int = 1) -> None:
        self.label = label
        self._client = client
        self._build_lock = threading.Lock()
        # For a Qdrant cluster (distributed mode): each new generation's shard number and replication factor.
        self._shards, self._replicas = shards, replicas

    @classmethod
    def from_url(cls, url: str, *, api_key: str = "", shards: int = 1, replicas: int = 1) -> QdrantServerIndex:
        return cls(client_from_url(url, api_key=api_key), label=url, shards=shards, replicas=replicas)

    # --- generations ------------------------------------------------------------------
    def current_generation(self) -> str | None:
        try:
            aliases = self._client.get_aliases().aliases
        except Exception as exc:  # connection refused, timeout, server error: all mean "no index"
            raise IndexUnavailable(f"Qdrant at {self.label} cannot be reached: {exc}") from exc
        return next((a.collection_name for a in aliases if a.alias_name == ALIAS), None)

    def generations(self) -> list[str]:
        try:
            collections = self._client.get_collections().collections
        except Exception as exc:
            raise IndexUnavailable(f"Qdrant at {self.label} cannot be reached: {exc}") from exc
        return sorted(c.name for c in collections if c.name.startswith(PREFIX))

    def build_generation(
        self,
        points: Iterable[IndexPoint],
        *,
        dim: int,
        smoke: Sequence[tuple[float, ...]] = (),
        meta: Mapping[str, str] | None = None,
    ) -> tuple[str, int]:
        """Write a new collection, validate it, point the alias at it; return its name and point count.

        Validation as in ``EdgeIndex``: the stored count equals what was written, and each
        ``smoke`` vector finds a published point. On failure the new collection is deleted and
        the alias is left as it was.
        """
        with self._build_lock:
            sequence = 1 + max((int(g[len(PREFIX) :]) for g in self.generations()), default=0)
            name = f"{PREFIX}{sequence:06d}"
            created = False
            try:
                self._client.create_collection(
                    collection_name=name,
                    vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
                    sparse_vectors_config={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                    metadata=dict(meta or {}),
                    shard_number=self._shards,
                    replication_factor=self._replicas,
                )
                created = True
                expected = self._write(name, points, smoke=smoke)
            except BaseException:
                # Only our own collection: a failed create may mean another builder's exists.
                if created:
                    self._client.delete_collection(name)
                raise
            self._switch(name)
            self._prune()
            return name, expected

    def generation_meta(self, name: str) -> dict[str, str]:
        """The collection metadata ``build_generation`` stored (what the generation was built with)."""
        try:
            stored = self._client.get_collection(name).config.metadata or {}
        except Exception as exc:
            raise IndexUnavailable(f"Qdrant at {self.label}: cannot read collection {name}: {exc}") from exc
        return {str(k): str(v) for k, v in stored.items()}

    def _write(self, name: str, points: Iterable[IndexPoint], *, smoke: Sequence[tuple[float, ...]]) -> int:
        # Payload indexes make filtered queries fast on a server. Local mode ignores them, with a
        # warning per call that says nothing new.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Payload indexes have no effect in the local Qdrant")
            for field in _INDEXED_FIELDS:
                self._client.create_payload_index(name, field, models.PayloadSchemaType.KEYWORD, wait=True)
        expected = 0
        batch: list[models.PointStruct] = []
        for point in points:
            batch.append(_to_point(point))
            expected += 1
            if len(batch) >= _BATCH:
                self._client.upsert(name, batch, wait=True)
                batch = []
        if batch:
            self._client.upsert(name, batch, wait=True)
        stored = self._client.count(name, exact=True).count
        if stored != expected:
            raise IndexBuildError(f"generation {name} holds {stored} points, expected {expected}")
        published = _filter([("status", "published")])
        for vector in smoke:
            found = self._client.query_points(name, query=list(vector), using=DENSE, query_filter=published, limit=1)
            if not found.points:
                raise IndexBuildError(f"generation {name} failed its smoke query: no published point found")
        return expected

    def activate(self, name: str) -> None:
        """Make an existing generation live (used by rollback)."""
        if name not in self.generations():
            raise IndexUnavailable(f"no generation named {name!r}")
        with self._build_lock:
            self._switch(name)

    def _switch(self, name: str) -> None:
        operations: list[Any] = []
        # A server rejects deleting an alias that does not exist, so only the first build omits it.
        if self.current_generation() is not None:
            operations.append(models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=ALIAS)))
        operations.append(
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=name, alias_name=ALIAS))
        )
        # One call: the server applies the delete and the create as one change.
        self._client.update_collection_aliases(change_aliases_operations=operations)

    def _prune(self) -> None:
        live = self.current_generation()
        for old in self.generations()[:-KEEP_GENERATIONS]:
            if old != live:
                self._client.delete_collection(old)

    # --- reading ----------------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def hybrid_search(self, query: HybridQuery) -> list[Hit]:
        flt = _filter(query.must)
        dense_filters = [_filter((*query.must, ("language", lang))) for lang in query.dense_languages] or [flt]
        prefetches = [
            models.Prefetch(query=list(vector), using=DENSE, limit=query.dense_limit, filter=f)
            for vector in query.dense
            for f in dense_filters
        ]
        prefetches.append(
            models.Prefetch(
                query=models.SparseVector(indices=list(query.sparse.indices), values=list(query.sparse.values)),
                using=LEXICAL,
                limit=query.sparse_limit,
                filter=flt,
            )
        )
        # The same weighting as EdgeIndex: the lexical list weighs as much as all dense lists together.
        dense_lists = len(query.dense) * len(dense_filters)
        weights = [1.0] * dense_lists + [query.lexical_weight * dense_lists]
        try:
            response = self._client.query_points(
                ALIAS,  # the alias, so a switch between two queries is seen at once and never half-way
                prefetch=prefetches,
                query=models.RrfQuery(rrf=models.Rrf(k=query.rrf_k, weights=weights)),
                query_filter=flt,
                limit=query.limit,
                with_payload=True,
                with_vectors=[DENSE],
            )
        except Exception as exc:
            if self.current_generation() is None:
                raise IndexUnavailable("the knowledge base has not been indexed yet") from exc
            raise IndexUnavailable(f"Qdrant at {self.label} failed a query: {exc}") from exc
        hits = []
        for point in response.points:
            vector = point.vector
            dense = vector.get(DENSE) if isinstance(vector, dict) else None
            hits.append(
                Hit(
                    point_id=int(point.id),
                    score=float(point.score),
                    payload=dict(point.payload or {}),
                    dense=tuple(float(x) for x in dense if isinstance(x, float)) if isinstance(dense, list) else (),
                )
            )
        return hits

    def count(self) -> int:
        return self.live_points()[1]

    def live_points(self) -> tuple[str, int]:
        """The live generation and its point count, counted on the collection (not the alias), so they match."""
        name = self.current_generation()
        if name is None:
            raise IndexUnavailable("the knowledge base has not been indexed yet")
        try:
            return name, int(self._client.count(name, exact=True).count)
        except Exception as exc:
            raise IndexUnavailable(f"index generation {name} cannot be counted: {exc}") from exc


def _to_point(point: IndexPoint) -> models.PointStruct:
    return models.PointStruct(
        id=point.point_id,
        vector={
            DENSE: list(point.dense),
            LEXICAL: models.SparseVector(indices=list(point.sparse.indices), values=list(point.sparse.values)),
        },
        payload=point.payload,
    )
