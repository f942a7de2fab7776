from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReviewConfig(AppConfig):
    """Civil servants close the loop: review queue, verified answers, unanswered questions, dashboard."""

    name = "review"
    verbose_name = _("Review")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from review import signals  # noqa: F401  (connects the expiry of verified answers to re-ingestion)
