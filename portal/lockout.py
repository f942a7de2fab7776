"""The page an admin login gets once django-axes has locked it out (``AXES_LOCKOUT_CALLABLE``)."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """HTTP 429 with the admin's look: how long the lockout lasts, never which limit or user name matched."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else 0
    response = render(
        request,
        "admin/lockout.html",
        {"minutes": minutes},
        status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429),  # axes.conf sets its default at start-up
    )
    if cool_off:
        response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response
