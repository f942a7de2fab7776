"""Celery tasks of the review app: thin wrappers around review services."""

from __future__ import annotations

from celery import shared_task

from review.services import verified_expire_due


@shared_task(name="review.tasks.verified_expire_due_daily")
def verified_expire_due_daily() -> int:
    """Verified answers past their review date stop being served; their owners see them in the queue."""
    return verified_expire_due()
