"""The Celery application: broker and schedule come from Django settings (env vars)."""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_nightly(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.conf.beat_schedule = {
        "nightly-reingest-demo-kb": {
            "task": "ingestion.tasks.ingest_path",
            "schedule": crontab(hour=settings.NIGHTLY_INGEST_HOUR, minute=0),
            "kwargs": {"path": str(settings.DEMO_KB_DIR)},
        }
    }
