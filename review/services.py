"""Review services: what reviewers and editors do with answers, verified answers, flags and golden cases."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from assistant.grounding import CITATION
from assistant.models import Answer, Feedback
from ingestion.models import Document
from review.models import DocumentFlag, GoldenCase, ReviewItem, VerifiedAnswer, VerifiedAnswerText

logger = logging.getLogger(__name__)

# Why an answer needs a reviewer's eyes, from what the pipeline stored (status, reason).
_CITATION_REASONS = {"no_valid_citation", "no_text"}
_GUARD_REASONS = {"prompt_leak", "unsourced_number", "wrong_language"}


def answer_review_reason(answer: Answer, *, thumbs_down: bool = False) -> str | None:
    """The queue reason for an answer, or None when it needs no review."""
    if thumbs_down:
        return ReviewItem.Reason.THUMBS_DOWN
    reason = str((answer.metrics or {}).get("reason", ""))
    if answer.status == Answer.Status.REPLACED:
        return ReviewItem.Reason.OUTPUT_GUARD if reason in _GUARD_REASONS else ReviewItem.Reason.CITATION_FAILED
    if answer.status == Answer.Status.DECLINED:
        return ReviewItem.Reason.DECLINED
    return None


def _procedure_of(answer: Answer) -> str:
    sources = answer.sources or []
    cited = [s for s in sources if isinstance(s, dict) and s.get("number") in set(answer.citations or [])]
    for source in [*cited, *sources]:
        if isinstance(source, dict) and source.get("procedure"):
            return str(source["procedure"])[:120]
    return ""


def review_item_sync(answer: Answer, *, thumbs_down: bool = False) -> ReviewItem | None:
    """Put the answer in the queue when it needs review; a thumbs-down reopens a handled item."""
    reason = answer_review_reason(answer, thumbs_down=thumbs_down)
    if reason is None:
        return None
    item = ReviewItem.objects.filter(answer=answer).first()
    if item is None:
        return ReviewItem.objects.create(
            answer=answer,
            reason=reason,
            language=answer.language,
            procedure=_procedure_of(answer),
            created_at=answer.created_at or timezone.now(),
        )
    if thumbs_down and (item.reason != reason or item.state != ReviewItem.State.OPEN):
        item.reason, item.state = reason, ReviewItem.State.OPEN
        item.save(update_fields=["reason", "state"])
    return item


def feedback_review_sync(feedback: Feedback) -> ReviewItem | None:
    return review_item_sync(feedback.answer, thumbs_down=feedback.rating == Feedback.Rating.DOWN)


def item_handle(*, item: ReviewItem, note: str, user: object) -> None:
    item.state, item.note = ReviewItem.State.HANDLED, note.strip()
    item.handled_by, item.handled_at = user, timezone.now()  # type: ignore[assignment]
    item.save()


def answer_documents(answer: Answer) -> list[Document]:
    """The documents an answer showed, cited ones first (what a flag or a verified answer can rest on)."""
    sources = [s for s in answer.sources or [] if isinstance(s, dict)]
    cited = set(answer.citations or [])
    keys = [str(s.get("document")) for s in sorted(sources, key=lambda s: s.get("number") not in cited)]
    found = {d.key: d for d in Document.objects.filter(key__in=keys)}
    return [found[key] for key in dict.fromkeys(keys) if key in found]


def document_flag(*, item: ReviewItem | None, document: Document, reason: str, note: str, user: object) -> DocumentFlag:
    return DocumentFlag.objects.create(
        document=document,
        reason=reason,
        note=note.strip(),
        review_item=item,
        flagged_by=user,  # type: ignore[misc]
    )


def golden_case_from_item(
    *, item: ReviewItem, expected_document: Document | None, answer_facts: str, user: object
) -> GoldenCase:
    if item.answer is None:
        raise ValueError("only an answer's item can become a golden case")
    return GoldenCase.objects.create(
        question=item.answer.question,
        language=item.answer.language or item.language or "fr",
        expected_document=expected_document,
        answer_facts=answer_facts.strip(),
        created_from=item,
        created_by=user,  # type: ignore[misc]
    )


def _document_file_name(document: Document) -> str:
    """How `manage.py evaluate` names a document: the file it was read from, else its key."""
    origin = document.origin or ""
    if origin and "://" not in origin:
        return Path(origin).name
    return document.key


def golden_case_rows(cases: Iterable[GoldenCase]) -> list[dict[str, object]]:
    """Golden cases in the evaluation set's questions.jsonl format (see `manage.py evaluate`)."""
    rows: list[dict[str, object]] = []
    for case in cases:
        document = case.expected_document
        rows.append(
            {
                "id": f"{'g' if document else 'go'}{case.pk}",
                "question": case.question,
                "language": case.language,
                "expected_doc": _document_file_name(document) if document else None,
                "also_acceptable_docs": [],
                "answer_facts": [line.strip() for line in case.answer_facts.splitlines() if line.strip()],
                "doc_language": document.language if document else None,
                "cross_lingual": bool(document and document.language != case.language),
                "type": "golden" if document else "not_in_corpus",
                "answerable": document is not None,
            }
        )
    return rows


