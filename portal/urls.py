from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from portal import health_views, views

urlpatterns = [
    path("ask/", views.ask, name="ask"),
    path("feedback/", views.feedback, name="feedback"),
    path("admin/", admin.site.urls),
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
]
urlpatterns += i18n_patterns(
    path("", views.chat_page, name="chat"),
    # Under the language prefix, so that set_language can translate the page's own URL (/en/ -> /de/).
    path("i18n/", include("django.conf.urls.i18n")),
    path("about/", views.about_page, name="about"),
    # The chat script's strings, as a script file (a strict CSP allows no inline script).
    path("jsi18n/", JavaScriptCatalog.as_view(domain="djangojs"), name="javascript-catalog"),
    prefix_default_language=False,
)
