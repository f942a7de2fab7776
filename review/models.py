"""What reviewers and editors make of citizens' answers: queue items, verified answers, flags, golden cases."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from assistant.types import LANGUAGES

LANGUAGE_CHOICES = [(code, code) for code in LANGUAGES]


def _default_review_date() -> date:
    return timezone.localdate() + timedelta(days=settings.VERIFIED_REVIEW_DAYS)


class ReviewItem(models.Model):
    """One thing a reviewer should look at: a doubtful answer, or a verified answer that expired."""

    class Reason(models.TextChoices):
        THUMBS_DOWN = "thumbs_down", _("Thumbs down")
        DECLINED = "declined", _("Declined")
        CITATION_FAILED = "citation_failed", _("Citation check failed")
        OUTPUT_GUARD = "output_guard", _("Output guard hit")
        VERIFIED_EXPIRED = "verified_expired", _("Verified answer expired")

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        HANDLED = "handled", _("Handled")

    answer = models.OneToOneField(
        "assistant.Answer", null=True, blank=True, on_delete=models.CASCADE, related_name="review_item"
    )
    verified_answer = models.ForeignKey(
        "review.VerifiedAnswer", null=True, blank=True, on_delete=models.CASCADE, related_name="review_items"
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, db_index=True)
    language = models.CharField(_("language"), max_length=5, blank=True, db_index=True)
    procedure = models.CharField(_("procedure"), max_length=120, blank=True, db_index=True)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.OPEN, db_index=True)
    note = models.TextField(_("note"), blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    created_at = models.DateTimeField(_("date"), default=timezone.now, db_index=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("review item")
        verbose_name_plural = _("review queue")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["verified_answer", "reason"],
                condition=models.Q(state="open"),
                name="one_open_item_per_verified_answer_reason",
            )
        ]

    def __str__(self) -> str:
        if self.answer_id:
            return self.answer.question[:80] if self.answer else ""
        return str(self.verified_answer or "")


class VerifiedAnswer(models.Model):
    """An approved answer served before the model, for as long as the pages it rests on do not change."""

    class State(models.TextChoices):
        DRAFT = "draft", _("Draft")
        APPROVED = "approved", _("Approved")
        EXPIRED = "expired", _("Expired")

    question = models.TextField(_("question"))
    paraphrases = models.TextField(_("paraphrases"), blank=True, help_text=_("Other ways to ask it, one per line."))
    documents = models.ManyToManyField(
        "ingestion.Document", verbose_name=_("source documents"), related_name="verified_answers"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="verified_answers",
    )
    review_date = models.DateField(_("review by"), default=_default_review_date)
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.DRAFT, db_index=True)
    expired_reason = models.CharField(_("why it expired"), max_length=200, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    created_from = models.ForeignKey(
        "assistant.Answer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(m2m_fields=[documents])

    class Meta:
        verbose_name = _("verified answer")
        verbose_name_plural = _("verified answers")
        ordering = ["-updated_at"]
        permissions = [("approve_verifiedanswer", _("Can approve verified answers"))]

    def __str__(self) -> str:
        return self.question[:80]

    def phrasings(self) -> list[str]:
        """The question and its paraphrases: what a citizen's question is matched against."""
        return [self.question.strip(), *(line.strip() for line in self.paraphrases.splitlines() if line.strip())]


class VerifiedAnswerText(models.Model):
    """The approved wording in one language."""

    verified_answer = models.ForeignKey(VerifiedAnswer, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(_("language"), max_length=5, choices=LANGUAGE_CHOICES)
    text = models.TextField(_("answer"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("answer text")
        verbose_name_plural = _("answer texts")
        constraints = [models.UniqueConstraint(fields=["verified_answer", "language"], name="one_text_per_language")]

    def __str__(self) -> str:
        return f"{self.language}: {self.text[:60]}"


class DocumentFlag(models.Model):
    """A reviewer's report that a page is wrong or out of date; editors work through the open ones."""

    class Reason(models.TextChoices):
        WRONG = "wrong", _("Wrong")
        OUTDATED = "outdated", _("Out of date")

    document = models.ForeignKey("ingestion.Document", on_delete=models.CASCADE, related_name="flags")
    reason = models.CharField(_("reason"), max_length=10, choices=Reason.choices)
    note = models.TextField(_("note"), blank=True)
    review_item = models.ForeignKey(ReviewItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="flags")
    flagged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    resolved = models.BooleanField(_("resolved"), default=False, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("flagged document")
        verbose_name_plural = _("flagged documents")
        ordering = ["resolved", "-created_at"]

    def __str__(self) -> str:
        return f"{self.document} ({self.get_reason_display()})"


class GoldenCase(models.Model):
    """A citizen's question kept as an evaluation case (exported in the `manage.py evaluate` format)."""

    question = models.TextField(_("question"))
    language = models.CharField(_("language"), max_length=5, choices=LANGUAGE_CHOICES)
    expected_document = models.ForeignKey(
        "ingestion.Document",
        verbose_name=_("expected document"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Empty when the assistant must decline."),
    )
    answer_facts = models.TextField(_("answer facts"), blank=True, help_text=_("One short fact per line."))
    created_from = models.ForeignKey(ReviewItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("golden evaluation case")
        verbose_name_plural = _("golden evaluation cases")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.question[:80]
