from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpRequest


def helpdesk(request: HttpRequest) -> dict[str, str]:
    """The human helpdesk, on every page; ``tel:`` wants the digits only, e.g. +35224782000."""
    phone = settings.HELPDESK_PHONE
    return {
        "HELPDESK_PHONE": phone,
        "HELPDESK_URL": settings.HELPDESK_URL,
        "HELPDESK_TEL": re.sub(r"[^\d+]", "", phone),
    }
