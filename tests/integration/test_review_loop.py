"""Civil servants close the loop, on real components: DB, embedder, embedded Qdrant, llama.cpp, admin views.

A thumbs-down answer reaches the queue; promoted and approved, it is served as a verified answer to a
paraphrased question in another session; re-ingesting the changed page expires it; a golden case made
from the queue runs in `manage.py evaluate`.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.utils import translation

from assistant.models import Answer, Feedback
from ingestion.models import Document
from ingestion.services import ingest_folder
from review.models import DocumentFlag, GoldenCase, ReviewItem, VerifiedAnswer, VerifiedAnswerText

pytestmark = pytest.mark.django_db

PERMIT_EN = """---
title: "Residents' parking permit"
source_url: "https://example.commune.lu/en/parking-permit.html"
language: en
procedure: review-test-parking-permit
---

# Residents' parking permit

Residents of the commune can apply for a residents' parking permit (vignette) at the citizens' office.

## Conditions
The car must be registered at the applicant's address in the commune. One permit per household member with a car.

## How to apply
Bring the vehicle registration certificate and an identity card to the citizens' office. The permit costs 15 euros
per year and is valid until 31 December.
"""

PERMIT_FR = """---
title: "Vignette de stationnement résidentiel"
source_url: "https://example.commune.lu/fr/vignette-stationnement.html"
language: fr
procedure: review-test-parking-permit
---

# Vignette de stationnement résidentiel

Les habitants de la commune peuvent demander une vignette de stationnement résidentiel au bureau des citoyens.

