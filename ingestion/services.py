"""Ingestion services: run sources into the database, then make a new index generation live.

A run never leaves the index dark: the live generation is replaced only by a complete, validated
one, and a run that fails (too many failed fetches, nothing to index, a build error) keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from assistant.embedder import Embedder, index_embedding
from assistant.vector_index import IndexBuildError, VectorIndex, get_index
from ingestion.fetching import Fetcher
from ingestion.indexing import IndexBuild, index_rebuild
from ingestion.loaders import DocumentError
from ingestion.models import Document, IngestionRun, Source
from ingestion.readers import document_reread, fetch_policy, source_read
from ingestion.runs import RunTally, run_finish, run_start, too_many_failures

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestReport:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    errors: tuple[str, ...] = ()
    build: IndexBuild | None = None
    run_id: int | None = None
    status: str = ""
    failure: str = ""
    transient: int = 0  # failures worth retrying later

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def as_dict(self) -> dict[str, object]:
        return {
            "run": self.run_id,
            "status": self.status,
            "added": self.added,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": self.failed,
            "errors": list(self.errors),
            "failure": self.failure,
            "generation": self.build.generation if self.build else None,
            "points": self.build.points if self.build else None,
            "embedded": self.build.embedded if self.build else 0,
        }

    @classmethod
    def of(cls, run: IngestionRun, build: IndexBuild | None) -> IngestReport:
        return cls(
            added=run.added,
            changed=run.changed,
            unchanged=run.unchanged,
            removed=run.removed,
            failed=run.failed,
            errors=tuple(run.errors),
            build=build,
            run_id=run.pk,
            status=str(run.status),
            failure=run.failure,
            transient=int(run.report.get("transient", 0)),
        )


Progress = Callable[[int, str], None]


def _run(
    *,
    trigger: str,
    sources: Sequence[Source],
    read: Callable[[RunTally, Fetcher], None],
    rebuild: bool,
    index: VectorIndex | None,
    embedder: Embedder | None,
    fetcher: Fetcher | None,
    progress: Progress | None = None,
) -> IngestReport:
    run = run_start(trigger=trigger, sources=sources)
    if run.status == IngestionRun.Status.SKIPPED:
        logger.warning("ingestion run %s skipped: another run holds the lock", run.pk)
        return IngestReport.of(run, None)
    tally = RunTally(progress=progress)
    owned = fetcher is None
    fetcher = fetcher or Fetcher(fetch_policy())
    build: IndexBuild | None = None
    failure = ""
    try:
        read(tally, fetcher)
        failure = too_many_failures(tally)
        index = index or get_index()
        # A live generation embedded by another model or backend is rebuilt even when no text changed.
        stale = index_embedding(index=index, configured=embedder.name if embedder else None).needs_rebuild
        if rebuild and not failure and (tally.changed_anything or index.current_generation() is None or stale):
            build = index_rebuild(index=index, embedder=embedder)
    except IndexBuildError as exc:
        failure = f"index build failed, the live generation is kept: {exc}"
    except Exception as exc:
        # Whatever broke, the lock must be released and the run recorded as failed.
        logger.exception("ingestion run %s failed", run.pk)
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        if owned:
            fetcher.close()
        run = run_finish(
            run=run,
            tally=tally,
            failure=failure,
            generation=build.generation if build else "",
            embedded=build.embedded if build else 0,
        )
    logger.info("ingestion run %s %s: %s", run.pk, run.status, IngestReport.of(run, build).as_dict())
    return IngestReport.of(run, build)


def sources_ingest(
    *,
    sources: Sequence[Source],
    trigger: str = IngestionRun.Trigger.CLI,
    rebuild: bool = True,
    index: VectorIndex | None = None,
    embedder: Embedder | None = None,
    fetcher: Fetcher | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Re-ingest ``sources`` in one run (one lock, one report, at most one new generation)."""

    def read(tally: RunTally, fetcher: Fetcher) -> None:
        for source in sources:
            source_read(source=source, tally=tally, fetcher=fetcher)

    return _run(
        trigger=trigger,
        sources=sources,
        read=read,
        rebuild=rebuild,
        index=index,
        embedder=embedder,
        fetcher=fetcher,
        progress=progress,
    )


def sources_ingest_scheduled(*, trigger: str = IngestionRun.Trigger.NIGHTLY, **kwargs: object) -> IngestReport:
    """The nightly run: every source with its schedule enabled."""
    sources = list(Source.objects.filter(schedule_enabled=True).order_by("pk"))
    return sources_ingest(sources=sources, trigger=trigger, **kwargs)  # type: ignore[arg-type]


def documents_reingest(
    *, documents: Sequence[Document], trigger: str = IngestionRun.Trigger.ADMIN, fetcher: Fetcher | None = None
) -> IngestReport:
    """Re-read chosen documents from their sources now (the admin's "re-ingest now")."""
    sources = list({d.source for d in documents if d.source is not None})

    def read(tally: RunTally, fetcher: Fetcher) -> None:
        for document in documents:
            document_reread(document=document, tally=tally, fetcher=fetcher)

    return _run(trigger=trigger, sources=sources, read=read, rebuild=True, index=None, embedder=None, fetcher=fetcher)


def folder_source(path: Path) -> Source:
    """The folder source for ``path``, created on first use (the CLI and the demo knowledge base)."""
    root = path.resolve()
    if not root.exists():
        raise DocumentError(f"{root}: no such file or folder")
    source, _created = Source.objects.get_or_create(
        kind=Source.Kind.FOLDER, path=str(root), defaults={"name": root.name}
    )
    return source


def ingest_folder(
    *,
    path: Path,
    rebuild: bool = True,
    index: VectorIndex | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the documents of a folder into the knowledge base; files gone from it are withdrawn.

    A file that cannot be read is reported and its last good version kept. The index is rebuilt
    only when something changed (or when no generation exists yet).
    """
    with transaction.atomic():
        source = folder_source(path)
    return sources_ingest(sources=[source], rebuild=rebuild, index=index, embedder=embedder, progress=progress)


def index_refresh(*, trigger: str = IngestionRun.Trigger.EDIT) -> IngestReport:
    """Rebuild the index from the database after an editor's change (publish, unpublish, edit).

    No lock: builds are serialised by the index itself, and a refresh must never be skipped,
    or the change it carries would wait for the next night.
    """
    run = IngestionRun.objects.create(trigger=trigger)
    build: IndexBuild | None = None
    failure = ""
    try:
        build = index_rebuild()
    except IndexBuildError as exc:
        failure = str(exc)
    run = run_finish(run=run, tally=RunTally(), failure=failure, generation=build.generation if build else "")
    return IngestReport.of(run, build)
