"""Ingestion services: read a folder of documents into the database, then rebuild the index."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction

from assistant.embedder import Embedder
from assistant.vector_index import EdgeIndex, get_index
from ingestion.chunking import chunk_document
from ingestion.indexing import IndexBuild, index_rebuild
from ingestion.loaders import DocumentError, ParsedDocument, iter_document_paths, load_document
from ingestion.models import Chunk, Document

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

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": self.failed,
            "errors": list(self.errors),
            "generation": self.build.generation if self.build else None,
            "points": self.build.points if self.build else None,
        }


@dataclass
class _Tally:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)


def _store(parsed: ParsedDocument, tally: _Tally) -> None:
    existing = Document.objects.filter(key=parsed.key).first()
    if existing and existing.content_hash == parsed.content_hash and existing.status != Document.Status.WITHDRAWN:
        tally.unchanged += 1
        return
    with transaction.atomic():
        document, created = Document.objects.update_or_create(
            key=parsed.key,
            defaults={
                "procedure": parsed.procedure,
                "language": parsed.language,
                "title": parsed.title,
                "url": parsed.url,
                "origin": parsed.origin,
                "content_hash": parsed.content_hash,
                "status": Document.Status.PUBLISHED,
            },
        )
        document.chunks.all().delete()
        Chunk.objects.bulk_create(
            Chunk(
                document=document,
                position=draft.position,
                heading_path=draft.heading_path,
                text=draft.text,
                text_hash=draft.text_hash,
            )
            for draft in chunk_document(parsed)
        )
    if created:
        tally.added += 1
    else:
        tally.changed += 1


def ingest_folder(
    *, path: Path, rebuild: bool = True, index: EdgeIndex | None = None, embedder: Embedder | None = None
) -> IngestReport:
    """Bring the documents of ``path`` into the knowledge base; files gone from it are withdrawn.

    A file that cannot be read is reported and its last good version kept. The index is rebuilt
    only when something changed (or when no generation exists yet).
    """
    root = path.resolve()
    tally = _Tally()
    seen: set[str] = set()
    failed_keys: set[str] = set()
    for file in iter_document_paths(root):
        try:
            parsed = load_document(file)
        except DocumentError as exc:
            tally.errors.append(str(exc))
            failed_keys.add(file.stem)
            logger.warning("ingestion skipped a file: %s", exc)
            continue
        seen.add(parsed.key)
        _store(parsed, tally)
    prefix = str(root) if root.is_dir() else str(root.parent)
    gone = (
        Document.objects.filter(origin__startswith=prefix)
        .exclude(key__in=seen | failed_keys)
        .exclude(status=Document.Status.WITHDRAWN)
    )
    removed = gone.update(status=Document.Status.WITHDRAWN)
    report = IngestReport(
        added=tally.added,
        changed=tally.changed,
        unchanged=tally.unchanged,
        removed=removed,
        failed=len(tally.errors),
        errors=tuple(tally.errors),
    )
    index = index or get_index()
    if rebuild and (report.changed_anything or index.current_generation() is None):
        build = index_rebuild(index=index, embedder=embedder)
        report = IngestReport(**{**report.__dict__, "build": build})
    return report
