"""Citizens' feedback on answers: one verdict per answer, stored with it for reviewers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assistant.models import Answer, Feedback
from assistant.pii import pii_find

COMMENT_MAX_CHARS = 1000

FeedbackOutcome = Literal["saved", "pii", "invalid", "not_found"]


@dataclass(frozen=True)
class FeedbackResult:
    outcome: FeedbackOutcome
    answer_id: int | None = None
    rating: str = ""
    pii_kinds: tuple[str, ...] = ()

    @property
    def saved(self) -> bool:
        return self.outcome == "saved"


def feedback_record(
    *, session_key: str, answer_id: str, rating: str, reason: str = "", comment: str = ""
) -> FeedbackResult:
    """Record (or change) the verdict on an answer of this session's conversations.

    A comment with personal data is refused and never stored: the citizen is asked to remove it.
    A thumbs up keeps neither reason nor comment, so a changed mind leaves no stale complaint.
    """
    if rating not in Feedback.Rating.values or not answer_id.isdigit():
        return FeedbackResult("invalid")
    if reason and reason not in Feedback.Reason.values:
        return FeedbackResult("invalid")
    comment = comment.strip()
    if len(comment) > COMMENT_MAX_CHARS:
        return FeedbackResult("invalid")
    answer = Answer.objects.filter(pk=int(answer_id), conversation__session_key=session_key).first()
    if answer is None:
        return FeedbackResult("not_found")
    if rating == Feedback.Rating.UP:
        reason, comment = "", ""
    found = pii_find(comment)
    if found:
        return FeedbackResult("pii", answer_id=answer.pk, rating=rating, pii_kinds=tuple(m.kind for m in found))
    Feedback.objects.update_or_create(answer=answer, defaults={"rating": rating, "reason": reason, "comment": comment})
    return FeedbackResult("saved", answer_id=answer.pk, rating=rating)
