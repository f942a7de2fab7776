from __future__ import annotations

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Guichet portal"

    def ready(self) -> None:
        import django.conf.locale
        from django.conf import settings

        # Luxembourgish is not in Django's locale table; register it once.
        django.conf.locale.LANG_INFO.update(settings.EXTRA_LANG_INFO)
