"""What the curation admin shows beyond plain model fields: diffs, citations, run status, trial answers.

The ModelAdmins in ``ingestion/admin.py`` and ``assistant/admin.py`` stay declarative and call
these named functions; each one is usable (and tested) without a request.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from assistant.models import Answer
from assistant.pipeline.context import AnswerContext
from assistant.pipeline.runner import pipeline_run
from assistant.services import answer_steps
from assistant.types import LANGUAGES, ScoredChunk, Source
from assistant.vector_index import IndexUnavailable, get_index
from ingestion.models import LANGUAGE_CHOICES, Document, DocumentVersion, IngestionRun

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    from assistant.pipeline.steps import Step

# How many of the newest answers mentioning a document are checked for a real citation of it.
CITED_IN_SCAN = 500


# --- diffs ----------------------------------------------------------------------------------
def text_diff_html(*, older: str, newer: str, older_label: str, newer_label: str) -> SafeString:
    """A unified diff as escaped HTML; added and removed lines carry classes styled by curation/admin.css."""
    lines = difflib.unified_diff(
        older.splitlines(), newer.splitlines(), fromfile=older_label, tofile=newer_label, lineterm="", n=2
    )
    rows = [(_diff_class(line), line) for line in lines]
    if not rows:
        return format_html("<p>{}</p>", _("The text did not change."))
    return format_html(
        '<pre class="curation-diff">{}</pre>', format_html_join("", '<span class="{}">{}</span>\n', rows)
    )


def _diff_class(line: str) -> str:
    if line.startswith(("---", "+++")):
        return "diff-file"
    if line.startswith("@@"):
        return "diff-hunk"
    if line.startswith("+"):
        return "diff-add"
    if line.startswith("-"):
        return "diff-del"
    return "diff-context"


def _version_label(version: DocumentVersion) -> str:
    return f"{version.fetched_at:%Y-%m-%d %H:%M} {version.content_hash[:12]}"


def version_previous(version: DocumentVersion) -> DocumentVersion | None:
    """The version of the same document seen just before this one."""
    older = DocumentVersion.objects.filter(document_id=version.document_id, fetched_at__lte=version.fetched_at)
    return older.exclude(fetched_at=version.fetched_at, pk__gte=version.pk).order_by("-fetched_at", "-pk").first()


def version_diff_html(version: DocumentVersion) -> SafeString:
    """What changed in this version compared with the one before it."""
    previous = version_previous(version)
    if previous is None:
        return format_html("<p>{}</p>", _("First version of this document: nothing to compare with."))
    return text_diff_html(
        older=previous.text,
        newer=version.text,
        older_label=_version_label(previous),
        newer_label=_version_label(version),
    )


def document_latest_diff_html(document: Document) -> SafeString:
    """The diff between the two newest versions of a document (what the last fetch changed)."""
    newest = list(document.versions.order_by("-fetched_at", "-pk")[:2])
    if len(newest) < 2:
        return format_html("<p>{}</p>", _("Only one version so far: nothing to compare with."))
    newer, older = newest
    return text_diff_html(
        older=older.text, newer=newer.text, older_label=_version_label(older), newer_label=_version_label(newer)
    )


# --- citations ------------------------------------------------------------------------------
def answers_citing(*, document_key: str, limit: int = 20) -> list[Answer]:
    """The newest answers that cite the document: listed among their sources AND cited by number.

    The JSON text match only narrows the candidates (it works the same on SQLite and PostgreSQL);
    the check that the answer really cites the document is done here.
    """
    candidates = Answer.objects.filter(sources__icontains=document_key).order_by("-created_at", "-pk")
    found: list[Answer] = []
    for answer in candidates[:CITED_IN_SCAN]:
        numbers = {
            source.get("number")
            for source in answer.sources
            if isinstance(source, dict) and source.get("document") == document_key
        }
        if numbers & set(answer.citations):
            found.append(answer)
            if len(found) >= limit:
                break
    return found


# --- ingestion status for the admin index ---------------------------------------------------
@dataclass(frozen=True)
class IngestionStatus:
    generation: str | None  # the live index generation, None when nothing is indexed yet
    last_success: IngestionRun | None
    failed_run: IngestionRun | None  # the most recent finished run, when it failed


def ingestion_status() -> IngestionStatus:
    finished = IngestionRun.objects.filter(
        status__in=[IngestionRun.Status.SUCCEEDED, IngestionRun.Status.FAILED]
    ).order_by("-started_at", "-pk")
    latest = finished.first()
    try:
        generation = get_index().current_generation()
    except (IndexUnavailable, OSError):
        generation = None
    return IngestionStatus(
        generation=generation,
        last_success=finished.filter(status=IngestionRun.Status.SUCCEEDED).first(),
        failed_run=latest if latest is not None and latest.status == IngestionRun.Status.FAILED else None,
    )


# --- "try a question" -----------------------------------------------------------------------
@dataclass(frozen=True)
class StepOutcome:
    name: str
    state: str  # done | stopped | not run
    metrics: dict[str, object]


@dataclass(frozen=True)
class ChunkRow:
    chunk: ScoredChunk
    document_id: int | None  # for the link to the document's admin page


@dataclass(frozen=True)
class QuestionTrial:
    """One question run through the chat's pipeline, with everything an editor needs to see why."""

    question: str
    language: str
    status: str
    reason: str
    answer: str
    steps: tuple[StepOutcome, ...]
    kept: tuple[ChunkRow, ...]
    rejected: tuple[ChunkRow, ...]
    cited: tuple[Source, ...]
    sources: tuple[Source, ...]


