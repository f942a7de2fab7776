"""The Celery application: broker and schedule come from Django settings (env vars)."""

from __future__ import annotations

import os

from celery import Celery

# The request id travels in task headers and the worker's logs carry it (signal handlers, connected on import).
from portal.observability import celery_signals  # noqa: F401

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
