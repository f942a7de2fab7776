"""The demo knowledge base in both backends: the Qdrant server adapter (local mode) and the embedded index
retrieve the same top document for the same questions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.qdrant_server import QdrantServerIndex
from assistant.retrieval import retrieve
from assistant.vector_index import get_index
from tests.integration.test_retrieval_demo_kb import QUESTIONS as DEMO_KB_QUESTIONS

pytestmark = pytest.mark.django_db

# The embedded index's own retrieval questions, without LB (the comparison needs no lexicon test).
QUESTIONS = [q for q in DEMO_KB_QUESTIONS if q[0] != "lb"]


@pytest.fixture(scope="module")
def server_index(
    demo_kb_index: Path, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QdrantServerIndex]:
    """The same published chunks as the embedded index, built into the server adapter (embeddings are cached)."""
    from ingestion.indexing import index_rebuild

    index = QdrantServerIndex.from_url(f"local:{tmp_path_factory.mktemp('qdrant')}")
    with django_db_blocker.unblock():
        build = index_rebuild(index=index)
    assert build.embedded == 0 and build.points == get_index().count()
    yield index
    index.close()


@pytest.mark.parametrize(("language", "question", "procedure"), QUESTIONS)
def test_both_backends_retrieve_the_same_top_document(
    server_index: QdrantServerIndex, language: str, question: str, procedure: str
) -> None:
    embedded = retrieve(question=question, language=language, index=get_index())
    server = retrieve(question=question, language=language, index=server_index)
    assert server.kept, server.reason
    assert server.kept[0].procedure == procedure, [c.document_key for c in server.kept]
    assert server.kept[0].document_key == embedded.kept[0].document_key
    assert [c.document_key for c in server.kept] == [c.document_key for c in embedded.kept]
