"""`manage.py evaluate` on our own golden set, with the real embedder, Qdrant and (once) the real model."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from ingestion.models import Document

pytestmark = pytest.mark.django_db
OWN = Path(settings.BASE_DIR) / "eval" / "own" / "questions.jsonl"


def _evaluate(tmp_path: Path, *extra: str) -> tuple[dict[str, object], str]:
    out, report = StringIO(), tmp_path / "report.json"
    call_command(
        "evaluate", "--docs", str(settings.DEMO_KB_DIR), "--questions", str(OWN), "--out", str(report), *extra,
        stdout=out,
    )  # fmt: skip
    return json.loads(report.read_text()), out.getvalue()


def test_retrieval_evaluation_is_isolated_and_meets_our_bar(tmp_path: Path) -> None:
    live_before = sorted(p.name for p in Path(settings.INDEX_DIR).glob("*"))
    documents_before = Document.objects.count()
    report, table = _evaluate(tmp_path, "--no-generate")

    assert sorted(p.name for p in Path(settings.INDEX_DIR).glob("*")) == live_before  # live index untouched
    assert Document.objects.count() == documents_before  # database changes rolled back
    assert "| overall |" in table and "| lb |" in table
    overall = report["summary"]["overall"]  # type: ignore[index]
    assert overall["recall@5"] >= 0.9
    assert overall["recall@5_cross_lingual"] >= 0.75
    questions = report["questions"]
    assert isinstance(questions, list) and len(questions) == 16
    first = questions[0]
    assert {"id", "language", "retrieved_docs", "refused", "answer", "citations", "citations_valid",
            "answer_language", "fact_coverage", "latency_ms", "reason", "second_look"} <= set(first)  # fmt: skip
    assert first["retrieved_docs"][0].endswith(".md")


@pytest.mark.real_model
def test_generated_evaluation_checks_citations_and_language(tmp_path: Path) -> None:
    report, _ = _evaluate(tmp_path, "--only", "own02,own15")
    by_id = {q["id"]: q for q in report["questions"]}  # type: ignore[union-attr]
    answered = by_id["own02"]
    assert answered["citations_valid"] is True
    assert answered["refused"] or answered["answer_language"] == "fr"
    assert answered["latency_ms"]["first_token"] is not None
    assert by_id["own15"]["refused"] is True  # weather in Paris: declined
