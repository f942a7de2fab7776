"""The knowledge base as the database holds it: the source of truth the index is built from.

Source -> Document (one per page or file) -> DocumentVersion (each distinct text seen) and
Chunk (the current text, cut for retrieval). IngestionRun records what each run changed.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

LANGUAGE_CHOICES = [("lb", "Lëtzebuergesch"), ("fr", "Français"), ("de", "Deutsch"), ("en", "English")]


class Source(models.Model):
    """Where documents come from: a web page, a sitemap, an uploaded file or a folder on the server."""

    class Kind(models.TextChoices):
        PAGE = "page", _("Web page")
        SITEMAP = "sitemap", _("Sitemap")
        UPLOAD = "upload", _("Uploaded file")
        FOLDER = "folder", _("Folder on the server")

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    url = models.URLField(_("URL"), max_length=500, blank=True, help_text=_("For a web page or a sitemap"))
    file = models.FileField(
        _("file"), upload_to="sources/%Y/%m/", blank=True, help_text=_("PDF, DOCX, HTML or Markdown")
    )
    path = models.CharField(_("folder"), max_length=500, blank=True, help_text=_("Folder on the server"))
    official_url = models.URLField(
        _("official page"), max_length=500, blank=True, help_text=_("Where citizens are sent for an uploaded file")
    )
    language = models.CharField(
        _("language"),
        max_length=5,
        choices=[("auto", _("Detect")), *LANGUAGE_CHOICES],
        default="auto",
    )
    procedure = models.CharField(
        _("procedure"), max_length=120, blank=True, help_text=_("Groups language versions of one procedure")
    )
    schedule_enabled = models.BooleanField(_("re-ingest nightly"), default=True)
    auto_publish = models.BooleanField(_("publish new documents"), default=True)
    page_cap = models.PositiveIntegerField(_("page cap"), default=500, help_text=_("Most pages read from a sitemap"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        required = {
            self.Kind.PAGE: ("url", self.url),
            self.Kind.SITEMAP: ("url", self.url),
            self.Kind.UPLOAD: ("file", self.file),
            self.Kind.FOLDER: ("path", self.path),
        }
        field, value = required[self.Kind(self.kind)]
        if not value:
            raise ValidationError({field: _("This kind of source needs this field.")})
        if self.kind == self.Kind.UPLOAD and self.file and self.file.size > settings.INGEST_MAX_BYTES:
            raise ValidationError(
                {
                    "file": _("This file is %(size)s bytes; the limit is %(limit)s bytes.")
                    % {"size": self.file.size, "limit": settings.INGEST_MAX_BYTES}
                }
            )
        if self.kind == self.Kind.UPLOAD and not self.official_url:
            raise ValidationError({"official_url": _("An uploaded file needs the official page citizens are sent to.")})

    @property
    def location(self) -> str:
        return self.url or self.path or (self.file.name or "" if self.file else "")


class Document(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    key = models.CharField(_("key"), max_length=200, unique=True, help_text=_("Stable identifier"))
    source = models.ForeignKey(
        Source, verbose_name=_("source"), null=True, blank=True, on_delete=models.PROTECT, related_name="documents"
    )
    procedure = models.CharField(_("procedure"), max_length=120, db_index=True)
    language = models.CharField(_("language"), max_length=5, db_index=True, choices=LANGUAGE_CHOICES)
    title = models.CharField(_("title"), max_length=300)
    url = models.URLField(_("official page"), max_length=500)
    origin = models.CharField(_("origin"), max_length=500, help_text=_("URL, file or folder it was read from"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PUBLISHED)
    content_hash = models.CharField(_("content hash"), max_length=64)
    etag = models.CharField(max_length=200, blank=True)
    last_modified_header = models.CharField(max_length=100, blank=True)
    last_fetched = models.DateTimeField(_("last fetched"), null=True, blank=True)
    last_changed = models.DateTimeField(_("last changed"), default=timezone.now)
    fetch_error = models.TextField(_("last fetch error"), blank=True)
    history = HistoricalRecords(excluded_fields=["etag", "last_modified_header", "last_fetched", "fetch_error"])

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["procedure", "language"]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"

    @property
    def is_stale(self) -> bool:
        cutoff = timezone.now() - timedelta(days=settings.INGEST_STALE_DAYS)
        return self.last_fetched is None or self.last_fetched < cutoff


class DocumentVersion(models.Model):
    """Each distinct text a document had, so editors can see what changed and when."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    title = models.CharField(_("title"), max_length=300)
    text = models.TextField(_("text"))
    content_hash = models.CharField(_("content hash"), max_length=64)
    fetched_at = models.DateTimeField(_("fetched at"), default=timezone.now)

    class Meta:
        verbose_name = _("document version")
        verbose_name_plural = _("document versions")
        ordering = ["-fetched_at", "-id"]

    def __str__(self) -> str:
        return f"{self.document.key} @ {self.fetched_at:%Y-%m-%d %H:%M}"


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField(_("position"))
    heading_path = models.CharField(_("heading path"), max_length=500)
    text = models.TextField(_("text"))
    language = models.CharField(_("language"), max_length=5, blank=True)
    token_count = models.PositiveIntegerField(_("tokens"), default=0)
    text_hash = models.CharField(_("text hash"), max_length=64, db_index=True)

    class Meta:
        verbose_name = _("chunk")
        verbose_name_plural = _("chunks")
        ordering = ["document", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="chunk_position_unique")]

    def __str__(self) -> str:
        return self.heading_path


class EmbeddingCache(models.Model):
    """Dense vectors keyed by (model, text hash): unchanged text is never embedded twice."""

    model_name = models.CharField(max_length=200)
    text_hash = models.CharField(max_length=64)
    vector = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model_name", "text_hash"], name="embedding_unique")]

    def __str__(self) -> str:
        return f"{self.model_name}:{self.text_hash[:12]}"


class IngestionRun(models.Model):
    """One re-ingestion: what triggered it, what changed, and which index generation it made live."""

    class Trigger(models.TextChoices):
        NIGHTLY = "nightly", _("Nightly schedule")
        ADMIN = "admin", _("Admin")
        CLI = "cli", _("Command line")
        EDIT = "edit", _("Document edited")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped (another run was in progress)")

    trigger = models.CharField(_("trigger"), max_length=10, choices=Trigger.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    sources = models.ManyToManyField(Source, verbose_name=_("sources"), blank=True, related_name="runs")
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    added = models.PositiveIntegerField(_("added"), default=0)
    changed = models.PositiveIntegerField(_("changed"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    removed = models.PositiveIntegerField(_("removed"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    embedded = models.PositiveIntegerField(_("chunks embedded"), default=0)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)
    generation = models.CharField(_("index generation"), max_length=100, blank=True)
    failure = models.TextField(_("why it failed"), blank=True)
    # Non-null only while running; the unique constraint is the lock that keeps two runs apart.
    lock = models.CharField(max_length=20, null=True, blank=True, unique=True, editable=False)

    class Meta:
        verbose_name = _("ingestion run")
        verbose_name_plural = _("ingestion runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_trigger_display()} {self.started_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"
