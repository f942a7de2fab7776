"""Included at ``/metrics`` by portal/urls.py."""

from __future__ import annotations

from django.urls import path

from portal.observability.views import metrics_view

urlpatterns = [path("", metrics_view, name="metrics")]
