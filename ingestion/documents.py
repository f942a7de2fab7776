"""Document services: store new content (versions and chunks), withdraw, publish and unpublish."""

from __future__ import annotations

import re
from enum import StrEnum

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from ingestion.chunking import chunk_document
from ingestion.loaders import ParsedDocument, Section
from ingestion.models import Chunk, Document, DocumentVersion, Source
from ingestion.signals import documents_changed

_TOKEN = re.compile(r"\w+|[^\w\s]")


class StoreOutcome(StrEnum):
    ADDED = "added"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


def sections_text(sections: tuple[Section, ...]) -> str:
    """The text of a document as one Markdown-ish string: what versions store and diffs compare."""
    parts = []
    for section in sections:
        if section.headings:
            parts.append("#" * len(section.headings) + " " + section.headings[-1])
        parts.append(section.text)
    return "\n\n".join(parts)


def token_count(text: str) -> int:
    """Approximate tokens (words and punctuation); what editors need to judge a chunk's size."""
    return len(_TOKEN.findall(text))


def document_store(
    *,
    parsed: ParsedDocument,
    source: Source | None,
    publish: bool,
    etag: str = "",
    last_modified: str = "",
) -> tuple[Document, StoreOutcome]:
    """Bring one document to ``parsed``; unchanged content is neither re-chunked nor re-embedded.

    A new document is published when ``publish`` (the source's choice), otherwise a draft. An
    existing one keeps the status an editor gave it, except that a withdrawn page that comes back
    is restored.
    """
    now = timezone.now()
    existing = Document.objects.filter(key=parsed.key).first()
    fetch_fields = {"last_fetched": now, "fetch_error": "", "etag": etag, "last_modified_header": last_modified}
    if existing and existing.content_hash == parsed.content_hash:
        # Where it was read from this time (a folder may move; an evaluation reads a copy).
        Document.objects.filter(pk=existing.pk).update(
            source=source or existing.source, origin=parsed.origin, **fetch_fields
        )
        if existing.status != Document.Status.WITHDRAWN:
            return existing, StoreOutcome.UNCHANGED
        existing.status = Document.Status.PUBLISHED if publish else Document.Status.DRAFT
        existing.save(update_fields=["status"])
        return existing, StoreOutcome.CHANGED
    if existing is None or existing.status == Document.Status.WITHDRAWN:
        status = Document.Status.PUBLISHED if publish else Document.Status.DRAFT
    else:
        status = Document.Status(existing.status)
    text = sections_text(parsed.sections)
    with transaction.atomic():
        document, created = Document.objects.update_or_create(
            key=parsed.key,
            defaults={
                "source": source or (existing.source if existing else None),
                "procedure": parsed.procedure,
                "language": parsed.language,
                "title": parsed.title,
                "url": parsed.url,
                "origin": parsed.origin,
                "content_hash": parsed.content_hash,
                "status": status,
                "last_changed": now,
                **fetch_fields,
            },
        )
        DocumentVersion.objects.create(
            document=document, title=parsed.title, text=text, content_hash=parsed.content_hash, fetched_at=now
        )
        document.chunks.all().delete()
        Chunk.objects.bulk_create(
            Chunk(
                document=document,
                position=draft.position,
                heading_path=draft.heading_path,
                text=draft.text,
                language=parsed.language,
                token_count=token_count(draft.text),
                text_hash=draft.text_hash,
            )
            for draft in chunk_document(parsed)
        )
        if not created:
            documents_changed.send(sender=Document, document_ids=[document.pk], change="changed")
    return document, StoreOutcome.ADDED if created else StoreOutcome.CHANGED


def documents_withdraw(documents: QuerySet[Document]) -> list[Document]:
    """Pages gone from their source leave the index; their text and versions stay in the database."""
    gone = list(documents.exclude(status=Document.Status.WITHDRAWN))
    for document in gone:
        document.status = Document.Status.WITHDRAWN
        document.save(update_fields=["status"])  # save(), not update(): the history records it
    if gone:
        documents_changed.send(sender=Document, document_ids=[d.pk for d in gone], change="withdrawn")
    return gone


def fetch_failure_record(document: Document, error: str) -> None:
    """A failed fetch keeps the last good version; it only notes why."""
    Document.objects.filter(pk=document.pk).update(fetch_error=error[:2000])


def documents_set_status(*, documents: QuerySet[Document], status: Document.Status) -> int:
    """Publish or unpublish (draft) documents; each change is recorded in the history.

    Returns how many changed. The caller schedules the index refresh (after commit).
    """
    changed_ids = []
    for document in documents.exclude(status=status):
        document.status = status
        document.save(update_fields=["status"])
        changed_ids.append(document.pk)
    if changed_ids and status != Document.Status.PUBLISHED:
        documents_changed.send(sender=Document, document_ids=changed_ids, change="unpublished")
    return len(changed_ids)
