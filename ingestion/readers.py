"""Read each kind of source into the database: folders, uploaded files, web pages and sitemaps.

Every reader follows the same rules: unchanged content is skipped, changed content is stored as a
new version, a page that is gone is withdrawn, and a failure keeps the last good version.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from assistant.language import detect_language
from assistant.types import LANGUAGES
from ingestion.documents import StoreOutcome, document_store, documents_withdraw, fetch_failure_record
from ingestion.extraction import Extracted, extract
from ingestion.fetching import Fetcher, FetchOutcome, FetchPolicy, FetchResult
from ingestion.loaders import DocumentError, ParsedDocument, iter_document_paths, load_document
from ingestion.models import Document, Source
from ingestion.runs import RunTally
from ingestion.sitemaps import sitemap_collect

logger = logging.getLogger(__name__)


def fetch_policy() -> FetchPolicy:
    return FetchPolicy(
        read_timeout_s=settings.INGEST_FETCH_TIMEOUT_S,
        total_timeout_s=settings.INGEST_FETCH_TIMEOUT_S * 3,
        max_bytes=settings.INGEST_MAX_BYTES,
        min_interval_s=settings.INGEST_MIN_INTERVAL_S,
    )


def _record(tally: RunTally, document: Document, outcome: StoreOutcome) -> None:
    if outcome == StoreOutcome.UNCHANGED:
        tally.unchanged += 1
    else:
        getattr(tally, outcome.value).append(RunTally.entry(document))


def _withdraw(tally: RunTally, documents: object) -> None:
    for document in documents_withdraw(documents):  # type: ignore[arg-type]
        tally.removed.append(RunTally.entry(document))


# --- folders and uploads -------------------------------------------------------------------
def folder_read(*, source: Source, tally: RunTally) -> None:
    """Markdown/HTML files with front matter; files gone from the folder are withdrawn."""
    root = Path(source.path).resolve()
    try:
        files = iter_document_paths(root)
    except DocumentError as exc:
        tally.fail(source.path, str(exc))
        return  # a missing folder withdraws nothing: it may be a mount that is down
    # One query for what is known, one update for everything unchanged: a night where little
    # changed costs a read and a hash per file, not a database round trip per file.
    known = {
        key: (pk, digest)
        for key, pk, digest in Document.objects.filter(source=source)
        .exclude(status=Document.Status.WITHDRAWN)
        .values_list("key", "pk", "content_hash")
    }
    seen: set[str] = set()
    untouched: list[int] = []
    for file in files:
        try:
            parsed = load_document(file, default_language="" if source.language == "auto" else source.language)
        except DocumentError as exc:
            seen.add(file.stem)  # keep its last good version
            tally.fail(str(file), str(exc))
            tally.tick(file.name)
            continue
        seen.add(parsed.key)
        pk, digest = known.get(parsed.key, (None, ""))
        if pk is not None and digest == parsed.content_hash:
            untouched.append(pk)
            tally.unchanged += 1
        else:
            document, outcome = document_store(parsed=parsed, source=source, publish=source.auto_publish)
            _record(tally, document, outcome)
        tally.tick(file.name)
    Document.objects.filter(pk__in=untouched).update(last_fetched=timezone.now(), fetch_error="")
    _withdraw(tally, Document.objects.filter(source=source).exclude(key__in=seen))


def upload_read(*, source: Source, tally: RunTally) -> None:
    name = source.file.name or f"upload {source.pk}"
    try:
        size = source.file.size
        if size > settings.INGEST_MAX_BYTES:
            raise DocumentError(f"{name}: {size} bytes is over the {settings.INGEST_MAX_BYTES} byte limit")
        with source.file.open("rb") as handle:
            content = handle.read()
        extracted = extract(content, content_type="", name=name)
        parsed = _parsed(source=source, key=f"upload-{source.pk}", url=source.official_url, origin=name, ex=extracted)
    except (DocumentError, OSError) as exc:
        tally.fail(name, str(exc))
        return
    document, outcome = document_store(parsed=parsed, source=source, publish=source.auto_publish)
    _record(tally, document, outcome)


# --- the web -------------------------------------------------------------------------------
def url_key(url: str) -> str:
    """A stable, readable document key for a URL (keys are limited to 200 characters)."""
    parts = urlsplit(url)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{parts.netloc}{parts.path}".lower()).strip("-")[:120]
    return f"{slug}-{hashlib.sha256(url.encode()).hexdigest()[:10]}"


def _procedure(source: Source, url: str, extracted: Extracted) -> str:
    """Language versions of one procedure share an id: explicit, else the set of hreflang alternates."""
    explicit = source.procedure or extracted.meta.get("procedure", "") or extracted.meta.get("guichet:procedure", "")
    if explicit:
        return explicit[:120]
    group = sorted({url, *(alt for _, alt in extracted.alternates)})
    stem = re.sub(r"[^a-z0-9]+", "-", urlsplit(group[0]).path.lower()).strip("-")[-60:] or "page"
    digest = hashlib.sha256(" ".join(group).encode()).hexdigest()
    return f"{stem}-{digest[:8]}"


def _parsed(*, source: Source, key: str, url: str, origin: str, ex: Extracted) -> ParsedDocument:
    language = source.language if source.language != "auto" else ex.language
    if language not in LANGUAGES:
        language, _confidence = detect_language(ex.text[:2000], fallback="")
    if language not in LANGUAGES:
        raise DocumentError(f"{origin}: cannot tell the language; set it on the source")
    procedure = _procedure(source, url, ex)
    digest = hashlib.sha256("\n".join([ex.title, url, language, procedure, ex.text]).encode()).hexdigest()
    return ParsedDocument(
        key=key,
        title=ex.title[:300] or url,
        url=url,
        language=language,
        procedure=procedure,
        sections=ex.sections,
        content_hash=digest,
        origin=origin,
    )


def page_read(*, source: Source, url: str, tally: RunTally, fetcher: Fetcher) -> None:
    """Fetch one page (conditionally) and store it; 404/410 withdraws, other failures keep it."""
    _page_read(source=source, url=url, tally=tally, fetcher=fetcher)
    tally.tick(url)


def _page_read(*, source: Source, url: str, tally: RunTally, fetcher: Fetcher) -> None:
    key = url_key(url)
    existing = Document.objects.filter(key=key).first()
    result = _fetch_with_retries(fetcher, url, existing)
    if result.outcome == FetchOutcome.NOT_MODIFIED and existing is not None:
        Document.objects.filter(pk=existing.pk).update(fetch_error="", last_fetched=timezone.now())
        tally.unchanged += 1
        return
    if result.outcome == FetchOutcome.GONE:
        if existing is not None:
            _withdraw(tally, Document.objects.filter(pk=existing.pk))
        else:
            tally.fail(url, result.error or f"HTTP {result.status_code}")
        return
    if result.outcome != FetchOutcome.OK:
        tally.fail(url, result.error, transient=result.transient)
        if existing is not None:
            fetch_failure_record(existing, result.error)
        return
    try:
        extracted = extract(result.content, content_type=result.content_type, name=url, base_url=result.final_url)
        parsed = _parsed(source=source, key=key, url=extracted.canonical_url or url, origin=url, ex=extracted)
    except DocumentError as exc:  # ExtractionError included
        tally.fail(url, str(exc))
        if existing is not None:
            fetch_failure_record(existing, str(exc))
        return
    document, outcome = document_store(
        parsed=parsed,
        source=source,
        publish=source.auto_publish,
        etag=result.etag,
        last_modified=result.last_modified,
    )
    _record(tally, document, outcome)


def _fetch_with_retries(fetcher: Fetcher, url: str, existing: Document | None) -> FetchResult:
    """Transient failures (timeouts, 5xx) are retried with back-off before they count as failed."""
    delay = settings.INGEST_RETRY_BACKOFF_S
    etag = existing.etag if existing else ""
    last_modified = existing.last_modified_header if existing else ""
    result = fetcher.fetch(url, etag=etag, last_modified=last_modified)
    for _attempt in range(settings.INGEST_FETCH_RETRIES):
        if not (result.outcome == FetchOutcome.FAILED and result.transient):
            break
        time.sleep(delay)
        delay *= 2
        result = fetcher.fetch(url, etag=etag, last_modified=last_modified)
    return result


def sitemap_read(*, source: Source, tally: RunTally, fetcher: Fetcher) -> None:
    """Every page of the sitemap (up to the cap); pages dropped from a complete sitemap are withdrawn."""
    collected = sitemap_collect(fetcher=fetcher, url=source.url, page_cap=source.page_cap)
    for error in collected.errors:
        tally.fail(source.url, error)
    for url in collected.urls:
        page_read(source=source, url=url, tally=tally, fetcher=fetcher)
    if collected.complete and collected.urls:
        listed = {url_key(url) for url in collected.urls}
        _withdraw(tally, Document.objects.filter(source=source).exclude(key__in=listed))


def source_read(*, source: Source, tally: RunTally, fetcher: Fetcher) -> None:
    kind = Source.Kind(source.kind)
    if kind == Source.Kind.FOLDER:
        folder_read(source=source, tally=tally)
    elif kind == Source.Kind.UPLOAD:
        upload_read(source=source, tally=tally)
    elif kind == Source.Kind.PAGE:
        page_read(source=source, url=source.url, tally=tally, fetcher=fetcher)
    else:
        sitemap_read(source=source, tally=tally, fetcher=fetcher)


def document_reread(*, document: Document, tally: RunTally, fetcher: Fetcher) -> None:
    """Re-ingest one document from where it came from (the admin's "re-ingest now")."""
    source = document.source
    if source is None:
        tally.fail(document.key, "this document has no source to re-read it from")
    elif source.kind in (Source.Kind.PAGE, Source.Kind.SITEMAP):
        page_read(source=source, url=document.origin, tally=tally, fetcher=fetcher)
    elif source.kind == Source.Kind.UPLOAD:
        upload_read(source=source, tally=tally)
    else:
        try:
            parsed = load_document(Path(document.origin))
        except DocumentError as exc:
            tally.fail(document.origin, str(exc))
            return
        stored, outcome = document_store(parsed=parsed, source=source, publish=source.auto_publish)
        _record(tally, stored, outcome)
