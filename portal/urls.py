from __future__ import annotations

from django.conf.urls.i18n import i18n_patterns
from django.contrib import admin
from django.urls import include, path

from portal import views

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("ask/", views.ask, name="ask"),
    path("admin/", admin.site.urls),
]
urlpatterns += i18n_patterns(
    path("", views.chat_page, name="chat"),
    path("about/", views.about_page, name="about"),
    prefix_default_language=False,
)
