"""The curation admin: sources, documents (publish, unpublish, re-ingest), versions, chunks, runs.

Every change that alters what citizens can be answered from schedules an index rebuild after
the transaction commits; fetched content and run records are read-only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from simple_history.admin import SimpleHistoryAdmin

from ingestion import admin_views
from ingestion.documents import documents_set_status
from ingestion.models import Chunk, Document, DocumentVersion, IngestionRun, Source
from ingestion.tasks import after_commit, ingest_documents, ingest_sources, refresh_index

CURATION_CSS = {"all": ["curation/admin.css"]}


def _superuser_only(request: HttpRequest) -> bool:
    # Read-only records may still be deleted by a superuser, or deleting a document (which
    # cascades to its versions and chunks) would be refused for lack of permission on them.
    return bool(request.user.is_superuser)


def _safe_href(url: str) -> str:
    """Only web links become hrefs: the URLs shown here come from fetched pages and run reports."""
    return url if url.startswith(("https://", "http://")) else ""


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ViewOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _superuser_only(request)


# --- sources --------------------------------------------------------------------------------
@admin.register(Source)
class SourceAdmin(SimpleHistoryAdmin):
    list_display = ["name", "kind", "location_display", "language", "schedule_enabled", "owner", "last_run_status"]
    list_filter = ["kind", "language", "schedule_enabled"]
    search_fields = ["name", "url", "path", "procedure"]
    list_select_related = ["owner"]
    actions = ["reingest_now"]
    fields = [
        "name",
        "kind",
        "url",
        "file",
        "path",
        "official_url",
        "language",
        "procedure",
        "schedule_enabled",
        "auto_publish",
        "page_cap",
        "owner",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        latest = IngestionRun.objects.filter(sources=OuterRef("pk")).order_by("-started_at", "-pk")
        return super().get_queryset(request).annotate(last_run=Subquery(latest.values("status")[:1]))

    @admin.display(description=_("location"))
    def location_display(self, obj: Source) -> str:
        return obj.location

    @admin.display(description=_("last run"), ordering="last_run")
    def last_run_status(self, obj: Source) -> str:
        status = getattr(obj, "last_run", None)
        return str(IngestionRun.Status(status).label) if status else "—"

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: Source, form: ModelForm[Source], change: bool) -> None:
        if not change and obj.owner_id is None:
            obj.owner = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    @admin.action(description=_("Re-ingest now"), permissions=["change"])
    def reingest_now(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        after_commit(ingest_sources, ids, request=request)
        message = ngettext(
            "Re-ingestion of %(count)d source has been scheduled; its run will appear under Ingestion runs.",
            "Re-ingestion of %(count)d sources has been scheduled; the run will appear under Ingestion runs.",
            len(ids),
        )
        self.message_user(request, message % {"count": len(ids)})


# --- documents ------------------------------------------------------------------------------
class StaleFilter(admin.SimpleListFilter):
    title = _("stale")
    parameter_name = "stale"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        days = settings.INGEST_STALE_DAYS
        return [
            ("yes", _("Not fetched for %(days)d days") % {"days": days}),
            ("no", _("Fetched in the last %(days)d days") % {"days": days}),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Document]) -> QuerySet[Document]:
        # Same rule as Document.is_stale, as a query.
        cutoff = timezone.now() - timedelta(days=settings.INGEST_STALE_DAYS)
        if self.value() == "yes":
            return queryset.filter(Q(last_fetched__isnull=True) | Q(last_fetched__lt=cutoff))
        if self.value() == "no":
            return queryset.filter(last_fetched__gte=cutoff)
        return queryset


class VersionInline(ReadOnlyInline):
    model = DocumentVersion
    readonly_fields = ("fetched_at", "content_hash", "title")
    fields = readonly_fields
    verbose_name_plural = _("versions (newest first)")


class ChunkInline(ReadOnlyInline):
    model = Chunk
    readonly_fields = ("position", "heading_path", "language", "token_count", "text_preview")
    fields = readonly_fields

    @admin.display(description=_("text"))
    def text_preview(self, obj: Chunk) -> str:
        return Truncator(obj.text).chars(200)


FETCHED_FIELDS = [
    "key",
    "origin",
    "content_hash",
    "etag",
    "last_modified_header",
    "last_fetched",
    "last_changed",
    "fetch_error",
]


@admin.register(Document)
class DocumentAdmin(SimpleHistoryAdmin):
    list_display = ["title", "language", "status", "source", "last_fetched", "last_changed", "stale"]
    list_filter = ["language", "status", "source", StaleFilter]
    search_fields = ["title", "url", "key", "procedure"]
    list_select_related = ["source"]
    actions = ["publish", "unpublish", "reingest_now"]
    inlines = [VersionInline, ChunkInline]

    class Media:
        css = CURATION_CSS

    def get_fieldsets(self, request: HttpRequest, obj: Document | None = None) -> Any:
        curated = ["title", "status", "source", "procedure", "language", "url"]
        if obj is None:
            return [(None, {"fields": ["key", *curated, "origin", "content_hash"]})]
        return [
            (None, {"fields": curated}),
            (_("As fetched"), {"fields": FETCHED_FIELDS}),
            (_("Latest change"), {"fields": ["latest_change"]}),
            (_("Cited in"), {"fields": ["cited_in"]}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Document | None = None) -> list[str]:
        if obj is None:
            return []
        return [*FETCHED_FIELDS, "latest_change", "cited_in"]

    def get_urls(self) -> list[URLPattern]:
        trial = self.admin_site.admin_view(self.try_question_view)
        return [path("try-a-question/", trial, name="ingestion_document_try"), *super().get_urls()]

    def try_question_view(self, request: HttpRequest) -> HttpResponse:
        return admin_views.try_question_view(request, model_admin=self)

    @admin.display(description=_("stale"), boolean=True)
    def stale(self, obj: Document) -> bool:
        return obj.is_stale

    @admin.display(description=_("latest change"))
    def latest_change(self, obj: Document) -> SafeString:
        return admin_views.document_latest_diff_html(obj)

    @admin.display(description=_("cited in"))
    def cited_in(self, obj: Document) -> SafeString:
        answers = admin_views.answers_citing(document_key=obj.key)
        if not answers:
            return format_html("<p>{}</p>", _("No stored answer cites this document."))
        rows = (
            (
                reverse("admin:assistant_answer_change", args=[answer.pk]),
                Truncator(answer.question).chars(100),
                f"{answer.created_at:%Y-%m-%d %H:%M}",
            )
            for answer in answers
        )
        return format_html("<ul>{}</ul>", format_html_join("", '<li><a href="{}">{}</a> ({})</li>', rows))

    def save_model(self, request: HttpRequest, obj: Document, form: ModelForm[Document], change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change or form.has_changed():
            # Title, status and URL travel in the index payload: the citizen must see the edit.
            after_commit(refresh_index, request=request)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Document], status: Document.Status) -> int:
        changed = documents_set_status(documents=queryset, status=status)
        if changed:
            after_commit(refresh_index, request=request)
        else:
            self.message_user(request, _("Nothing changed: the documents already had that status."), messages.WARNING)
        return changed

    @admin.action(description=_("Publish"), permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        if changed := self._set_status(request, queryset, Document.Status.PUBLISHED):
            message = ngettext(
                "%(count)d document published; the index is being rebuilt.",
                "%(count)d documents published; the index is being rebuilt.",
                changed,
            )
            self.message_user(request, message % {"count": changed})

    @admin.action(description=_("Unpublish (back to draft)"), permissions=["change"])
    def unpublish(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        if changed := self._set_status(request, queryset, Document.Status.DRAFT):
            message = ngettext(
                "%(count)d document unpublished; the index is being rebuilt.",
                "%(count)d documents unpublished; the index is being rebuilt.",
                changed,
            )
            self.message_user(request, message % {"count": changed})

    @admin.action(description=_("Re-ingest now"), permissions=["change"])
    def reingest_now(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        after_commit(ingest_documents, ids, request=request)
        message = ngettext(
            "Re-ingestion of %(count)d document has been scheduled.",
            "Re-ingestion of %(count)d documents has been scheduled.",
            len(ids),
        )
        self.message_user(request, message % {"count": len(ids)})


# --- versions and chunks --------------------------------------------------------------------
@admin.register(DocumentVersion)
class DocumentVersionAdmin(ViewOnlyAdmin):
    list_display = ["document", "title", "fetched_at", "content_hash"]
    list_filter = ["document__language"]
    search_fields = ["document__key", "title"]
    list_select_related = ["document"]
    readonly_fields = ("document", "title", "fetched_at", "content_hash", "diff_with_previous", "text")
    fields = readonly_fields

    class Media:
        css = CURATION_CSS

    @admin.display(description=_("changes since the previous version"))
    def diff_with_previous(self, obj: DocumentVersion) -> SafeString:
        return admin_views.version_diff_html(obj)


@admin.register(Chunk)
class ChunkAdmin(ViewOnlyAdmin):
    list_display = ["heading_path", "document", "position", "language", "token_count"]
    list_filter = ["language"]
    search_fields = ["text", "heading_path", "document__key"]
    list_select_related = ["document"]
    readonly_fields = ("document", "position", "heading_path", "language", "token_count", "text_hash", "text")
    fields = readonly_fields


# --- ingestion runs -------------------------------------------------------------------------
@admin.register(IngestionRun)
class IngestionRunAdmin(ViewOnlyAdmin):
    list_display = [
        "started_at",
        "trigger",
        "status",
        "duration",
        "added",
        "changed",
        "unchanged",
        "removed",
        "failed",
        "generation",
    ]
    list_filter = ["status", "trigger"]
    date_hierarchy = "started_at"
    fieldsets = [
        (None, {"fields": ["trigger", "status", "sources", "started_at", "finished_at", "duration", "generation"]}),
        (_("Counts"), {"fields": ["added", "changed", "unchanged", "removed", "failed", "embedded"]}),
        (_("Why it failed"), {"fields": ["failure"]}),
        (_("Report"), {"fields": ["report_html"]}),
    ]
    readonly_fields = [
        "trigger",
        "status",
        "sources",
        "started_at",
        "finished_at",
        "duration",
        "generation",
        "added",
        "changed",
        "unchanged",
        "removed",
        "failed",
        "embedded",
        "failure",
        "report_html",
    ]

    @admin.display(description=_("duration"))
    def duration(self, obj: IngestionRun) -> str:
        if obj.finished_at is None:
            return "—"
        seconds = (obj.finished_at - obj.started_at).total_seconds()
        return _("%(seconds).1f s") % {"seconds": seconds}

    @admin.display(description=_("report"))
    def report_html(self, obj: IngestionRun) -> SafeString:
        report = obj.report if isinstance(obj.report, dict) else {}
        sections = [("added", _("Added")), ("changed", _("Changed")), ("removed", _("Removed"))]
        keys = [entry.get("key", "") for name, _label in sections for entry in report.get(name) or []]
        ids = dict(Document.objects.filter(key__in=keys).values_list("key", "pk"))
        parts = [
            format_html(
                "<h3>{} ({})</h3><ul>{}</ul>",
                label,
                len(report[name]),
                format_html_join("", "<li>{}</li>", ((_report_entry(entry, ids),) for entry in report[name])),
            )
            for name, label in sections
            if report.get(name)
        ]
        # Runs recorded before the report carried its failed entries still list their errors.
        failed = report.get("failed") or [{"where": "", "error": error} for error in obj.errors]
        if failed:
            rows = ((entry.get("where", ""), entry.get("error", "")) for entry in failed)
            parts.append(
                format_html(
                    '<h3>{} ({})</h3><ul class="curation-errors">{}</ul>',
                    _("Failed"),
                    len(failed),
                    format_html_join("", "<li><code>{}</code> {}</li>", rows),
                )
            )
        if not parts:
            return format_html("<p>{}</p>", _("Nothing was added, changed, removed or failed."))
        return format_html_join("", "{}", ((part,) for part in parts))


def _report_entry(entry: dict[str, str], ids: dict[str, int]) -> SafeString:
    title = entry.get("title") or entry.get("key", "")
    document_id = ids.get(entry.get("key", ""))
    label = (
        format_html('<a href="{}">{}</a>', reverse("admin:ingestion_document_change", args=[document_id]), title)
        if document_id
        else format_html("{}", title)
    )
    url = entry.get("url", "")
    href = _safe_href(url)
    page = format_html(' — <a href="{}" rel="noopener noreferrer">{}</a>', href, url) if href else ""
    return format_html("{} ({}){}", label, entry.get("language", ""), page)
