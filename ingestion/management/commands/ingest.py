from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingestion.loaders import DocumentError
from ingestion.services import ingest_folder


class Command(BaseCommand):
    help = "Ingest a folder (or one file) of Markdown/HTML documents and rebuild the index if anything changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            report = ingest_folder(path=path)
        except DocumentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        if report.failed:
            self.stderr.write(self.style.WARNING(f"{report.failed} file(s) could not be ingested; see errors."))
