"""Server-side SVG charts for the admin reports: no JavaScript, no library, no external asset.

The strict CSP forbids inline style (``style`` attributes and ``<style>`` elements), so geometry is
given with SVG presentation attributes and colours with classes styled by ``static/review/reports.css``.
Each chart is an ``role="img"`` named by its ``<title>`` and described by its ``<desc>``; the page
puts a data table next to it for screen readers and for exact figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 260
LEFT = 52
RIGHT = 12
TOP = 34
BOTTOM = 40
MAX_X_LABELS = 8
BAR_ROW = 26
LABEL_CHARS = 36


@dataclass(frozen=True)
class Series:
    """One coloured series: ``css_class`` picks its colour in the report stylesheet."""

    name: str
    values: tuple[float, ...]
    css_class: str


def nice_ticks(maximum: float, *, count: int = 5) -> list[float]:
    """Round tick values from 0 up to at least ``maximum`` (steps of 1, 2 or 5 times a power of ten)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if maximum <= count and step < 1:
        step = 1.0  # counts: never ticks at 0.5
    top = math.ceil(maximum / step) * step
    return [round(i * step, 6) for i in range(round(top / step) + 1)]


def _number(value: float) -> str:
    """A value as the charts print it: integers without decimals, others with one."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}"


def _attr(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else str(int(value))


def _text(x: float, y: float, content: str, *, css: str = "chart-text", anchor: str = "start") -> str:
    return (
        f'<text x="{_attr(x)}" y="{_attr(y)}" class="{css}" text-anchor="{anchor}" font-size="11">'
        f"{escape(content)}</text>"
    )


def _open(chart_id: str, title: str, desc: str, width: int, height: int, kind: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="report-chart report-chart-{kind}" id="{escape(chart_id)}"'
        f' role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc"'
        f' viewBox="0 0 {width} {height}" width="{width}" height="{height}" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def _legend(series: Sequence[Series], width: int) -> list[str]:
    """Swatches and names in one row above the plot, right-aligned."""
    parts: list[str] = []
    widths = [24 + 7 * len(s.name) for s in series]
    x = max(LEFT, width - RIGHT - sum(widths))
    for s, w in zip(series, widths, strict=True):
        parts.append(f'<rect x="{_attr(x)}" y="10" width="12" height="12" class="{escape(s.css_class)}"/>')
        parts.append(_text(x + 16, 20, s.name))
        x += w
    return parts


def _y_axis(ticks: Sequence[float], plot_height: float, width: int, unit: str) -> list[str]:
    top = ticks[-1] or 1.0
    parts = []
    for tick in ticks:
        y = TOP + plot_height - plot_height * tick / top
        parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{_attr(y)}" y2="{_attr(y)}" class="chart-grid"/>')
        parts.append(_text(LEFT - 6, y + 4, _number(tick), anchor="end"))
    if unit:
        parts.append(_text(4, TOP - 14, unit))
    return parts


def _x_labels(labels: Sequence[str], slot: float, baseline: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    parts = []
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(_text(LEFT + slot * (i + 0.5), baseline + 16, label, anchor="middle"))
    return parts


def stacked_bars_svg(
    *,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    unit: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString:
    """Vertical bars, one per label (a day), each stacked from its series' values."""
    for s in series:
        if len(s.values) != len(labels):
            raise ValueError(f"series {s.name!r} has {len(s.values)} values for {len(labels)} labels")
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    ticks = nice_ticks(max(totals, default=0.0))
    plot_height = height - TOP - BOTTOM
    plot_width = width - LEFT - RIGHT
    slot = plot_width / max(1, len(labels))
    bar = max(1.0, slot * 0.8)
    parts = _open(chart_id, title, desc, width, height, "bars")
    parts += _legend(series, width)
    parts += _y_axis(ticks, plot_height, width, unit)
    baseline = TOP + plot_height
    for i, label in enumerate(labels):
        y = float(baseline)
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_height * value / ticks[-1]
            y -= h
            x = LEFT + slot * i + (slot - bar) / 2
            parts.append(
                f'<rect x="{_attr(x)}" y="{_attr(y)}" width="{_attr(bar)}" height="{_attr(h)}"'
                f' class="{escape(s.css_class)}"><title>{escape(label)} · {escape(s.name)}: '
                f"{escape(_number(value))}</title></rect>"
            )
    parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{baseline}" y2="{baseline}" class="chart-axis"/>')
    parts += _x_labels(labels, slot, baseline)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text and attribute above is escaped)


