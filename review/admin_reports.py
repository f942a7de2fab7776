"""The admin's reports: the dashboard and the unanswered questions, as pages and as CSV.

Wired in ``portal/urls.py`` through ``admin.site.admin_view`` (staff only, login redirect); every
view also needs ``assistant.view_answer`` (Editors and Reviewers have it), or answers 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import formats
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from assistant.models import Answer
from review import charts
from review.dashboard import (
    MAX_RANGE_DAYS,
    DashboardStats,
    DateRange,
    csv_lines,
    dashboard_csv_rows,
    dashboard_stats,
)
from review.unanswered import (
    LOW_CONFIDENCE,
    TREND_DAYS,
    UnansweredReport,
    unanswered_csv_rows,
    unanswered_report,
)

PERMISSION = "assistant.view_answer"
SORTS = ("size", "trend")


def _check_access(request: HttpRequest) -> None:
    user = request.user
    if not (user.is_active and user.is_staff and user.has_perm(PERMISSION)):
        raise PermissionDenied


class PeriodForm(forms.Form):
    """The date range of a report (both days included); empty fields mean the last weeks up to today."""

    # An <input type="date"> sends and shows ISO dates whatever the admin's language.
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput({"type": "date"}, "%Y-%m-%d"))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput({"type": "date"}, "%Y-%m-%d"))

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        default = DateRange.last_weeks()
        end: date = data.get("end") or default.end
        start: date = data.get("start") or end - (default.end - default.start)
        if end < start:
            raise forms.ValidationError(_("The range ends before it starts."), code="reversed")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise forms.ValidationError(
                _("A report covers at most %(days)d days.") % {"days": MAX_RANGE_DAYS}, code="too_long"
            )
        data["period"] = DateRange(start=start, end=end)
        return data


class UnansweredForm(PeriodForm):
    language = forms.ChoiceField(label=_("Language"), required=False)
    sort = forms.ChoiceField(
        label=_("Order"),
        required=False,
        choices=[("size", _("Largest groups first")), ("trend", _("Rising in the last 7 days first"))],
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["language"].choices = [("", _("All languages")), *settings.LANGUAGES]  # type: ignore[attr-defined]


def _period_form(form_class: type[PeriodForm], request: HttpRequest) -> PeriodForm:
    """Bound to the query string when it holds anything; unbound (showing the default range) otherwise."""
    default = DateRange.last_weeks()
    data = request.GET if any(request.GET.get(k) for k in request.GET) else None
    return form_class(data, initial={"start": default.start, "end": default.end})


def _period(form: PeriodForm) -> DateRange:
    if form.is_bound and form.is_valid():
        return form.cleaned_data["period"]
    return DateRange.last_weeks()


def _context(request: HttpRequest, title: str, **extra: object) -> dict[str, object]:
    return {**admin.site.each_context(request), "title": title, "subtitle": None, **extra}


def _csv_response(lines: Iterable[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _filename(stem: str, period: DateRange) -> str:
    return f"{stem}-{period.start.isoformat()}-{period.end.isoformat()}.csv"


# --- dashboard ------------------------------------------------------------------------------
def _percent(share: float | None) -> str:
    return "—" if share is None else f"{formats.number_format(round(share * 100, 1), 1)} %"


def _day_label(day: date) -> str:
    return formats.date_format(day, "j M")


def _language_name(code: str) -> str:
    names = dict(settings.LANGUAGES)
    return str(names[code]) if code in names else gettext("Undetected")


def _status_name(status: str) -> str:
    """The status's label, or its code when this version does not know it."""
    return str(dict(Answer.Status.choices).get(status, status))


def dashboard_charts(stats: DashboardStats) -> dict[str, object]:
    """The dashboard's SVG charts (each with a data table in the template)."""
    labels = [_day_label(d.day) for d in stats.days]
    period = {"start": formats.date_format(stats.period.start), "end": formats.date_format(stats.period.end)}
    languages = charts.stacked_bars_svg(
        chart_id="chart-questions",
        title=gettext("Questions per day and language"),
        desc=gettext("%(questions)d questions from %(start)s to %(end)s, stacked by the question's language.")
        % {"questions": stats.questions, **period},
        labels=labels,
        series=[
            charts.Series(_language_name(code), tuple(d.languages[code] for d in stats.days), f"chart-s{i}")
            for i, code in enumerate(stats.languages)
        ],
        unit=gettext("questions"),
    )
    outcomes = charts.stacked_bars_svg(
        chart_id="chart-outcomes",
        title=gettext("Answered and declined per day"),
        desc=gettext("Answered %(answered)s, declined %(declined)s, other %(other)s of the questions.")
        % {
            "answered": _percent(stats.answered_share),
            "declined": _percent(stats.declined_share),
            "other": _percent(stats.other_share),
        },
        labels=labels,
        series=[
            charts.Series(gettext("Answered"), tuple(d.answered for d in stats.days), "chart-answered"),
            charts.Series(gettext("Declined"), tuple(d.declined for d in stats.days), "chart-declined"),
            charts.Series(gettext("Other"), tuple(d.other for d in stats.days), "chart-other"),
        ],
        unit=gettext("questions"),
    )
    feedback = charts.stacked_bars_svg(
        chart_id="chart-feedback",
        title=gettext("Thumbs up and down per day"),
        desc=gettext("%(up)d thumbs up and %(down)d thumbs down: %(rate)s of the ratings are thumbs up.")
        % {"up": stats.thumbs_up, "down": stats.thumbs_down, "rate": _percent(stats.thumbs_up_rate)},
        labels=labels,
        series=[
            charts.Series(gettext("Thumbs up"), tuple(d.thumbs_up for d in stats.days), "chart-up"),
            charts.Series(gettext("Thumbs down"), tuple(d.thumbs_down for d in stats.days), "chart-down"),
        ],
        unit=gettext("ratings"),
    )
    median = stats.median_first_token_ms
    latency = charts.line_svg(
        chart_id="chart-latency",
        title=gettext("Median time to the first word, per day"),
        desc=(
            gettext("Median over the period: %(ms)s ms, from %(count)d answers.")
            % {"ms": formats.number_format(median, 0), "count": stats.first_token_samples}
            if median is not None
            else gettext("No answer of the period recorded a time to the first word.")
        ),
        labels=labels,
        values=[d.median_first_token_ms for d in stats.days],
        name=gettext("Median time to the first word"),
        unit="ms",
    )
    procedures = charts.horizontal_bars_svg(
        chart_id="chart-procedures",
        title=gettext("Procedures most cited in answers"),
        desc=gettext("The procedures whose pages the answers of the period cited most, with the number of answers."),
        labels=[p.title for p in stats.top_procedures],
        values=[p.answers for p in stats.top_procedures],
    )
    return {
        "questions": languages,
        "outcomes": outcomes,
        "feedback": feedback,
        "latency": latency,
        "procedures": procedures if stats.top_procedures else None,
    }


