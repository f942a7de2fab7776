"""How long conversations are kept: questions, answers and feedback go after the retention period."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from assistant.models import Conversation


def conversations_purge(*, now: datetime | None = None, days: int | None = None) -> int:
    """Delete conversations (with their answers and feedback) older than the retention period."""
    cutoff = (now or timezone.now()) - timedelta(days=days or settings.CONVERSATION_RETENTION_DAYS)
    deleted, _by_model = Conversation.objects.filter(created_at__lt=cutoff).delete()
    return deleted
