"""Celery tasks: thin wrappers that call the ingestion services."""

from __future__ import annotations

from pathlib import Path

from celery import shared_task

from ingestion.services import ingest_folder


@shared_task(name="ingestion.tasks.ingest_path")
def ingest_path(path: str) -> dict[str, object]:
    return ingest_folder(path=Path(path)).as_dict()
