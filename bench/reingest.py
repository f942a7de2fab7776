"""Re-ingesting an unchanged knowledge base against the first ingestion of the same documents.

Baseline: the first ingestion of N documents (parse, chunk, embed with the real model, build the
index). Measured: the same command again with nothing changed. The ratio is what a quiet night costs.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from django.conf import settings


def knowledge_base_write(*, folder: Path, documents: int) -> None:
    """``documents`` distinct Markdown pages made from the demo knowledge base (unique keys and text)."""
    pages = sorted(settings.DEMO_KB_DIR.glob("*.md"))
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(documents):
        page = pages[number % len(pages)]
        text = page.read_text()
        text = re.sub(r"^procedure: (.+)$", rf"procedure: bench-{number:05d}-\1", text, count=1, flags=re.M)
        # A distinct title puts every chunk's heading path apart: every chunk must be embedded.
        text = re.sub(r'^title: "(.+)"$', rf'title: "\1 ({number})"', text, count=1, flags=re.M)
        # A unique sentence per page, so no chunk is an exact copy of another (all must be embedded).
        text += f"\n\nReference {number:05d}: this page is copy {number // len(pages)} of {page.stem}.\n"
        (folder / f"bench-{number:05d}-{page.name}").write_text(text)


def bench_reingest(*, work: Path, documents: int = 1000) -> dict[str, float]:
    from assistant.vector_index import EdgeIndex
    from ingestion.services import ingest_folder

    folder = work / "kb"
    knowledge_base_write(folder=folder, documents=documents)
    index = EdgeIndex(work / "index")

    started = time.perf_counter()
    first = ingest_folder(path=folder, index=index)
    first_s = time.perf_counter() - started
    if first.added != documents or first.build is None:
        raise RuntimeError(f"first ingestion did not add every document: {first.as_dict()}")

    started = time.perf_counter()
    again = ingest_folder(path=folder, index=index)
    again_s = time.perf_counter() - started
    if again.unchanged != documents or again.build is not None:
        raise RuntimeError(f"unchanged re-ingestion did work it should have skipped: {again.as_dict()}")
    return {
        "reingest_documents": documents,
        "reingest_chunks_embedded": first.build.embedded,
        "ingest_first_s": round(first_s, 3),
        "reingest_unchanged_s": round(again_s, 3),
        "reingest_unchanged_ratio": round(again_s / first_s, 4),
    }