def verified_from_item(*, item: ReviewItem, user: object) -> VerifiedAnswer:
    """A draft verified answer from a queue item: the question, the answer text as a starting point."""
    answer = item.answer
    if answer is None:
        raise ValueError("only an answer's item can become a verified answer")
    with transaction.atomic():
        verified = VerifiedAnswer.objects.create(question=answer.question, owner=user, created_from=answer)  # type: ignore[misc]
        verified.documents.set(answer_documents(answer))
        if answer.text and answer.status == Answer.Status.ANSWERED:
            text = CITATION.sub("", answer.text).strip()
            VerifiedAnswerText.objects.create(verified_answer=verified, language=answer.language or "fr", text=text)
    return verified


def verified_approve(*, verified: VerifiedAnswer, user: object) -> None:
    """Only an editor approves (the admin checks the permission); it needs a text and a source."""
    if not verified.texts.exists() or not verified.documents.exists():
        raise ValueError("a verified answer needs at least one answer text and one source document")
    if verified.documents.exclude(status=Document.Status.PUBLISHED).exists():
        raise ValueError("every source document of a verified answer must be published")
    verified.state, verified.expired_reason = VerifiedAnswer.State.APPROVED, ""
    verified.approved_by, verified.approved_at = user, timezone.now()  # type: ignore[assignment]
    if verified.review_date <= timezone.localdate():
        verified.review_date = VerifiedAnswer._meta.get_field("review_date").get_default()
    verified.save()


def _expire(verified: VerifiedAnswer, why: str) -> None:
    verified.state, verified.expired_reason = VerifiedAnswer.State.EXPIRED, why[:200]
    verified.save()
    # Its owner finds it in the review queue (one open item per verified answer).
    ReviewItem.objects.get_or_create(
        verified_answer=verified,
        reason=ReviewItem.Reason.VERIFIED_EXPIRED,
        state=ReviewItem.State.OPEN,
        defaults={"language": "", "procedure": ""},
    )


def verified_expire_for_documents(*, document_ids: list[int], change: str) -> int:
    """A source page changed, was withdrawn or unpublished: answers resting on it stop being served."""
    affected = VerifiedAnswer.objects.filter(documents__in=document_ids).exclude(state=VerifiedAnswer.State.EXPIRED)
    expired = 0
    for verified in affected.distinct():
        titles = ", ".join(d.title for d in verified.documents.filter(pk__in=document_ids))
        _expire(verified, f"{change}: {titles}")
        expired += 1
    if expired:
        logger.info("%s verified answer(s) expired (source documents %s)", expired, change)
    return expired


def verified_expire_due(*, today: date | None = None) -> int:
    """Approved answers past their review date expire (the nightly task)."""
    today = today or timezone.localdate()
    due = VerifiedAnswer.objects.filter(state=VerifiedAnswer.State.APPROVED, review_date__lt=today)
    count = 0
    for verified in due:
        _expire(verified, "review date passed")
        count += 1
    return count
