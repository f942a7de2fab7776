"""Review services on the real database; the matching step also with a fast stand-in embedder."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from assistant.embedder import HashingEmbedder
from assistant.models import Answer, Conversation, Feedback
from assistant.pipeline.context import AnswerContext
from ingestion.models import Document
from review.matching import best_similarity, verified_match
from review.models import GoldenCase, ReviewItem, VerifiedAnswer, VerifiedAnswerText
from review.services import answer_review_reason, golden_case_rows, verified_approve
from review.serving import ServeVerified

pytestmark = pytest.mark.django_db


def _answer(status: str, reason: str = "", **extra: object) -> Answer:
    conversation = Conversation.objects.create(session_key="s", ui_language="en")
    return Answer.objects.create(
        conversation=conversation, question="q", language="en", status=status, metrics={"reason": reason}, **extra
    )


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("declined", "below_threshold", "declined"),
        ("replaced", "no_valid_citation", "citation_failed"),
        ("replaced", "no_text", "citation_failed"),
        ("replaced", "prompt_leak", "output_guard"),
        ("replaced", "unsourced_number", "output_guard"),
        ("replaced", "wrong_language", "output_guard"),
        ("answered", "", None),
        ("rejected", "personal_data", None),
        ("routed", "greeting", None),
    ],
)
def test_which_answers_need_review(status: str, reason: str, expected: str | None) -> None:
    answer = Answer(status=status, metrics={"reason": reason})
    assert answer_review_reason(answer) == expected


def test_declined_answer_is_queued_once_and_a_thumbs_down_reopens_it() -> None:
    answer = _answer("declined", "below_threshold", sources=[{"number": 1, "procedure": "marriage"}])
    item = ReviewItem.objects.get(answer=answer)
    assert (item.reason, item.procedure, item.language) == ("declined", "marriage", "en")
    item.state = ReviewItem.State.HANDLED
    item.save()
    Feedback.objects.create(answer=answer, rating=Feedback.Rating.DOWN)
    item.refresh_from_db()
    assert (item.reason, item.state) == ("thumbs_down", "open")
    assert ReviewItem.objects.filter(answer=answer).count() == 1


def test_a_good_answer_with_thumbs_up_stays_out_of_the_queue() -> None:
    answer = _answer("answered")
    Feedback.objects.create(answer=answer, rating=Feedback.Rating.UP)
    assert not ReviewItem.objects.filter(answer=answer).exists()


def test_only_editors_hold_the_approval_permission() -> None:
    reviewer = User.objects.create_user("r")
    reviewer.groups.add(Group.objects.get(name="Reviewer"))
    editor = User.objects.create_user("e")
    editor.groups.add(Group.objects.get(name="Editor"))
    assert reviewer.has_perm("review.add_verifiedanswer") and reviewer.has_perm("review.change_reviewitem")
    assert not reviewer.has_perm("review.approve_verifiedanswer")
    assert editor.has_perm("review.approve_verifiedanswer") and editor.has_perm("review.change_documentflag")


def _document(key: str, status: str = Document.Status.PUBLISHED) -> Document:
    return Document.objects.create(
        key=key,
        procedure="proc",
        language="en",
        title=f"Title {key}",
        url=f"https://example.lu/{key}",
        origin=f"/kb/{key}.md",
        content_hash="h",
        status=status,
    )


def test_approval_needs_a_text_and_published_sources() -> None:
    verified = VerifiedAnswer.objects.create(question="How do I renew my identity card?")
    with pytest.raises(ValueError, match="answer text"):
        verified_approve(verified=verified, user=None)
    VerifiedAnswerText.objects.create(verified_answer=verified, language="en", text="At your commune [1].")
    verified.documents.set([_document("review-unit-draft-page", Document.Status.DRAFT)])
    with pytest.raises(ValueError, match="published"):
        verified_approve(verified=verified, user=None)
    verified.documents.set([_document("review-unit-id-card")])
    verified_approve(verified=verified, user=None)
    assert verified.state == VerifiedAnswer.State.APPROVED and verified.approved_at is not None


def test_golden_cases_are_written_in_the_evaluation_format() -> None:
    document = _document("review-unit-marriage.en")
    answerable = GoldenCase.objects.create(
        question="How do we marry?", language="fr", expected_document=document, answer_facts="town hall\n\nbans\n"
    )
    decline = GoldenCase.objects.create(question="Best restaurant?", language="en")
    rows = golden_case_rows([answerable, decline])
    assert rows[0]["expected_doc"] == "review-unit-marriage.en.md" and rows[0]["answer_facts"] == ["town hall", "bans"]
    assert rows[0]["cross_lingual"] is True and rows[0]["answerable"] is True
    assert rows[1]["expected_doc"] is None and rows[1]["answerable"] is False
    assert str(rows[0]["id"]).startswith("g") and str(rows[1]["id"]).startswith("go")


def test_best_similarity_picks_the_closest_phrasing() -> None:
    assert best_similarity([1.0, 0.0], [[0.0, 1.0], [0.6, 0.8], [0.9, 0.1]]) == (0.9, 2)
    assert best_similarity([1.0, 0.0], []) == (-1.0, -1)


def test_serve_verified_step_answers_matching_questions_in_their_language_only() -> None:
    embedder = HashingEmbedder()
    verified = VerifiedAnswer.objects.create(
        question="how do i renew my identity card", state=VerifiedAnswer.State.APPROVED
    )
    VerifiedAnswerText.objects.create(verified_answer=verified, language="en", text="At your commune.")
    verified.documents.set([_document("review-unit-id-card")])

    ctx = AnswerContext(question="How do I renew my identity card?", ui_language="en", language="en")
    ServeVerified(embedder=embedder)(ctx)
    assert ctx.status == "verified" and ctx.answer == "At your commune." and ctx.aborted
    assert [s.document_key for s in ctx.sources] == ["review-unit-id-card"] and ctx.citations == (1,)

    german = AnswerContext(question="How do I renew my identity card?", ui_language="de", language="de")
    ServeVerified(embedder=embedder)(german)
    assert not german.aborted  # no German text: the normal pipeline answers

    unrelated = AnswerContext(question="When is the bulky waste collected?", ui_language="en", language="en")
    ServeVerified(embedder=embedder)(unrelated)
    assert not unrelated.aborted
    assert verified_match(question="When is the bulky waste collected?", language="en", embedder=embedder) is None
