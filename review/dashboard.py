"""Figures for the admin dashboard, computed from the stored answers of a date range.

Every answer row is a question asked. Outcomes are grouped so that statuses added later do not
break the report: ``answered`` and ``verified`` count as answered, ``declined`` and ``replaced``
(the model's text withheld, the sources shown) as declined, anything else (fixed replies, rejected
input, failures, cancelled, timed out, pending, or a status this module does not know) as other.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from assistant.models import Answer

ANSWERED_STATUSES = frozenset({"answered", "verified"})
DECLINED_STATUSES = frozenset({"declined", "replaced"})
UNDETECTED = ""  # the language bucket of answers whose language was never detected (rejected input)
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class DateRange:
    """Whole days, both ends included, in the site's time zone."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the range ends ({self.end}) before it starts ({self.start})")

    @classmethod
    def last_weeks(cls, weeks: int | None = None, *, today: date | None = None) -> DateRange:
        today = today or timezone.localdate()
        weeks = weeks or settings.REVIEW_REPORT_WEEKS
        return cls(start=today - timedelta(days=7 * weeks - 1), end=today)

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    def bounds(self) -> tuple[datetime, datetime]:
        """Aware datetimes: the first instant of ``start`` and the first instant after ``end``."""
        zone = timezone.get_current_timezone()
        return (
            datetime.combine(self.start, time.min, tzinfo=zone),
            datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=zone),
        )

    def answers(self) -> QuerySet[Answer]:
        low, high = self.bounds()
        return Answer.objects.filter(created_at__gte=low, created_at__lt=high)


def outcome_of(status: str) -> str:
    if status in ANSWERED_STATUSES:
        return "answered"
    if status in DECLINED_STATUSES:
        return "declined"
    return "other"


def report_languages() -> tuple[str, ...]:
    """The interface languages, then the bucket of undetected languages."""
    return (*(code for code, _name in settings.LANGUAGES), UNDETECTED)


def cited_sources(*, status: str, sources: object, citations: object) -> list[dict[str, object]]:
    """The public source dicts an answer rests on: those its citations name.

    A verified answer rests on all its sources when it carries no citation numbers.
    Malformed stored values (not lists, not dicts) are skipped, never fatal.
    """
    if not isinstance(sources, list):
        return []
    entries = [s for s in sources if isinstance(s, dict)]
    numbers = {n for n in citations if isinstance(n, int)} if isinstance(citations, list) else set()
    if not numbers:
        return entries if status == "verified" else []
    return [s for s in entries if s.get("number") in numbers]


@dataclass(frozen=True)
class DayFigures:
    day: date
    questions: int
    languages: dict[str, int]
    answered: int
    declined: int
    other: int
    thumbs_up: int
    thumbs_down: int
    median_first_token_ms: float | None


@dataclass(frozen=True)
class CitedCount:
    """A procedure or a document and the number of answers that cited it."""

    key: str
    title: str
    url: str
    answers: int


@dataclass(frozen=True)
class DashboardStats:
    period: DateRange
    languages: tuple[str, ...]
    days: tuple[DayFigures, ...]
    questions: int
    language_totals: dict[str, int]
    answered: int
    declined: int
    other: int
    statuses: dict[str, int]
    thumbs_up: int
    thumbs_down: int
    median_first_token_ms: float | None
    first_token_samples: int
    top_procedures: tuple[CitedCount, ...]
    top_documents: tuple[CitedCount, ...]

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def answered_share(self) -> float | None:
        return self._share(self.answered, self.questions)

    @property
    def declined_share(self) -> float | None:
        return self._share(self.declined, self.questions)

    @property
    def other_share(self) -> float | None:
        return self._share(self.other, self.questions)

    @property
    def rated(self) -> int:
        return self.thumbs_up + self.thumbs_down

    @property
    def thumbs_up_rate(self) -> float | None:
        return self._share(self.thumbs_up, self.rated)

    @property
    def thumbs_down_rate(self) -> float | None:
        return self._share(self.thumbs_down, self.rated)

    @property
    def rated_share(self) -> float | None:
        return self._share(self.rated, self.questions)


@dataclass
class _Day:
    questions: int = 0
    languages: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    ratings: Counter[str] = field(default_factory=Counter)
    first_token_ms: list[float] = field(default_factory=list)