def question_trial(*, question: str, language: str, steps: Sequence[Step] | None = None) -> QuestionTrial:
    """Answer ``question`` as the chat would, storing nothing."""
    steps = steps if steps is not None else answer_steps()
    ctx = pipeline_run(ctx=AnswerContext(question=question, ui_language=language), steps=steps, observe=False)
    outcomes = tuple(_step_outcome(step.name, ctx.metrics.get(step.name)) for step in steps)
    kept = ctx.retrieval.kept if ctx.retrieval else ()
    rejected = ctx.retrieval.rejected if ctx.retrieval else ()
    keys = {c.document_key for c in (*kept, *rejected)}
    ids = dict(Document.objects.filter(key__in=keys).values_list("key", "pk"))
    return QuestionTrial(
        question=ctx.question,
        language=ctx.language,
        status=ctx.status,
        reason=ctx.reason,
        answer=ctx.answer,
        steps=outcomes,
        kept=tuple(ChunkRow(c, ids.get(c.document_key)) for c in kept),
        rejected=tuple(ChunkRow(c, ids.get(c.document_key)) for c in rejected),
        cited=tuple(s for s in ctx.sources if s.number in ctx.citations),
        sources=ctx.sources,
    )


def _step_outcome(name: str, metrics: dict[str, object] | None) -> StepOutcome:
    if metrics is None:
        return StepOutcome(name=name, state=_("not run"), metrics={})
    state = _("stopped: %(reason)s") % {"reason": metrics["stopped"]} if "stopped" in metrics else _("done")
    return StepOutcome(name=name, state=state, metrics={k: v for k, v in metrics.items() if k != "stopped"})


class QuestionTrialForm(forms.Form):
    question = forms.CharField(
        label=gettext_lazy("Question"), max_length=settings.QUESTION_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 3})
    )
    language = forms.ChoiceField(
        label=gettext_lazy("Language of the chat page"),
        choices=[(code, name) for code, name in LANGUAGE_CHOICES if code in LANGUAGES],
        initial="fr",
        help_text=gettext_lazy("Used when the question is too short to detect its language."),
    )


def try_question_view(request: HttpRequest, *, model_admin: ModelAdmin[Document]) -> TemplateResponse:
    """The admin's "try a question" page: any staff member who may view documents."""
    if not request.user.has_perm("ingestion.view_document"):
        raise PermissionDenied
    form = QuestionTrialForm(request.POST if request.method == "POST" else None)
    trial = None
    if request.method == "POST" and form.is_valid():
        trial = question_trial(question=form.cleaned_data["question"], language=form.cleaned_data["language"])
    context = {
        **model_admin.admin_site.each_context(request),
        "title": _("Try a question"),
        "opts": model_admin.model._meta,
        "form": form,
        "trial": trial,
        "changelist_url": reverse("admin:ingestion_document_changelist"),
    }
    return TemplateResponse(request, "admin/ingestion/try_question.html", context)
