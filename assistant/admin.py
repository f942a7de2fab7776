"""Stored conversations and answers, read-only: what was asked, what was answered, from which sources.

The browser session key is never shown: it would let whoever reads it take over the session.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _

from assistant.models import Answer, Conversation, Feedback


class _ReadOnly:
    """View-only for everyone; a superuser may still delete (e.g. a conversation a citizen asks to erase)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)


def _pre(value: object) -> SafeString:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)
    return format_html("<pre>{}</pre>", text)


class AnswerInline(_ReadOnly, admin.TabularInline):
    model = Answer
    readonly_fields = ("question_short", "language", "status", "created_at")
    fields = readonly_fields
    extra = 0
    can_delete = False
    show_change_link = True

    @admin.display(description=_("question"))
    def question_short(self, obj: Answer) -> str:
        return Truncator(obj.question).chars(80)


class FeedbackInline(_ReadOnly, admin.StackedInline):
    """What the citizen said about this answer (the comment was checked for personal data)."""

    model = Feedback
    readonly_fields = ("rating", "reason", "comment", "created_at", "updated_at")
    fields = readonly_fields
    extra = 0
    can_delete = False


@admin.register(Feedback)
class FeedbackAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["rating", "reason", "question_short", "updated_at"]
    list_filter = ["rating", "reason", "answer__language"]
    search_fields = ["comment", "answer__question"]
    readonly_fields = ("answer", "rating", "reason", "comment", "created_at", "updated_at")
    fields = readonly_fields
    list_select_related = ["answer"]

    @admin.display(description=_("question"), ordering="answer__question")
    def question_short(self, obj: Feedback) -> str:
        return Truncator(obj.answer.question).chars(80)


@admin.register(Conversation)
class ConversationAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["id", "ui_language", "answer_count", "created_at"]
    list_filter = ["ui_language"]
    date_hierarchy = "created_at"
    readonly_fields = ("id", "ui_language", "created_at")
    fields = readonly_fields
    inlines = [AnswerInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).annotate(answer_count=Count("answers"))

    @admin.display(description=_("answers"), ordering="answer_count")
    def answer_count(self, obj: Conversation) -> int:
        return int(getattr(obj, "answer_count", 0))


@admin.register(Answer)
class AnswerAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ["question_short", "language", "status", "created_at"]
    list_filter = ["status", "language", "feedback__rating", "feedback__reason"]
    search_fields = ["question"]
    date_hierarchy = "created_at"
    readonly_fields = (
        "conversation",
        "created_at",
        "question",
        "language",
        "status",
        "text",
        "sources_table",
        "citations",
        "metrics_pretty",
        "raw_output_pretty",
    )
    fields = readonly_fields
    inlines = [FeedbackInline]

    @admin.display(description=_("question"), ordering="question")
    def question_short(self, obj: Answer) -> str:
        return Truncator(obj.question).chars(80)

    @admin.display(description=_("sources"))
    def sources_table(self, obj: Answer) -> SafeString:
        sources = [s for s in obj.sources if isinstance(s, dict)]
        if not sources:
            return format_html("<p>{}</p>", _("No sources."))
        cited = set(obj.citations)
        rows = (
            (
                s.get("number", ""),
                _("cited") if s.get("number") in cited else "",
                s.get("title", ""),
                s.get("section", ""),
                s.get("language", ""),
                s.get("document", ""),
                s.get("url", ""),
            )
            for s in sources
        )
        body = format_html_join(
            "",
            "<tr><td>[{}]</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            rows,
        )
        head = format_html(
            "<tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("cited"),
            _("title"),
            _("section"),
            _("language"),
            _("document"),
            _("URL"),
        )
        return format_html("<table><thead>{}</thead><tbody>{}</tbody></table>", head, body)

    @admin.display(description=_("per-step metrics"))
    def metrics_pretty(self, obj: Answer) -> SafeString:
        return _pre(obj.metrics)

    @admin.display(description=_("raw model output"))
    def raw_output_pretty(self, obj: Answer) -> SafeString:
        return _pre(obj.raw_output)
