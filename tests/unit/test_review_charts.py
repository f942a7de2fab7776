"""The admin reports' SVG charts: well-formed, accessible, CSP-safe (no inline style), escaped, to scale."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from review import charts
from review.charts import Series, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def _no_inline_style(root: ET.Element) -> None:
    for element in root.iter():
        assert "style" not in element.attrib, element.tag
        assert element.tag != f"{SVG}style"


def _bars(**overrides: object) -> str:
    arguments: dict[str, object] = {
        "chart_id": "c1",
        "title": "Questions per day",
        "desc": "Stacked by language",
        "labels": ["1 Mar", "2 Mar", "3 Mar"],
        "series": [Series("fr", (2, 0, 5), "chart-s0"), Series("de", (1, 3, 0), "chart-s1")],
        "unit": "questions",
    }
    return str(charts.stacked_bars_svg(**{**arguments, **overrides}))  # type: ignore[arg-type]


def test_nice_ticks_are_round_and_cover_the_maximum() -> None:
    assert nice_ticks(0) == [0.0, 1.0]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(93) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(1840.5)[-1] == 2000
    assert nice_ticks(0.42)[-1] >= 0.42


def test_stacked_bars_are_an_accessible_image_named_by_title_and_desc() -> None:
    root = _parse(_bars())
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "Questions per day"  # type: ignore[union-attr]
    assert root.find(f"{SVG}title").get("id") == "c1-title"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Stacked by language"  # type: ignore[union-attr]
    _no_inline_style(root)


def test_stacked_bars_draw_one_rect_per_nonzero_value_to_scale_with_a_tooltip() -> None:
    root = _parse(_bars())
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 4  # zeros are not drawn
    heights = {r.find(f"{SVG}title").text: float(r.get("height")) for r in bars}  # type: ignore[union-attr,arg-type]
    # Bars are to scale: a value of 5 is five times as tall as a value of 1.
    assert heights["3 Mar · fr: 5"] == pytest.approx(5 * heights["1 Mar · de: 1"], rel=0.02)
    # The day of 2 + 1 is stacked: the second series' bar sits right on top of the first's.
    first_day = sorted((r for r in bars if r.find(f"{SVG}title").text.startswith("1 Mar")), key=lambda r: r.get("y"))  # type: ignore[union-attr]
    assert float(first_day[0].get("y")) + float(first_day[0].get("height")) == pytest.approx(  # type: ignore[arg-type]
        float(first_day[1].get("y")),  # type: ignore[arg-type]
        abs=0.2,
    )
    classes = {r.get("class") for r in bars}
    assert classes == {"chart-s0", "chart-s1"}
    legend = [t.text for t in root.iter(f"{SVG}text")]
    assert "fr" in legend and "de" in legend and "questions" in legend


def test_text_is_escaped_so_a_question_cannot_inject_markup() -> None:
    hostile = '<script>alert(1)</script> & "quotes"'
    markup = str(
        charts.horizontal_bars_svg(chart_id="c2", title=hostile, desc=hostile, labels=[hostile, "ok"], values=[3, 1])
    )
    assert "<script>" not in markup
    root = _parse(markup)
    assert root.find(f"{SVG}title").text == hostile  # type: ignore[union-attr]
    assert not list(root.iter(f"{SVG}script"))


def test_horizontal_bars_shorten_long_labels_but_keep_the_full_text_in_a_tooltip() -> None:
    long_label = "How do I apply for the family allowance for a child who lives abroad with the other parent?"
    root = _parse(str(charts.horizontal_bars_svg(chart_id="c3", title="t", desc="d", labels=[long_label], values=[4])))
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any(t.endswith("…") and len(t) <= charts.LABEL_CHARS for t in texts)
    assert root.find(f"{SVG}g/{SVG}title").text == f"{long_label}: 4"  # type: ignore[union-attr]
    _no_inline_style(root)


def test_line_breaks_where_a_day_has_no_value() -> None:
    root = _parse(
        str(
            charts.line_svg(
                chart_id="c4",
                title="Median",
                desc="d",
                labels=["a", "b", "c", "d", "e"],
                values=[100.0, 250.5, None, 90.0, 120.0],
                name="median",
                unit="ms",
            )
        )
    )
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    assert len(list(root.iter(f"{SVG}circle"))) == 4
    assert root.find(f"{SVG}circle/{SVG}title").text == "a: 100 ms"  # type: ignore[union-attr]
    _no_inline_style(root)


def test_empty_charts_still_render() -> None:
    for markup in (
        _bars(labels=[], series=[Series("fr", (), "chart-s0")]),
        str(charts.line_svg(chart_id="c5", title="t", desc="d", labels=["a"], values=[None], name="n")),
        str(charts.horizontal_bars_svg(chart_id="c6", title="t", desc="d", labels=[], values=[])),
    ):
        assert _parse(markup).get("role") == "img"


def test_series_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match="3 labels"):
        _bars(series=[Series("fr", (1, 2), "chart-s0")])


def test_sparkline_names_every_value_for_screen_readers() -> None:
    root = _parse(
        str(
            charts.sparkline_svg(
                chart_id="w1",
                title="Questions per ISO week",
                labels=["2026-W10", "2026-W11", "2026-W12"],
                values=[0, 2, 5],
            )
        )
    )
    assert root.get("role") == "img" and root.get("aria-labelledby") == "w1-title"
    assert root.find(f"{SVG}title").text == "Questions per ISO week — 2026-W10: 0, 2026-W11: 2, 2026-W12: 5"  # type: ignore[union-attr]
    heights = [float(r.get("height")) for r in root.iter(f"{SVG}rect")]  # type: ignore[arg-type]
    assert len(heights) == 2 and heights[1] == pytest.approx(2.5 * heights[0])
    _no_inline_style(root)
