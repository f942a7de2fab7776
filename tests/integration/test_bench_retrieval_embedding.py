"""The retrieval and embedding benchmarks run end to end at a tiny size (`make bench` runs the full one)."""

from __future__ import annotations

from pathlib import Path


def test_retrieval_benchmark_reports_latencies_and_recall(tmp_path: Path) -> None:
    from bench.retrieval import bench_retrieval

    results = bench_retrieval(work=tmp_path, sizes=(2000,), queries=20)
    for key in ("retrieval_p50_ms_2k", "retrieval_p95_ms_2k", "bruteforce_p50_ms_2k", "retrieval_hybrid_p50_ms_2k"):
        assert results[key] > 0, key
    assert results["retrieval_p95_ms_2k"] >= results["retrieval_p50_ms_2k"]
    assert 0 <= results["retrieval_recall10_2k"] <= 1
    assert results["retrieval_points_2k"] == 2000 and results["retrieval_vs_bruteforce_p50_ratio_2k"] > 0


def test_embedding_benchmark_reports_every_backend_and_the_baseline() -> None:
    from django.conf import settings

    from assistant.embedder import BACKENDS
    from bench.embedding import bench_embedding, chunk_texts

    texts = chunk_texts(20)
    assert len(set(texts)) == 20 and all("\n" in text for text in texts)  # heading path, then the chunk
    results = bench_embedding(texts=20, rounds=1)
    assert results["embed_texts"] == 20
    assert results["embed_chunks_per_s"] > 0 and results["embed_baseline_chunks_per_s"] > 0
    assert results["embed_vs_baseline_ratio"] > 0
    for backend in BACKENDS:
        key = backend.replace("-", "_")
        assert results[f"embed_{key}_chunks_per_s"] > 0 and results[f"embed_{key}_vs_baseline_ratio"] > 0
    # The headline figure is the product's default path.
    default = settings.EMBEDDING_BACKEND.replace("-", "_")
    assert results["embed_chunks_per_s"] == results[f"embed_{default}_chunks_per_s"]
