"""Answer services: run the pipeline for a question and store the result."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence

from django.conf import settings
from django.db import DatabaseError, transaction

from assistant.embedder import Embedder
from assistant.llm import LLM, get_llm
from assistant.models import Answer, Conversation
from assistant.pii import pii_redact
from assistant.pipeline.context import AnswerContext
from assistant.pipeline.runner import pipeline_run
from assistant.pipeline.steps import (
    CheckInput,
    CheckOutput,
    Compose,
    DetectLanguage,
    GuardInjection,
    Rephrase,
    Retrieve,
    Route,
    SecondLook,
    Step,
)
from assistant.retrieval import retrieval_config
from assistant.types import StreamEvent
from assistant.vector_index import EdgeIndex

logger = logging.getLogger(__name__)


def answer_steps(
    *,
    llm: LLM | None = None,
    index: EdgeIndex | None = None,
    embedder: Embedder | None = None,
    generate: bool = True,
    verified: bool = True,
) -> Sequence[Step]:
    """The chat's pipeline; ``generate=False`` stops after retrieval (for retrieval-only evaluation).

    ``verified`` serves approved verified answers before retrieval (off for evaluations, which must
    measure retrieval and the model on their own isolated documents).
    """
    from review.serving import ServeVerified  # the review app builds on this one

    config = retrieval_config()
    steps: list[Step] = [CheckInput(), DetectLanguage(), GuardInjection(), Route()]
    if verified:
        steps.append(ServeVerified(embedder=embedder))
    if config.rephrase != "never":
        only_followups = config.rephrase == "followups"
        steps.append(Rephrase(llm=llm or get_llm(), only_followups=only_followups, for_fallback_languages=generate))
    steps.append(Retrieve(index=index, embedder=embedder, config=config))
    if generate:
        compose = Compose(llm=llm or get_llm(), context_chars=config.context_chars)
        steps += [compose, SecondLook(compose=compose, sources=settings.ANSWER_SECOND_LOOK_SOURCES), CheckOutput()]
    return tuple(steps)


def conversation_for_session(*, session_key: str, ui_language: str, conversation_id: str | None) -> Conversation:
    """The session's own conversation (never another session's), or a new one.

    Another session's id, or one that is not a UUID at all, gives a new conversation: it neither
    attaches to nor reveals the other one.
    """
    if conversation_id and _is_uuid(conversation_id):
        found = Conversation.objects.filter(id=conversation_id, session_key=session_key).first()
        if found:
            return found
    return Conversation.objects.create(session_key=session_key, ui_language=ui_language)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _answer_store(answer: Answer) -> None:
    """Save the answer; a database that is down or read-only must not cost the citizen the answer.

    Logged with the exception's class only: a driver's message may quote the values (the question).
    """
    try:
        with transaction.atomic():  # a savepoint, so an enclosing transaction survives the failure
            answer.save()
    except DatabaseError as exc:
        logger.error("answer %s could not be stored (database unavailable): %s", answer.pk, type(exc).__name__)


def answer_question(
    *,
    conversation: Conversation,
    question: str,
    ui_language: str,
    emit: Callable[[StreamEvent], None],
    cancelled: Callable[[], bool] = lambda: False,
    steps: Sequence[Step] | None = None,
) -> Answer:
    """Answer one question, streaming events to ``emit``; the stored Answer keeps every outcome.

    The question is stored before any work starts, so a crash mid-answer still leaves a record
    (when the database cannot store it, the citizen still gets the answer: see ``_answer_store``);
    it is stored redacted (personal data replaced by placeholders), so no raw value ever reaches the DB.
    """
    history = tuple(
        (a.question, a.text)
        for a in reversed(conversation.answers.filter(status=Answer.Status.ANSWERED).order_by("-created_at")[:2])
    )
    # Redact a little more than is kept, so that cutting never leaves part of a value behind.
    stored_question = pii_redact(question[:4100]).text[:4000]
    answer = Answer(conversation=conversation, question=stored_question)
    _answer_store(answer)
    ctx = AnswerContext(
        question=question,
        ui_language=ui_language,
        emit=emit,
        cancelled=cancelled,
        history=history,
        deadline=time.monotonic() + settings.ANSWER_TIMEOUT_S,
    )
    try:
        pipeline_run(ctx=ctx, steps=steps if steps is not None else answer_steps())
    except Exception:
        logger.exception("answer pipeline failed for answer %s", answer.pk)
        ctx.status, ctx.reason = "failed", "internal_error"
        raise
    finally:
        shown_language = ctx.shown_language()
        answer.language = ctx.language
        answer.text = ctx.answer
        answer.raw_output = ctx.raw_output
        answer.status = ctx.status
        answer.sources = [{**s.public(), "score": round(s.score, 4)} for s in ctx.sources]
        answer.citations = list(ctx.citations)
        answer.metrics = {**ctx.metrics, "reason": ctx.reason, "answer_language": shown_language}
        _answer_store(answer)
    emit(
        StreamEvent(
            "done",
            {
                "answer_id": answer.pk,
                "conversation": str(conversation.pk),
                "status": ctx.status,
                "language": ctx.language,
                "answer_language": shown_language,
                "answer": ctx.answer,
                "citations": list(ctx.citations),
            },
        )
    )
    return answer
