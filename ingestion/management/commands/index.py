from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.timezone import localtime

from assistant.embedder import index_embedding
from assistant.vector_index import IndexBuildError, IndexUnavailable, get_index
from ingestion.indexing import index_rebuild
from ingestion.models import IngestionRun


class Command(BaseCommand):
    help = "Index generations: show them, rebuild from the database, or roll back to the previous one."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["status", "rebuild", "rollback"])

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        index = get_index()
        if action == "rebuild":
            try:
                build = index_rebuild(index=index)
            except IndexBuildError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"live generation: {build.generation} ({build.points} points, {build.embedded} embedded)")
            self.stdout.write(index_embedding(index=index).describe())
            return
        live = index.current_generation()
        generations = index.generations()
        if action == "rollback":
            older = [g for g in generations if live is None or g < live]
            if not older:
                raise CommandError("there is no earlier generation to roll back to")
            try:
                index.activate(older[-1])
            except IndexUnavailable as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"rolled back: {live} -> {older[-1]}")
            return
        for name in generations:
            built_with = index.generation_meta(name).get("embedding", "embedding not recorded")
            self.stdout.write(f"{'*' if name == live else ' '} {name} ({built_with})")
        if live is None:
            self.stdout.write("no live generation: run `manage.py ingest PATH`")
        else:
            self.stdout.write(f"live: {live}, {index.count()} points")
        embedding = index_embedding(index=index)
        self.stdout.write(
            embedding.describe() if not embedding.needs_rebuild else self.style.WARNING(embedding.describe())
        )
        for run in IngestionRun.objects.order_by("-started_at")[:5]:
            counts = f"+{run.added} ~{run.changed} ={run.unchanged} -{run.removed} !{run.failed}"
            when = f"{localtime(run.started_at):%Y-%m-%d %H:%M}"
            self.stdout.write(f"run {run.pk} {when} {run.trigger} {run.status} {counts}")
