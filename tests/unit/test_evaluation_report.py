"""Figures of an evaluation report: the reply's language, and a saved report scored again."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from assistant.evaluation.runner import reply_language

GERMAN_REPLACED = (
    "Leider konnte ich keine verlässliche Antwort verfassen. Dies sind die offiziellen Seiten, die Ihrer Frage "
    "am nächsten kommen; auch der Guichet-Helpdesk kann Ihnen weiterhelfen:\n"
    "- [1] Déclaration d'arrivée d'un ressortissant de l'Union européenne à la commune\n"
    "- [2] Immatriculation d'un véhicule en provenance de l'étranger et contrôle technique\n"
    "- [3] Échange d'un permis de conduire délivré par un pays tiers contre un permis luxembourgeois\n"
    "- [4] Demande d'une allocation de vie chère auprès du Fonds national de solidarité"
)


def test_the_titles_a_replaced_reply_lists_are_not_read_as_its_language() -> None:
    assert reply_language(GERMAN_REPLACED, status="replaced") == "de"
    assert reply_language(GERMAN_REPLACED, status="answered") == "fr", "an answer is read whole"
    assert reply_language("[1] [2]", status="answered") == ""


def _question(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "q1", "language": "de", "cross_lingual": True, "answerable": True, "retrieved_docs": ["a.md"],
        "rank": 1, "best_dense_score": 0.5, "refused": False, "status": "replaced", "answer": GERMAN_REPLACED,
        "raw_output": "[1] [2]", "citations": ["a.md"], "citations_valid": True, "raw_citations_valid": True,
        "answer_language": "fr", "fact_coverage": 0.0, "fact_coverage_loose": 0.0,
        "latency_ms": {"rephrase": None, "retrieval": 30.0, "first_token": 900.0, "total": 2000.0},
    }  # fmt: skip
    return base | changes


def test_a_saved_report_is_scored_again_without_running_anything(tmp_path: Path) -> None:
    saved = tmp_path / "report.json"
    saved.write_text(json.dumps({"questions": [_question()], "generated": True, "documents": 1}))
    out, rescored = StringIO(), tmp_path / "rescored.json"
    call_command("evaluate", "--rescore", str(saved), "--out", str(rescored), stdout=out)
    report = json.loads(rescored.read_text())
    assert report["questions"][0]["answer_language"] == "de"
    assert report["summary"]["de"]["answer_language_match"] == 1.0
    assert report["summary"]["overall"]["recall@1"] == 1.0 and report["documents"] == 1
    assert report["summary"]["overall"]["second_looks"] == 0, "a report from before the second look has none"
    assert "| de |" in out.getvalue()


@pytest.mark.parametrize(
    "content", ["not json", json.dumps({"summary": {}}), json.dumps({"questions": [{"id": "q1"}]})]
)
def test_rescoring_something_else_than_a_report_is_a_clear_error(tmp_path: Path, content: str) -> None:
    saved = tmp_path / "report.json"
    saved.write_text(content)
    with pytest.raises(CommandError, match="--rescore"):
        call_command("evaluate", "--rescore", str(saved), stdout=StringIO())


def test_evaluate_without_docs_or_a_report_says_what_it_needs() -> None:
    with pytest.raises(CommandError, match="--docs and --questions are required"):
        call_command("evaluate", stdout=StringIO())