@dataclass
class _Cited:
    answers: int = 0
    titles: Counter[str] = field(default_factory=Counter)
    url: str = ""


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _top(counts: dict[str, _Cited], limit: int) -> tuple[CitedCount, ...]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1].answers, item[0]))[:limit]
    return tuple(
        CitedCount(key=key, title=c.titles.most_common(1)[0][0] if c.titles else key, url=c.url, answers=c.answers)
        for key, c in ranked
    )


def dashboard_stats(*, period: DateRange, top: int = 10) -> DashboardStats:
    """Per-day and whole-period figures; one pass over the period's answers, reading only what is needed."""
    languages = report_languages()
    known = set(languages)
    days = {day: _Day() for day in period.days()}
    statuses: Counter[str] = Counter()
    procedures: dict[str, _Cited] = {}
    documents: dict[str, _Cited] = {}
    rows = period.answers().values_list(
        "created_at",
        "language",
        "status",
        "metrics__generation__first_token_ms",
        "sources",
        "citations",
        "feedback__rating",
    )
    for created_at, language, status, first_token_ms, sources, citations, rating in rows.iterator(chunk_size=2000):
        bucket = days.get(timezone.localtime(created_at).date())
        if bucket is None:  # only when the time zone changed between the query and now
            continue
        bucket.questions += 1
        bucket.languages[language if language in known else UNDETECTED] += 1
        outcome = outcome_of(status)
        bucket.outcomes[outcome] += 1
        statuses[status] += 1
        if rating:
            bucket.ratings[rating] += 1
        if isinstance(first_token_ms, (int, float)) and first_token_ms > 0:
            bucket.first_token_ms.append(float(first_token_ms))
        if outcome != "answered":
            continue
        cited = cited_sources(status=status, sources=sources, citations=citations)
        for key_name, counts in (("procedure", procedures), ("document", documents)):
            seen: dict[str, dict[str, object]] = {}
            for source in cited:
                key = str(source.get(key_name) or "")
                if key:
                    seen.setdefault(key, source)
            for key, source in seen.items():  # once per answer, however many of its chunks were cited
                entry = counts.setdefault(key, _Cited(url=str(source.get("url") or "")))
                entry.answers += 1
                if title := str(source.get("title") or ""):
                    entry.titles[title] += 1
    figures = tuple(
        DayFigures(
            day=day,
            questions=b.questions,
            languages={code: b.languages[code] for code in languages},
            answered=b.outcomes["answered"],
            declined=b.outcomes["declined"],
            other=b.outcomes["other"],
            thumbs_up=b.ratings["up"],
            thumbs_down=b.ratings["down"],
            median_first_token_ms=_median(b.first_token_ms),
        )
        for day, b in days.items()
    )
    all_first_tokens = [ms for b in days.values() for ms in b.first_token_ms]
    return DashboardStats(
        period=period,
        languages=languages,
        days=figures,
        questions=sum(d.questions for d in figures),
        language_totals={code: sum(d.languages[code] for d in figures) for code in languages},
        answered=sum(d.answered for d in figures),
        declined=sum(d.declined for d in figures),
        other=sum(d.other for d in figures),
        statuses=dict(statuses.most_common()),
        thumbs_up=sum(d.thumbs_up for d in figures),
        thumbs_down=sum(d.thumbs_down for d in figures),
        median_first_token_ms=_median(all_first_tokens),
        first_token_samples=len(all_first_tokens),
        top_procedures=_top(procedures, top),
        top_documents=_top(documents, top),
    )


# --- CSV ----------------------------------------------------------------------------------
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value for a spreadsheet: text that a spreadsheet would run as a formula is quoted with '."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(_FORMULA_START) else text


def csv_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Rows as CSV text, one line at a time (for a streaming response)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def dashboard_csv_rows(stats: DashboardStats) -> Iterator[list[object]]:
    """The daily figures: one row per day of the period, columns named in English (stable for scripts)."""
    language_columns = [f"questions_{code or 'undetected'}" for code in stats.languages]
    yield [
        "date",
        "questions",
        *language_columns,
        "answered",
        "declined",
        "other",
        "thumbs_up",
        "thumbs_down",
        "median_first_token_ms",
    ]
    for d in stats.days:
        yield [
            d.day.isoformat(),
            d.questions,
            *(d.languages[code] for code in stats.languages),
            d.answered,
            d.declined,
            d.other,
            d.thumbs_up,
            d.thumbs_down,
            "" if d.median_first_token_ms is None else d.median_first_token_ms,
        ]
