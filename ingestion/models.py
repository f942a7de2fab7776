"""The knowledge base as the database holds it: the source of truth the index is built from."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Document(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    key = models.CharField(_("key"), max_length=200, unique=True, help_text=_("Stable identifier"))
    procedure = models.CharField(_("procedure"), max_length=120, db_index=True)
    language = models.CharField(_("language"), max_length=5, db_index=True)
    title = models.CharField(_("title"), max_length=300)
    url = models.URLField(_("official page"), max_length=500)
    origin = models.CharField(_("origin"), max_length=500, help_text=_("File or folder it was read from"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PUBLISHED)
    content_hash = models.CharField(_("content hash"), max_length=64)
    last_changed = models.DateTimeField(_("last changed"), auto_now_add=True)
    last_seen = models.DateTimeField(_("last seen"), auto_now=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["procedure", "language"]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField(_("position"))
    heading_path = models.CharField(_("heading path"), max_length=500)
    text = models.TextField(_("text"))
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
