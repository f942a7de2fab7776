from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from portal import health_views, views
from review import admin_reports

urlpatterns = [
    path("ask/", views.ask, name="ask"),
    path("feedback/", views.feedback, name="feedback"),
    # The review reports live in the admin's pages (its login, header and permissions), before its catch-all.
    path("admin/review/dashboard/", admin.site.admin_view(admin_reports.dashboard_view), name="review_dashboard"),
    path("admin/review/dashboard.csv", admin.site.admin_view(admin_reports.dashboard_csv), name="review_dashboard_csv"),
    path("admin/review/unanswered/", admin.site.admin_view(admin_reports.unanswered_view), name="review_unanswered"),
    path(
        "admin/review/unanswered.csv", admin.site.admin_view(admin_reports.unanswered_csv), name="review_unanswered_csv"
    ),
    path("admin/", admin.site.urls),
    path("healthz", health_views.healthz, name="healthz"),
    path("readyz", health_views.readyz, name="readyz"),
    path("metrics", include("portal.observability.urls")),  # Prometheus; who may read it: observability/views.py
]
urlpatterns += i18n_patterns(
    path("", views.chat_page, name="chat"),
    # Under the language prefix, so that set_language can translate the page's own URL (/en/ -> /de/).
    path("i18n/", include("django.conf.urls.i18n")),
    path("about/", views.about_page, name="about"),
    # The citizen's own conversation as a download (text or JSON); labels in the prefix's language.
    path("conversation/export/", views.conversation_export, name="conversation-export"),
    # The chat script's strings, as a script file (a strict CSP allows no inline script).
    path("jsi18n/", JavaScriptCatalog.as_view(domain="djangojs"), name="javascript-catalog"),
    prefix_default_language=False,
)
