"""Embedding throughput of the ingestion path, per backend, against plain ``SentenceTransformer.encode``.

Baseline (``embed_baseline_chunks_per_s``): the library's ``encode`` with its defaults, torch, on the same
model and texts. Measured, for each backend: ``Embedder.embed_documents``, what
``ingestion.indexing.embeddings_ensure`` calls (batching, normalisation, the conversion to float lists).
``embed_chunks_per_s`` is the product's default path (``EMBEDDING_BACKEND``).

Texts are the demo knowledge base cut by the real chunker, in the ``heading path\\ntext`` form the index
embeds, each made distinct. Runs are interleaved (baseline, each backend, baseline, ...) and the median
of ``rounds`` is reported, so a machine busy with something else skews every figure alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings


def chunk_texts(count: int) -> list[str]:
    """``count`` distinct chunk texts: the demo pages' chunks, repeated with a marker when more are asked."""
    from ingestion.chunking import chunk_document
    from ingestion.loaders import iter_document_paths, load_document

    chunks: list[str] = []
    for path in iter_document_paths(Path(settings.DEMO_KB_DIR)):
        chunks += [draft.embedding_text() for draft in chunk_document(load_document(path))]
    if not chunks:
        raise RuntimeError(f"no chunks in {settings.DEMO_KB_DIR}")
    return [f"{chunks[n % len(chunks)]} (passage {n})" for n in range(count)]


def _rate(texts: int, seconds: Sequence[float]) -> float:
    return round(texts / statistics.median(seconds), 1)


def bench_embedding(*, texts: int = 500, backends: Sequence[str] | None = None, rounds: int = 3) -> dict[str, float]:
    from assistant.embedder import BACKENDS, SentenceTransformerEmbedder, embedder_create

    chosen = tuple(backends or BACKENDS)
    default = settings.EMBEDDING_BACKEND
    if default not in chosen:
        chosen = (*chosen, default)
    corpus = chunk_texts(texts)
    torch_embedder = SentenceTransformerEmbedder(settings.EMBEDDING_MODEL)
    model = torch_embedder._model  # the same loaded weights as the torch backend: only the call path differs
    embedders = {
        backend: torch_embedder
        if backend == "torch"
        else embedder_create(model=settings.EMBEDDING_MODEL, backend=backend)  # type: ignore[arg-type]
        for backend in chosen
    }
    for embedder in embedders.values():
        embedder.embed_documents(corpus[:8])  # warm-up: the first call pays for lazy initialisation
    model.encode(corpus[:8], show_progress_bar=False)

    baseline: list[float] = []
    measured: dict[str, list[float]] = {backend: [] for backend in chosen}
    for _ in range(rounds):
        started = time.perf_counter()
        model.encode(corpus, show_progress_bar=False)
        baseline.append(time.perf_counter() - started)
        for backend, embedder in embedders.items():
            started = time.perf_counter()
            vectors = embedder.embed_documents(corpus)
            measured[backend].append(time.perf_counter() - started)
            if len(vectors) != texts or len(vectors[0]) != embedder.dim:
                raise RuntimeError(f"the {backend} embedder returned the wrong shape")

    results: dict[str, float] = {"embed_texts": texts, "embed_rounds": rounds}
    results["embed_baseline_chunks_per_s"] = _rate(texts, baseline)
    for backend in chosen:
        key = backend.replace("-", "_")
        results[f"embed_{key}_chunks_per_s"] = _rate(texts, measured[backend])
        results[f"embed_{key}_vs_baseline_ratio"] = round(
            statistics.median(baseline) / statistics.median(measured[backend]), 3
        )
    default_key = default.replace("-", "_")
    results["embed_chunks_per_s"] = results[f"embed_{default_key}_chunks_per_s"]
    results["embed_vs_baseline_ratio"] = results[f"embed_{default_key}_vs_baseline_ratio"]
    return results
