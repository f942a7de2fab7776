"""Receivers: answers and feedback feed the review queue; changed pages expire verified answers."""

from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from assistant.models import Answer, Feedback
from ingestion.signals import documents_changed
from review import services

logger = logging.getLogger(__name__)


@receiver(post_save, sender=Answer, dispatch_uid="review-answer-queue")
def _answer_saved(sender: type[Answer], instance: Answer, **kwargs: Any) -> None:
    if instance.status == Answer.Status.PENDING:
        return
    try:
        with transaction.atomic():  # a savepoint: a queue failure never costs the citizen's answer
            services.review_item_sync(instance)
    except DatabaseError as exc:
        logger.error("answer %s could not be queued for review: %s", instance.pk, type(exc).__name__)


@receiver(post_save, sender=Feedback, dispatch_uid="review-feedback-queue")
def _feedback_saved(sender: type[Feedback], instance: Feedback, **kwargs: Any) -> None:
    services.feedback_review_sync(instance)


@receiver(documents_changed, dispatch_uid="review-verified-expiry")
def _documents_changed(sender: object, document_ids: list[int], change: str, **kwargs: Any) -> None:
    services.verified_expire_for_documents(document_ids=document_ids, change=change)
