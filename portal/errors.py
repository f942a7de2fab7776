"""Error views that need more than Django's defaults."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils import translation


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A generic, translated refusal; ``reason`` is for logs (Django logs it), never shown.

    /ask/ and /feedback/ have no language prefix, so the page follows the form's interface language
    or the citizen's language cookie rather than the site default.
    """
    codes = {code for code, _name in settings.LANGUAGES}
    candidates = (request.POST.get("ui_language", ""), request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, ""))
    language = next((c for c in candidates if c in codes), translation.get_language() or settings.LANGUAGE_CODE)
    with translation.override(language):
        html = loader.render_to_string("403_csrf.html")
    return HttpResponse(html, status=403)
