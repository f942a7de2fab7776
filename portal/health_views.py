"""Liveness and readiness endpoints (see portal.health)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.health import readiness_checks, readiness_status


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = readiness_checks()
    status = readiness_status(checks)
    return JsonResponse(
        {"status": status, "checks": {c.name: c.public() for c in checks}},
        status=503 if status == "unavailable" else 200,
    )
