"""Conversations and answers as stored: what was asked, what was answered, how, and how fast."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session_key = models.CharField(max_length=64, db_index=True)
    ui_language = models.CharField(max_length=5)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return str(self.id)


class Answer(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ANSWERED = "answered", _("Answered")
        DECLINED = "declined", _("Declined")
        REPLACED = "replaced", _("Replaced by sources (citations failed)")
        REJECTED = "rejected", _("Rejected input")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        ROUTED = "routed", _("Fixed reply (greeting, thanks or crisis)")
        TIMED_OUT = "timed_out", _("Stopped after the answer time limit (partial)")
        VERIFIED = "verified", _("Verified answer (approved by an editor)")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="answers")
    question = models.TextField(_("question"))
    language = models.CharField(_("language"), max_length=5, blank=True)
    text = models.TextField(_("answer"), blank=True)
    raw_output = models.TextField(_("raw model output"), blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    sources = models.JSONField(_("sources"), default=list)
    citations = models.JSONField(_("cited source numbers"), default=list)
    metrics = models.JSONField(_("per-step metrics"), default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.question[:80]


class Feedback(models.Model):
    """A citizen's verdict on one answer, kept with it for reviewers. The comment never holds personal data."""

    class Rating(models.TextChoices):
        UP = "up", _("Helpful")
        DOWN = "down", _("Not helpful")

    class Reason(models.TextChoices):
        WRONG = "wrong", _("The answer is wrong")
        OUTDATED = "outdated", _("The information is out of date")
        NOT_MY_QUESTION = "not_my_question", _("It does not answer my question")
        UNCLEAR = "unclear", _("The answer is hard to understand")
        OTHER = "other", _("Something else")

    answer = models.OneToOneField(Answer, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(_("rating"), max_length=4, choices=Rating.choices)
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.rating} {self.reason}".strip()