## Démarche
Présentez le certificat d'immatriculation du véhicule et une carte d'identité. La vignette coûte 15 euros par an.
"""

VERIFIED_TEXT = "The residents' parking permit costs 15 euros per year; apply at the citizens' office [1]."


@pytest.fixture
def kb(tmp_path: Path, settings: Any) -> Path:
    """Two pages of our own, ingested into an index of this test only."""
    settings.INDEX_DIR = tmp_path / "index"
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "review-parking.en.md").write_text(PERMIT_EN, encoding="utf-8")
    (folder / "review-parking.fr.md").write_text(PERMIT_FR, encoding="utf-8")
    report = ingest_folder(path=folder)
    assert report.failed == 0, report.errors
    return folder


def _staff(name: str, group: str) -> Client:
    user = User.objects.create_user(name, password="x-long-test-password", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def _approved(question: str, paraphrases: str, owner: User) -> VerifiedAnswer:
    verified = VerifiedAnswer.objects.create(question=question, paraphrases=paraphrases, owner=owner)
    verified.documents.set(Document.objects.filter(key="review-parking.en"))
    VerifiedAnswerText.objects.create(verified_answer=verified, language="en", text=VERIFIED_TEXT)
    verified.state = VerifiedAnswer.State.APPROVED
    verified.save()
    return verified


@pytest.mark.real_model
def test_thumbs_down_answer_is_queued_promoted_approved_and_served_to_another_session(kb: Path) -> None:
    citizen = Client()
    asked = citizen.post("/ask/", {"question": "How much is a residents' parking permit?", "ui_language": "en"})
    assert asked.status_code == 200
    answer = Answer.objects.latest("created_at")
    assert answer.status != Answer.Status.PENDING
    voted = citizen.post("/feedback/", {"answer": str(answer.pk), "rating": "down", "reason": "unclear"})
    assert voted.status_code == 200

    item = ReviewItem.objects.get(answer=answer)
    assert item.reason == ReviewItem.Reason.THUMBS_DOWN and item.state == ReviewItem.State.OPEN
    reviewer = _staff("rita", "Reviewer")
    queue = reviewer.get("/admin/review/reviewitem/").content.decode()
    assert "How much is a residents" in queue
    page = reviewer.get(f"/admin/review/reviewitem/{item.pk}/change/").content.decode()
    assert "review-parking.en" in page  # the retrieved chunks, with their scores
    with translation.override("fr"):  # the admin speaks the default language
        assert escape(str(Feedback.Rating.DOWN.label)) in page  # the feedback beside the answer

    # The reviewer drafts a verified answer from the item; a reviewer cannot approve it.
    created = reviewer.post(f"/admin/review/reviewitem/{item.pk}/verify/")
    assert created.status_code == 302
    verified = VerifiedAnswer.objects.get(created_from=answer)
    assert verified.state == VerifiedAnswer.State.DRAFT
    assert "review-parking.en" in set(verified.documents.values_list("key", flat=True))  # the pages it showed
    VerifiedAnswerText.objects.update_or_create(
        verified_answer=verified, language="en", defaults={"text": VERIFIED_TEXT}
    )
    verified.documents.set(Document.objects.filter(key="review-parking.en"))
    action = {"action": "approve", "_selected_action": [str(verified.pk)]}
    reviewer.post("/admin/review/verifiedanswer/", action)
    verified.refresh_from_db()
    assert verified.state == VerifiedAnswer.State.DRAFT

    editor = _staff("emil", "Editor")
    approved = editor.post("/admin/review/verifiedanswer/", action)
    assert approved.status_code == 302
    verified.refresh_from_db()
    assert verified.state == VerifiedAnswer.State.APPROVED
    assert verified.history.filter(state=VerifiedAnswer.State.APPROVED).exists()  # audited

    # Another citizen, another session, other words: the verified answer, marked as such, with its source.
    other = Client()
    response = other.post("/ask/", {"question": "What does a residents parking permit cost?", "ui_language": "en"})
    html = response.content.decode()
    assert "Verified answer: written and checked by the Guichet team." in html
    assert "15 euros per year" in html and "example.commune.lu/en/parking-permit.html" in html
    served = Answer.objects.latest("created_at")
    assert served.status == Answer.Status.VERIFIED
    assert served.metrics["verified"]["id"] == verified.pk
    assert "generation" not in served.metrics  # the model was not asked


def test_reingesting_a_changed_page_expires_its_verified_answer(kb: Path) -> None:
    from assistant.pipeline.context import AnswerContext
    from assistant.pipeline.runner import pipeline_run
    from assistant.services import answer_steps

    owner = User.objects.create_user("olga", is_staff=True)
    verified = _approved("How much does a residents' parking permit cost?", "Price of the parking vignette", owner)

    def status_of(question: str) -> str:
        ctx = pipeline_run(ctx=AnswerContext(question=question, ui_language="en"), steps=answer_steps(generate=False))
        return ctx.status

    assert status_of("What does a residents parking permit cost?") == "verified"

    page = kb / "review-parking.en.md"
    page.write_text(PERMIT_EN.replace("15 euros", "20 euros"), encoding="utf-8")
    report = ingest_folder(path=kb)
    assert report.failed == 0

    verified.refresh_from_db()
    assert verified.state == VerifiedAnswer.State.EXPIRED
    assert "changed" in verified.expired_reason
    item = ReviewItem.objects.get(verified_answer=verified, reason=ReviewItem.Reason.VERIFIED_EXPIRED)
    assert item.state == ReviewItem.State.OPEN
    owner.groups.add(Group.objects.get(name="Reviewer"))
    mine = Client()
    mine.force_login(owner)
    assert (
        f"/admin/review/reviewitem/{item.pk}/change/" in mine.get("/admin/review/reviewitem/?mine=1").content.decode()
    )
    assert status_of("What does a residents parking permit cost?") != "verified"


def test_withdrawn_page_expires_verified_answer_and_date_expiry_runs_nightly(kb: Path) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from ingestion.documents import documents_withdraw
    from review.services import verified_expire_due

    owner = User.objects.create_user("paul", is_staff=True)
    withdrawn = _approved("Where do I apply for a parking vignette?", "", owner)
    documents_withdraw(Document.objects.filter(key="review-parking.en"))
    withdrawn.refresh_from_db()
    assert withdrawn.state == VerifiedAnswer.State.EXPIRED and "withdrawn" in withdrawn.expired_reason

    Document.objects.filter(key="review-parking.en").update(status=Document.Status.PUBLISHED)
    due = _approved("Is the parking permit valid all year?", "", owner)
    VerifiedAnswer.objects.filter(pk=due.pk).update(review_date=timezone.localdate() - timedelta(days=1))
    assert verified_expire_due() == 1
    due.refresh_from_db()
    assert due.state == VerifiedAnswer.State.EXPIRED


def test_golden_case_from_the_queue_runs_in_evaluate(kb: Path, tmp_path: Path) -> None:
    citizen = Client()
    # Nothing on the guichet answers this: declined without asking the model, and queued as declined.
    citizen.post(
        "/ask/", {"question": "Which bus line goes to the residents' parking permit office?", "ui_language": "en"}
    )
    answer = Answer.objects.latest("created_at")
    item = ReviewItem.objects.filter(answer=answer).first()
    if item is None:  # the pipeline answered after all: a citizen's thumbs-down puts it in the queue
        citizen.post("/feedback/", {"answer": str(answer.pk), "rating": "down"})
        item = ReviewItem.objects.get(answer=answer)

    reviewer = _staff("gina", "Reviewer")
    document = Document.objects.get(key="review-parking.en")
    form = reviewer.get(f"/admin/review/reviewitem/{item.pk}/golden/")
    assert form.status_code == 200
    saved = reviewer.post(
        f"/admin/review/reviewitem/{item.pk}/golden/",
        {"expected_document": str(document.pk), "answer_facts": "citizens' office"},
    )
    assert saved.status_code == 302
    case = GoldenCase.objects.get(created_from=item)
    assert case.expected_document == document

    questions = tmp_path / "golden.jsonl"
    call_command("export_golden", out=questions)
    rows = [json.loads(line) for line in questions.read_text().splitlines()]
    assert rows[-1]["expected_doc"] == "review-parking.en.md" and rows[-1]["answerable"] is True

    report_path = tmp_path / "report.json"
    call_command("evaluate", docs=kb, questions=questions, out=report_path, no_generate=True)
    report = json.loads(report_path.read_text())
    result = next(q for q in report["questions"] if q["id"] == rows[-1]["id"])
    assert "review-parking.en.md" in result["retrieved_docs"]


def test_flagged_document_reaches_the_editors_list(kb: Path) -> None:
    citizen = Client()
    citizen.post(
        "/ask/", {"question": "Which bus line goes to the residents' parking permit office?", "ui_language": "en"}
    )
    answer = Answer.objects.latest("created_at")
    citizen.post("/feedback/", {"answer": str(answer.pk), "rating": "down", "reason": "outdated"})
    item = ReviewItem.objects.get(answer=answer)
    reviewer = _staff("hans", "Reviewer")
    documents = [s["document"] for s in answer.sources]
    assert documents, "a declined answer still shows the closest pages"
    document = Document.objects.get(key=documents[0])
    flagged = reviewer.post(
        f"/admin/review/reviewitem/{item.pk}/flag/",
        {"document": str(document.pk), "reason": "outdated", "note": "price changed"},
    )
    assert flagged.status_code == 302
    assert DocumentFlag.objects.filter(document=document, reason="outdated", resolved=False).exists()

    editor = _staff("erna", "Editor")
    listing = editor.get("/admin/review/documentflag/?resolved__exact=0").content.decode()
    assert escape(document.title) in listing
    handled = reviewer.post(
        f"/admin/review/reviewitem/{item.pk}/change/", {"note": "flagged the page", "mark_handled": "on"}
    )
    assert handled.status_code == 302
    item.refresh_from_db()
    assert item.state == ReviewItem.State.HANDLED and item.handled_by is not None


def test_an_unchanged_page_read_from_another_folder_records_where_it_was_read(kb: Path, tmp_path: Path) -> None:
    """An evaluation reads copies of pages the live database may hold: the copy's origin must be recorded."""
    import shutil

    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(kb / "review-parking.en.md", copy / "review-parking.en.md")
    report = ingest_folder(path=copy, rebuild=False)
    assert report.failed == 0
    assert Document.objects.get(key="review-parking.en").origin == str(copy / "review-parking.en.md")