def dashboard_view(request: HttpRequest) -> HttpResponse:
    _check_access(request)
    form = _period_form(PeriodForm, request)
    period = _period(form)
    stats = dashboard_stats(period=period)
    rows = [
        {
            "day": d,
            "languages": [d.languages[code] for code in stats.languages],
        }
        for d in stats.days
    ]
    context = _context(
        request,
        gettext("Dashboard"),
        form=form,
        period=period,
        stats=stats,
        charts=dashboard_charts(stats),
        language_names=[_language_name(code) for code in stats.languages],
        language_totals=[(_language_name(code), stats.language_totals[code]) for code in stats.languages],
        statuses=[(_status_name(status), count) for status, count in stats.statuses.items()],
        rows=rows,
        shares={
            "answered": _percent(stats.answered_share),
            "declined": _percent(stats.declined_share),
            "other": _percent(stats.other_share),
            "thumbs_up": _percent(stats.thumbs_up_rate),
            "thumbs_down": _percent(stats.thumbs_down_rate),
            "rated": _percent(stats.rated_share),
        },
        query=request.GET.urlencode(),
    )
    return TemplateResponse(request, "admin/review/dashboard.html", context)


def dashboard_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    _check_access(request)
    form = _period_form(PeriodForm, request)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain; charset=utf-8")
    period = _period(form)
    stats = dashboard_stats(period=period)
    return _csv_response(csv_lines(dashboard_csv_rows(stats)), _filename("dashboard", period))


# --- unanswered questions ----------------------------------------------------------------------
def _report(form: PeriodForm) -> UnansweredReport:
    language = form.cleaned_data.get("language", "") if form.is_bound and form.is_valid() else ""
    return unanswered_report(period=_period(form), language=str(language or ""))


def unanswered_chart(report: UnansweredReport, *, limit: int = 10) -> SafeString:
    largest = report.clusters[:limit]
    return charts.horizontal_bars_svg(
        chart_id="chart-unanswered",
        title=gettext("Largest groups of unanswered questions"),
        desc=gettext("The %(count)d largest groups, each named by its representative question, with its size.")
        % {"count": len(largest)},
        labels=[c.representative.question for c in largest],
        values=[c.size for c in largest],
        css_class="chart-declined",
    )


def unanswered_view(request: HttpRequest) -> HttpResponse:
    _check_access(request)
    form = _period_form(UnansweredForm, request)
    report = _report(form)
    sort = request.GET.get("sort") or "size"
    clusters = list(report.iter_clusters(sort if sort in SORTS else "size"))
    kinds = {
        "declined": gettext("declined"),
        "replaced": gettext("sources only"),
        LOW_CONFIDENCE: gettext("weak match"),
    }
    context = _context(
        request,
        gettext("Unanswered and trending questions"),
        form=form,
        report=report,
        rows=[
            {
                "cluster": c,
                "kinds": [(kinds.get(kind, kind), count) for kind, count in c.kinds.items()],
                "weeks": charts.sparkline_svg(
                    chart_id=f"weeks-{number}",
                    title=gettext("Questions per ISO week"),
                    labels=list(c.weeks),
                    values=list(c.weeks.values()),
                ),
            }
            for number, c in enumerate(clusters, start=1)
        ],
        chart=unanswered_chart(report) if clusters else None,
        first_week=report.weeks[0],
        last_week=report.weeks[-1],
        recent_from=report.period.end - timedelta(days=TREND_DAYS - 1),
        query=request.GET.urlencode(),
    )
    return TemplateResponse(request, "admin/review/unanswered.html", context)


def unanswered_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    _check_access(request)
    form = _period_form(UnansweredForm, request)
    if form.is_bound and not form.is_valid():
        return HttpResponseBadRequest(form.errors.as_text(), content_type="text/plain; charset=utf-8")
    report = _report(form)
    return _csv_response(csv_lines(unanswered_csv_rows(report)), _filename("unanswered", report.period))
