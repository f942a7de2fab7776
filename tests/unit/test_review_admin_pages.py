"""The review admin pages render for reviewers and editors (data created directly, no model needed)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from assistant.models import Answer, Conversation, Feedback
from ingestion.models import Document
from review.models import ReviewItem, VerifiedAnswer

pytestmark = pytest.mark.django_db


def _client(group: str) -> Client:
    user = User.objects.create_user(f"u-{group}", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def _declined_with_feedback() -> Answer:
    Document.objects.create(
        key="review-unit-marriage.en",
        procedure="marriage",
        language="en",
        title="Getting married",
        url="https://x.lu/m",
        origin="/kb/review-unit-marriage.en.md",
        content_hash="h",
    )
    conversation = Conversation.objects.create(session_key="s", ui_language="en")
    answer = Answer.objects.create(
        conversation=conversation,
        question="Where do we publish the banns?",
        language="en",
        status="replaced",
        text="Sorry, I could not write a reliable answer.",
        raw_output="They are published <b>somewhere</b>.",
        sources=[
            {
                "number": 1,
                "document": "review-unit-marriage.en",
                "procedure": "marriage",
                "title": "Getting married",
                "language": "en",
                "section": "",
                "url": "https://x.lu/m",
                "score": 0.71,
            }
        ],
        metrics={
            "reason": "no_valid_citation",
            "retrieval": {
                "kept": 1,
                "chunks": [
                    {
                        "document": "review-unit-marriage.en",
                        "section": "Banns",
                        "rank": 1,
                        "score": 0.03,
                        "dense": 0.61,
                        "kept": True,
                    }
                ],
            },
        },
    )
    Feedback.objects.create(answer=answer, rating="down", reason="wrong", comment="not the right office")
    return answer


def test_queue_and_item_pages_show_what_a_reviewer_needs() -> None:
    answer = _declined_with_feedback()
    item = ReviewItem.objects.get(answer=answer)
    reviewer = _client("Reviewer")
    listing = reviewer.get("/admin/review/reviewitem/?reason__exact=thumbs_down&language__exact=en")
    assert listing.status_code == 200 and "Where do we publish the banns?" in listing.content.decode()
    page = reviewer.get(f"/admin/review/reviewitem/{item.pk}/change/").content.decode()
    for expected in ("Getting married", "0.61", "Banns", "not the right office", "no_valid_citation"):
        assert expected in page, expected
    assert "&lt;b&gt;somewhere&lt;/b&gt;" in page  # the raw output is shown as text, never as HTML
    assert f"/admin/review/reviewitem/{item.pk}/verify/" in page
    assert reviewer.get(f"/admin/review/reviewitem/{item.pk}/flag/").status_code == 200
    assert reviewer.get(f"/admin/review/reviewitem/{item.pk}/golden/").status_code == 200


def test_reviewer_drafts_but_cannot_approve_editor_approves() -> None:
    answer = _declined_with_feedback()
    item = ReviewItem.objects.get(answer=answer)
    reviewer = _client("Reviewer")
    assert reviewer.post(f"/admin/review/reviewitem/{item.pk}/verify/").status_code == 302
    verified = VerifiedAnswer.objects.get(created_from=answer)
    assert verified.documents.filter(key="review-unit-marriage.en").exists()
    assert not verified.texts.exists()  # a replaced answer's text is no starting point
    page = reviewer.get("/admin/review/verifiedanswer/").content.decode()
    assert 'value="approve"' not in page  # the action is not offered
    editor = _client("Editor")
    assert 'value="approve"' in editor.get("/admin/review/verifiedanswer/").content.decode()
    assert editor.get(f"/admin/review/verifiedanswer/{verified.pk}/change/").status_code == 200
    assert editor.get("/admin/review/documentflag/").status_code == 200
    assert editor.get("/admin/review/goldencase/").status_code == 200


def test_citizens_cannot_reach_the_review_admin() -> None:
    assert Client().get("/admin/review/reviewitem/").status_code == 302  # to the login page
