from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ingestion.loaders import DocumentError
from ingestion.models import IngestionRun, Source
from ingestion.services import IngestReport, ingest_folder, sources_ingest, sources_ingest_scheduled


class Command(BaseCommand):
    help = (
        "Ingest a folder (or one file) of Markdown/HTML documents, one or more sources (--source ID), "
        "or every enabled source (--all); the index is rebuilt only if something changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, nargs="?", help="folder or file of Markdown/HTML with front matter")
        parser.add_argument("--source", type=int, action="append", default=[], help="source ID (repeatable)")
        parser.add_argument(
            "--all", action="store_true", dest="everything", help="every source whose nightly schedule is enabled"
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, path: Path | None, source: list[int], everything: bool, **options: Any) -> None:
        if sum((path is not None, bool(source), everything)) != 1:
            raise CommandError("give exactly one of: PATH, --source ID, --all")
        bar = tqdm(unit="doc", desc="ingest", file=sys.stderr, disable=options["no_progress"] or None)

        def progress(seen: int, label: str) -> None:
            bar.update(seen - bar.n)
            bar.set_postfix_str(label[-40:], refresh=False)

        try:
            report = self._ingest(path=path, source_ids=source, everything=everything, progress=progress)
        except DocumentError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.stdout.write(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
        if report.status == IngestionRun.Status.SKIPPED:
            raise CommandError("another ingestion run is in progress; nothing was done")
        if report.failure:
            raise CommandError(f"run failed, the live index is unchanged: {report.failure}")
        if report.failed:
            self.stderr.write(self.style.WARNING(f"{report.failed} document(s) could not be ingested; see errors."))

    def _ingest(self, *, path: Path | None, source_ids: list[int], everything: bool, progress: Any) -> IngestReport:
        if path is not None:
            return ingest_folder(path=path, progress=progress)
        if everything:
            return sources_ingest_scheduled(trigger=IngestionRun.Trigger.CLI, progress=progress)
        sources = list(Source.objects.filter(pk__in=source_ids))
        missing = set(source_ids) - {s.pk for s in sources}
        if missing:
            raise CommandError(f"no source with ID {sorted(missing)}")
        return sources_ingest(sources=sources, trigger=IngestionRun.Trigger.CLI, progress=progress)
