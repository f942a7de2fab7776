from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def helpdesk(request: HttpRequest) -> dict[str, str]:
    return {"HELPDESK_PHONE": settings.HELPDESK_PHONE, "HELPDESK_URL": settings.HELPDESK_URL}
