"""The kill switch: one row that says whether the public chat is online, with an audited history."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

SWITCH_PK = 1


class ServiceSwitch(models.Model):
    """A singleton (primary key 1). Each change is kept with who made it, when and why (its history)."""

    chat_offline = models.BooleanField(
        _("public chat offline"),
        default=False,
        help_text=_(
            "When ticked, the chat page, asking and feedback show a maintenance page (HTTP 503) in the "
            "citizen's language. The admin stays available."
        ),
    )
    reason = models.CharField(
        _("reason"),
        max_length=300,
        help_text=_("Why the chat is taken offline or brought back. Kept in the history with your name and the time."),
    )
    updated_at = models.DateTimeField(_("last changed"), auto_now=True)
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        verbose_name = _("kill switch")
        verbose_name_plural = _("kill switch")

    def __str__(self) -> str:
        return str(_("Public chat offline") if self.chat_offline else _("Public chat online"))

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.pk = SWITCH_PK  # there is only ever one switch
        super().save(*args, **kwargs)
