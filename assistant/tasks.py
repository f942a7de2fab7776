from __future__ import annotations

from celery import shared_task

from assistant.retention import conversations_purge


@shared_task
def conversations_purge_daily() -> int:
    """Beat entry "purge-conversations": keep nothing longer than CONVERSATION_RETENTION_DAYS."""
    return conversations_purge()
