"""Embedding throughput of the ingestion path against plain ``SentenceTransformer.encode``.

Baseline: the library's ``encode`` with its defaults, on the same model and texts. Measured:
``SentenceTransformerEmbedder.embed_documents``, what ``ingestion.indexing.embeddings_ensure`` calls
(batching, normalisation, the lock and the conversion to float lists). Texts are chunk-sized
passages of the demo knowledge base, each made distinct, in the ``heading\\ntext`` form the index embeds.
"""

from __future__ import annotations

import time

from django.conf import settings


def chunk_texts(count: int) -> list[str]:
    """``count`` distinct chunk-like texts (paragraphs of the demo pages under their titles)."""
    passages: list[str] = []
    for page in sorted(settings.DEMO_KB_DIR.glob("*.md")):
        body = page.read_text().split("---", 2)[-1]
        passages += [p.strip() for p in body.split("\n\n") if len(p.strip()) > 80]
    if not passages:
        raise RuntimeError(f"no passages in {settings.DEMO_KB_DIR}")
    return [f"{passages[n % len(passages)]} (passage {n})" for n in range(count)]


def bench_embedding(*, texts: int = 500) -> dict[str, float]:
    from assistant.embedder import SentenceTransformerEmbedder

    corpus = chunk_texts(texts)
    embedder = SentenceTransformerEmbedder(settings.EMBEDDING_MODEL)
    model = embedder._model  # the same loaded weights: only the call path differs
    embedder.embed_documents(corpus[:8])  # warm-up: first call pays for lazy initialisation

    started = time.perf_counter()
    model.encode(corpus, show_progress_bar=False)
    baseline_s = time.perf_counter() - started
    started = time.perf_counter()
    vectors = embedder.embed_documents(corpus)
    measured_s = time.perf_counter() - started
    if len(vectors) != texts or len(vectors[0]) != embedder.dim:
        raise RuntimeError("the embedder returned the wrong shape")
    return {
        "embed_texts": texts,
        "embed_chunks_per_s": round(texts / measured_s, 1),
        "embed_baseline_chunks_per_s": round(texts / baseline_s, 1),
        "embed_vs_baseline_ratio": round(baseline_s / measured_s, 3),
    }
