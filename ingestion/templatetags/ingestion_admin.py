"""Template tags for the curation admin's index page."""

from __future__ import annotations

from django import template

from ingestion.admin_views import IngestionStatus, ingestion_status

register = template.Library()


@register.simple_tag(name="ingestion_status")
def ingestion_status_tag() -> IngestionStatus:
    """``{% ingestion_status as status %}``: live generation, last good run, a failed last run."""
    return ingestion_status()
