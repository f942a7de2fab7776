"""The kill switch in the admin: one row, a required reason on every change, its history (who, when, why)."""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from portal.maintenance import switch_memo_clear
from portal.models import SWITCH_PK, ServiceSwitch

logger = logging.getLogger(__name__)


class ServiceSwitchForm(forms.ModelForm):
    class Meta:
        model = ServiceSwitch
        fields = ["chat_offline", "reason"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Every change needs its own reason: the previous one is in the history, not pre-filled here.
        if "reason" in self.fields:  # absent from a view-only form
            self.initial["reason"] = ""
            self.fields["reason"].required = True


@admin.register(ServiceSwitch)
class ServiceSwitchAdmin(SimpleHistoryAdmin):
    form = ServiceSwitchForm
    list_display = ["__str__", "reason", "updated_at"]
    history_list_display = ["chat_offline", "reason"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not ServiceSwitch.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting the row would silently bring the chat back online, with no history

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """One switch: the list goes straight to it."""
        switch = ServiceSwitch.objects.filter(pk=SWITCH_PK).first()
        if switch is not None and self.has_view_or_change_permission(request, switch):
            return HttpResponseRedirect(reverse("admin:portal_serviceswitch_change", args=[switch.pk]))
        return super().changelist_view(request, extra_context)

    def save_model(self, request: HttpRequest, obj: ServiceSwitch, form: Any, change: bool) -> None:
        obj._change_reason = obj.reason[:100]  # type: ignore[attr-defined]  # simple_history: 100 characters
        super().save_model(request, obj, form, change)
        switch_memo_clear()  # this process at once; the others within KILL_SWITCH_CACHE_S
        state = "offline" if obj.chat_offline else "online"
        logger.warning("kill switch: public chat %s, set by user %s", state, request.user.pk)
        if obj.chat_offline:
            messages.warning(request, _("The public chat is offline: citizens see the maintenance page."))
        else:
            messages.success(request, _("The public chat is online."))
