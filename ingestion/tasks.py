"""Celery tasks: thin wrappers that load by ID and call the ingestion services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import shared_task
from django.db import transaction

from ingestion.models import Document, IngestionRun, Source
from ingestion.services import (
    documents_reingest,
    index_refresh,
    ingest_folder,
    sources_ingest,
    sources_ingest_scheduled,
)


@shared_task(name="ingestion.tasks.ingest_nightly")
def ingest_nightly() -> dict[str, object]:
    """Beat entry: every enabled source; a run already in progress makes this one a recorded skip."""
    return sources_ingest_scheduled(trigger=IngestionRun.Trigger.NIGHTLY).as_dict()


@shared_task(name="ingestion.tasks.ingest_sources")
def ingest_sources(source_ids: list[int], trigger: str = IngestionRun.Trigger.ADMIN) -> dict[str, object]:
    sources = list(Source.objects.filter(pk__in=source_ids).order_by("pk"))
    return sources_ingest(sources=sources, trigger=trigger).as_dict()


@shared_task(
    name="ingestion.tasks.ingest_documents", bind=True, max_retries=3, retry_backoff=True, retry_backoff_max=600
)
def ingest_documents(self: Any, document_ids: list[int]) -> dict[str, object]:
    """Re-read documents now; a transient fetch failure (timeout, 5xx) is retried with back-off."""
    documents = list(Document.objects.filter(pk__in=document_ids).select_related("source"))
    report = documents_reingest(documents=documents)
    if report.transient and self.request.retries < self.max_retries:
        raise self.retry(countdown=min(600, 30 * 2**self.request.retries))
    return report.as_dict()


@shared_task(name="ingestion.tasks.index_refresh")
def refresh_index() -> dict[str, object]:
    return index_refresh().as_dict()


@shared_task(name="ingestion.tasks.ingest_path")
def ingest_path(path: str) -> dict[str, object]:
    return ingest_folder(path=Path(path)).as_dict()


def after_commit(task: Any, *args: object) -> None:
    """Enqueue once the transaction that made the change commits, so the worker sees it."""
    transaction.on_commit(lambda: task.delay(*args))