def line_svg(
    *,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    name: str,
    unit: str = "",
    css_class: str = "chart-line-0",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString:
    """A line through the labelled points; a missing value (None) breaks the line."""
    if len(values) != len(labels):
        raise ValueError(f"{len(values)} values for {len(labels)} labels")
    present = [v for v in values if v is not None]
    ticks = nice_ticks(max(present, default=0.0))
    plot_height = height - TOP - BOTTOM
    slot = (width - LEFT - RIGHT) / max(1, len(labels))
    baseline = TOP + plot_height
    parts = _open(chart_id, title, desc, width, height, "line")
    parts += _legend([Series(name, (), css_class)], width)
    parts += _y_axis(ticks, plot_height, width, unit)
    segments: list[list[tuple[float, float]]] = [[]]
    points: list[str] = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None:
            segments.append([])
            continue
        x = LEFT + slot * (i + 0.5)
        y = baseline - plot_height * value / ticks[-1]
        segments[-1].append((x, y))
        points.append(
            f'<circle cx="{_attr(x)}" cy="{_attr(y)}" r="3" class="{escape(css_class)}">'
            f"<title>{escape(label)}: {escape(_number(value))} {escape(unit)}</title></circle>"
        )
    for segment in segments:
        if len(segment) > 1:
            coords = " ".join(f"{_attr(x)},{_attr(y)}" for x, y in segment)
            parts.append(f'<polyline points="{coords}" fill="none" stroke-width="2" class="{escape(css_class)}"/>')
    parts += points
    parts.append(f'<line x1="{LEFT}" x2="{width - RIGHT}" y1="{baseline}" y2="{baseline}" class="chart-axis"/>')
    parts += _x_labels(labels, slot, baseline)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text and attribute above is escaped)


def _shortened(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1].rstrip() + "…"


def horizontal_bars_svg(
    *,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float],
    css_class: str = "chart-s0",
    width: int = WIDTH,
) -> SafeString:
    """One horizontal bar per label, longest first as given; long labels are shortened (full in a tooltip)."""
    if len(values) != len(labels):
        raise ValueError(f"{len(values)} values for {len(labels)} labels")
    label_width = 270
    top = max(values, default=0.0) or 1.0
    height = 12 + BAR_ROW * max(1, len(labels))
    plot_width = width - label_width - RIGHT - 40
    parts = _open(chart_id, title, desc, width, height, "hbars")
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 6 + BAR_ROW * i
        w = max(1.0, plot_width * value / top) if value > 0 else 0.0
        parts.append(f"<g><title>{escape(label)}: {escape(_number(value))}</title>")
        parts.append(_text(label_width - 8, y + 15, _shortened(label), anchor="end"))
        parts.append(
            f'<rect x="{label_width}" y="{_attr(y + 3)}" width="{_attr(w)}" height="{BAR_ROW - 8}"'
            f' class="{escape(css_class)}"/>'
        )
        parts.append(_text(label_width + w + 6, y + 15, _number(value)))
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text and attribute above is escaped)


def sparkline_svg(*, chart_id: str, title: str, labels: Sequence[str], values: Sequence[float]) -> SafeString:
    """A small bar per label (an ISO week) to read a trend in a table cell; ``title`` names it and the
    accessible name lists every value, so nothing is only visual."""
    if len(values) != len(labels):
        raise ValueError(f"{len(values)} values for {len(labels)} labels")
    slot, height = 8, 24
    width = slot * max(1, len(labels))
    top = max(values, default=0.0) or 1.0
    listing = ", ".join(f"{label}: {_number(value)}" for label, value in zip(labels, values, strict=True))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="report-sparkline" id="{escape(chart_id)}" role="img"'
        f' aria-labelledby="{escape(chart_id)}-title" viewBox="0 0 {width} {height}" width="{width * 2}"'
        f' height="{height * 2}" preserveAspectRatio="none">',
        f'<title id="{escape(chart_id)}-title">{escape(title)} — {escape(listing)}</title>',
        f'<line x1="0" x2="{width}" y1="{height - 0.5}" y2="{height - 0.5}" class="chart-axis"/>',
    ]
    for i, value in enumerate(values):
        if value > 0:
            h = max(1.5, (height - 2) * value / top)
            parts.append(
                f'<rect x="{i * slot + 1}" y="{_attr(height - h)}" width="{slot - 2}" height="{_attr(h)}"'
                ' class="chart-declined"/>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308  (every text and attribute above is escaped)
