"""Celery tasks: thin wrappers that load by ID and call the ingestion services."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from celery import shared_task
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError as KombuOperationalError

from ingestion.models import Document, IngestionRun, Source
from ingestion.services import (
    documents_reingest,
    index_refresh,
    ingest_folder,
    sources_ingest,
    sources_ingest_scheduled,
)

logger = logging.getLogger(__name__)


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


BROKER_DOWN = _(
    "The task queue is not reachable, so this work was not started now. Your change is saved: "
    "the nightly run, or `manage.py index rebuild`, will catch up."
)


def after_commit(task: Any, *args: object, request: HttpRequest | None = None) -> None:
    """Enqueue once the transaction that made the change commits, so the worker sees it.

    A broker that is down must not undo or fail the change that is already committed: the error is
    logged, and the admin who made the change (``request``) is told that the work will come later.
    Outside a transaction the enqueue runs at once, so the warning reaches the same response.
    """

    def enqueue() -> None:
        try:
            task.delay(*args)
        except KombuOperationalError:
            logger.exception("broker unavailable: task %s not enqueued; the nightly run will catch up", task.name)
            if request is not None:
                messages.warning(request, BROKER_DOWN, fail_silently=True)

    transaction.on_commit(enqueue)
