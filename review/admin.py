"""The review workflow in the admin: queue, verified answers, flagged documents, golden cases."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from ingestion.models import Document
from review import services
from review.models import DocumentFlag, GoldenCase, ReviewItem, VerifiedAnswer, VerifiedAnswerText

APPROVE_PERMISSION = "review.approve_verifiedanswer"


class ReviewItemForm(forms.ModelForm):
    mark_handled = forms.BooleanField(label=_("Mark handled"), required=False)

    class Meta:
        model = ReviewItem
        fields = ["note"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("mark_handled") and not (data.get("note") or "").strip():
            self.add_error("note", _("Say what you did (or why nothing is needed) before marking it handled."))
        return data


class FlagForm(forms.Form):
    document = forms.ModelChoiceField(queryset=Document.objects.none(), label=_("Document"))
    reason = forms.ChoiceField(choices=DocumentFlag.Reason.choices, label=_("Reason"))
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, label=_("Note"))


class GoldenForm(forms.Form):
    expected_document = forms.ModelChoiceField(
        queryset=Document.objects.none(),
        required=False,
        label=_("Expected document"),
        help_text=_("Leave empty when the assistant must decline this question."),
    )
    answer_facts = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label=_("Answer facts"),
        help_text=_("Short facts the answer must contain, one per line, as the page writes them."),
    )


class MineFilter(admin.SimpleListFilter):
    """Owners find their expired verified answers here."""

    title = _("owner")
    parameter_name = "mine"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("1", _("My verified answers"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ReviewItem]) -> QuerySet[ReviewItem]:
        if self.value() == "1":
            return queryset.filter(verified_answer__owner=request.user)  # type: ignore[misc]
        return queryset


@admin.register(ReviewItem)
class ReviewItemAdmin(SimpleHistoryAdmin):
    form = ReviewItemForm
    list_display = ["created_at", "reason", "language", "procedure", "question_short", "answer_status", "state"]
    list_filter = ["state", "reason", "language", "procedure", ("created_at", admin.DateFieldListFilter), MineFilter]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    search_fields = ["answer__question", "procedure", "verified_answer__question"]
    readonly_fields = [
        "reason",
        "state",
        "language",
        "procedure",
        "created_at",
        "question_text",
        "answer_text",
        "sources_table",
        "chunks_table",
        "step_metrics",
        "feedback_text",
        "verified_link",
        "handled_by",
        "handled_at",
    ]
    fieldsets = [
        (None, {"fields": ["reason", "state", "language", "procedure", "created_at", "verified_link"]}),
        (_("What the citizen asked and got"), {"fields": ["question_text", "answer_text", "feedback_text"]}),
        (_("Why"), {"fields": ["sources_table", "chunks_table", "step_metrics"]}),
        (_("Handling"), {"fields": ["note", "mark_handled", "handled_by", "handled_at"]}),
    ]
    change_form_template = "admin/review/reviewitem/change_form.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # items come from answers, feedback and expiries

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReviewItem]:
        return super().get_queryset(request).select_related("answer", "answer__feedback", "verified_answer")

    @admin.display(description=_("question"))
    def question_short(self, obj: ReviewItem) -> str:
        if obj.answer:
            return obj.answer.question[:90]
        return str(obj.verified_answer or "")

    @admin.display(description=_("answer status"))
    def answer_status(self, obj: ReviewItem) -> str:
        return obj.answer.get_status_display() if obj.answer else ""

    @admin.display(description=_("question (personal data removed)"))
    def question_text(self, obj: ReviewItem) -> str:
        return obj.answer.question if obj.answer else ""

    @admin.display(description=_("answer"))
    def answer_text(self, obj: ReviewItem) -> SafeString:
        if not obj.answer:
            return format_html("{}", "")
        raw = obj.answer.raw_output
        shown = format_html('<div class="review-answer">{}</div>', obj.answer.text)
        if raw and raw.strip() != obj.answer.text.strip():
            return format_html(
                '{}<details><summary>{}</summary><pre class="review-raw">{}</pre></details>',
                shown,
                _("raw model output"),
                raw,
            )
        return shown

    @admin.display(description=_("sources shown"))
    def sources_table(self, obj: ReviewItem) -> SafeString:
        sources = obj.answer.sources if obj.answer else []
        cited = set(obj.answer.citations or []) if obj.answer else set()
        rows = format_html_join(
            "",
            "<tr><td>[{}]</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    s.get("number"),
                    s.get("title", ""),
                    s.get("language", ""),
                    s.get("score", ""),
                    "✓" if s.get("number") in cited else "",
                )
                for s in sources
                if isinstance(s, dict)
            ),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody>"
            "</table>",
            _("title"),
            _("language"),
            _("score"),
            _("cited"),
            rows,
        )

    @admin.display(description=_("retrieved chunks with scores"))
    def chunks_table(self, obj: ReviewItem) -> SafeString:
        retrieval = (obj.answer.metrics or {}).get("retrieval", {}) if obj.answer else {}
        chunks = retrieval.get("chunks", []) if isinstance(retrieval, dict) else []
        if not chunks:
            return format_html("{}", _("none recorded"))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (c.get("rank"), c.get("document"), c.get("section"), c.get("score"), c.get("dense"), _kept(c))
                for c in chunks
                if isinstance(c, dict)
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            _("rank"),
            _("document"),
            _("section"),
            _("fused score"),
            _("similarity"),
            _("kept"),
            rows,
        )

    @admin.display(description=_("per-step metrics"))
    def step_metrics(self, obj: ReviewItem) -> SafeString:
        metrics = dict(obj.answer.metrics or {}) if obj.answer else {}
        retrieval = metrics.get("retrieval")
        if isinstance(retrieval, dict):
            metrics["retrieval"] = {k: v for k, v in retrieval.items() if k != "chunks"}
        return format_html('<pre class="review-metrics">{}</pre>', json.dumps(metrics, indent=2, ensure_ascii=False))

    @admin.display(description=_("feedback"))
    def feedback_text(self, obj: ReviewItem) -> str:
        feedback = getattr(obj.answer, "feedback", None) if obj.answer else None
        if feedback is None:
            return "—"
        parts = [feedback.get_rating_display(), feedback.get_reason_display() if feedback.reason else ""]
        return " · ".join(p for p in [*parts, feedback.comment] if p)

    @admin.display(description=_("verified answer"))
    def verified_link(self, obj: ReviewItem) -> SafeString:
        if not obj.verified_answer:
            return format_html("{}", "—")
        url = reverse("admin:review_verifiedanswer_change", args=[obj.verified_answer.pk])
        return format_html('<a href="{}">{}</a> ({})', url, obj.verified_answer, obj.verified_answer.expired_reason)

    def save_model(self, request: HttpRequest, obj: ReviewItem, form: forms.ModelForm, change: bool) -> None:
        if form.cleaned_data.get("mark_handled"):
            services.item_handle(item=obj, note=form.cleaned_data.get("note", ""), user=request.user)
        else:
            super().save_model(request, obj, form, change)

    # Actions on one item: flag a document, keep as golden case, start a verified answer.
    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/flag/", wrap(self.flag_view), name="review_reviewitem_flag"),
            path("<int:pk>/golden/", wrap(self.golden_view), name="review_reviewitem_golden"),
            path("<int:pk>/verify/", wrap(self.verify_view), name="review_reviewitem_verify"),
            *super().get_urls(),
        ]

    def _item(self, request: HttpRequest, pk: int) -> ReviewItem:
        item = get_object_or_404(ReviewItem.objects.select_related("answer"), pk=pk)
        if not self.has_change_permission(request, item) or item.answer is None:
            raise PermissionDenied
        return item

    def _form_page(self, request: HttpRequest, item: ReviewItem, form: forms.Form, title: str) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "item": item,
            "form": form,
            "back": reverse("admin:review_reviewitem_change", args=[item.pk]),
        }
        return TemplateResponse(request, "admin/review/reviewitem/action_form.html", context)

    def _back(self, item: ReviewItem) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:review_reviewitem_change", args=[item.pk]))

    def flag_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = self._item(request, pk)
        if not request.user.has_perm("review.add_documentflag"):
            raise PermissionDenied
        form = FlagForm(request.POST or None)
        form.fields["document"].queryset = Document.objects.filter(  # type: ignore[attr-defined]
            pk__in=[d.pk for d in services.answer_documents(item.answer)]  # type: ignore[arg-type]
        )
        if request.method == "POST" and form.is_valid():
            flag = services.document_flag(
                item=item,
                document=form.cleaned_data["document"],
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
                user=request.user,
            )
            self.message_user(request, _("Flagged for the editors: %(doc)s") % {"doc": flag.document})
            return self._back(item)
        return self._form_page(request, item, form, str(_("Flag a source document as wrong or out of date")))

    def golden_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = self._item(request, pk)
        if not request.user.has_perm("review.add_goldencase"):
            raise PermissionDenied
        form = GoldenForm(request.POST or None)
        # Any page may be the right one: a declined answer often did not show it.
        form.fields["expected_document"].queryset = Document.objects.exclude(  # type: ignore[attr-defined]
            status=Document.Status.WITHDRAWN
        ).order_by("title", "language")
        if request.method == "POST" and form.is_valid():
            case = services.golden_case_from_item(
                item=item,
                expected_document=form.cleaned_data["expected_document"],
                answer_facts=form.cleaned_data["answer_facts"],
                user=request.user,
            )
            self.message_user(request, _("Added as golden evaluation case #%(id)s.") % {"id": case.pk})
            return self._back(item)
        return self._form_page(request, item, form, str(_("Add the question as a golden evaluation case")))

    def verify_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        item = self._item(request, pk)
        if request.method != "POST" or not request.user.has_perm("review.add_verifiedanswer"):
            raise PermissionDenied
        verified = services.verified_from_item(item=item, user=request.user)
        self.message_user(request, _("Draft verified answer created: complete it, then ask an editor to approve it."))
        return HttpResponseRedirect(reverse("admin:review_verifiedanswer_change", args=[verified.pk]))


def _kept(chunk: dict[str, object]) -> str:
    return "✓" if chunk.get("kept") else ""


class VerifiedAnswerTextInline(admin.StackedInline):
    model = VerifiedAnswerText
    extra = 1
    max_num = 4


@admin.register(VerifiedAnswer)
class VerifiedAnswerAdmin(SimpleHistoryAdmin):
    list_display = ["question", "state", "languages", "owner", "review_date", "updated_at"]
    list_filter = ["state", "texts__language", "owner", "review_date"]
    search_fields = ["question", "paraphrases", "texts__text"]
    filter_horizontal = ["documents"]
    inlines = [VerifiedAnswerTextInline]
    readonly_fields = ["state", "expired_reason", "approved_by", "approved_at", "created_from", "created_at"]
    fields = [
        "question",
        "paraphrases",
        "documents",
        "owner",
        "review_date",
        "state",
        "expired_reason",
        "approved_by",
        "approved_at",
        "created_from",
    ]
    actions = ["approve", "back_to_draft"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[VerifiedAnswer]:
        return super().get_queryset(request).prefetch_related("texts").select_related("owner")

    @admin.display(description=_("languages"))
    def languages(self, obj: VerifiedAnswer) -> str:
        return ", ".join(sorted(t.language for t in obj.texts.all()))

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(APPROVE_PERMISSION)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_changeform_initial_data(request), "owner": request.user.pk}

    @admin.action(description=_("Approve (serve to citizens)"), permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[VerifiedAnswer]) -> None:
        approved = 0
        for verified in queryset:
            try:
                services.verified_approve(verified=verified, user=request.user)
            except ValueError as exc:
                self.message_user(request, f"{verified}: {exc}", level=messages.ERROR)
            else:
                approved += 1
        if approved:
            self.message_user(request, _("%(count)s verified answer(s) approved.") % {"count": approved})

    @admin.action(description=_("Back to draft (stop serving)"), permissions=["change"])
    def back_to_draft(self, request: HttpRequest, queryset: QuerySet[VerifiedAnswer]) -> None:
        for verified in queryset.exclude(state=VerifiedAnswer.State.DRAFT):
            verified.state = VerifiedAnswer.State.DRAFT
            verified.save()

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        edited = form.has_changed() or any(f.has_changed() for f in formsets)
        if obj.state == VerifiedAnswer.State.APPROVED and edited and not self.has_approve_permission(request):
            # A reviewer's edit of an approved answer waits for an editor's approval again.
            obj.state = VerifiedAnswer.State.DRAFT
            obj.save()
            self.message_user(request, _("Edited: the answer is a draft again until an editor approves it."))


@admin.register(DocumentFlag)
class DocumentFlagAdmin(SimpleHistoryAdmin):
    list_display = ["document", "reason", "resolved", "flagged_by", "created_at"]
    list_filter = ["resolved", "reason"]
    list_editable = ["resolved"]
    search_fields = ["document__title", "document__key", "note"]
    readonly_fields = ["document", "review_item", "flagged_by", "created_at"]
    fields = ["document", "reason", "note", "review_item", "flagged_by", "created_at", "resolved"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # flags are raised from the review queue


@admin.register(GoldenCase)
class GoldenCaseAdmin(SimpleHistoryAdmin):
    list_display = ["question", "language", "expected_document", "created_by", "created_at"]
    list_filter = ["language"]
    search_fields = ["question", "answer_facts"]
    readonly_fields = ["created_from", "created_by", "created_at"]
    actions = ["export_jsonl"]

    @admin.action(description=_("Export as evaluation questions (JSONL for manage.py evaluate)"))
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet[GoldenCase]) -> HttpResponse:
        rows = services.golden_case_rows(queryset.select_related("expected_document").order_by("pk"))
        body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        response = HttpResponse(body, content_type="application/x-ndjson; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="golden-cases-{stamp}.jsonl"'
        return response
