"""Ingestion runs: the lock that keeps two runs apart, the tally of what changed, the report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ingestion.models import Document, IngestionRun, Source

LOCK = "ingestion"


@dataclass
class RunTally:
    """What a run saw, page by page; becomes the run's counts and report."""

    added: list[dict[str, str]] = field(default_factory=list)
    changed: list[dict[str, str]] = field(default_factory=list)
    removed: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unchanged: int = 0
    transient: int = 0  # failures worth retrying (timeouts, 5xx)
    progress: Callable[[int, str], None] | None = None  # (documents seen so far, what was just read)

    def tick(self, label: str) -> None:
        if self.progress is not None:
            self.progress(self.seen, label)

    @staticmethod
    def entry(document: Document) -> dict[str, str]:
        return {"key": document.key, "title": document.title, "url": document.url, "language": document.language}

    def fail(self, where: str, error: str, *, transient: bool = False) -> None:
        self.failed.append({"where": where, "error": error})
        self.transient += int(transient)

    @property
    def seen(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed) + len(self.failed) + self.unchanged

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def run_start(*, trigger: str, sources: Sequence[Source]) -> IngestionRun:
    """Start a run holding the lock, or record a skipped run when another one holds it."""
    _release_abandoned()
    try:
        with transaction.atomic():
            run = IngestionRun.objects.create(trigger=trigger, lock=LOCK)
    except IntegrityError:
        run = IngestionRun.objects.create(
            trigger=trigger, status=IngestionRun.Status.SKIPPED, finished_at=timezone.now()
        )
    run.sources.set(sources)
    return run


def _release_abandoned() -> None:
    """A worker killed mid-run never releases the lock; after the TTL the run is declared dead."""
    cutoff = timezone.now() - timedelta(seconds=settings.INGEST_LOCK_TTL_S)
    IngestionRun.objects.filter(lock=LOCK, started_at__lt=cutoff).update(
        lock=None,
        status=IngestionRun.Status.FAILED,
        finished_at=timezone.now(),
        failure="abandoned: still running after the lock TTL (worker killed?)",
    )


def run_finish(
    *, run: IngestionRun, tally: RunTally, failure: str = "", generation: str = "", embedded: int = 0
) -> IngestionRun:
    run.added, run.changed, run.removed = len(tally.added), len(tally.changed), len(tally.removed)
    run.unchanged, run.failed, run.embedded = tally.unchanged, len(tally.failed), embedded
    run.errors = [
        f["error"] if f["error"].startswith(f["where"]) else f"{f['where']}: {f['error']}" for f in tally.failed
    ]
    run.report = {
        "added": tally.added,
        "changed": tally.changed,
        "removed": tally.removed,
        "failed": tally.failed,
        "transient": tally.transient,
    }
    run.generation = generation
    run.failure = failure
    run.status = IngestionRun.Status.FAILED if failure else IngestionRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.lock = None
    run.save()
    return run


def too_many_failures(tally: RunTally) -> str:
    """Why the run must not go live when too large a share of its fetches failed, else ""."""
    if not tally.seen:
        return ""
    share = len(tally.failed) / tally.seen
    if tally.failed and share > settings.INGEST_MAX_FAILED_SHARE:
        return (
            f"{len(tally.failed)} of {tally.seen} documents failed "
            f"(more than {settings.INGEST_MAX_FAILED_SHARE:.0%}): the live index is kept"
        )
    return ""
