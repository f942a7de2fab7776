"""Chat views: thin; they parse input, find the session's conversation and call the answer service."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse, translate_url
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from assistant import replies
from assistant.feedback import COMMENT_MAX_CHARS, FeedbackResult, feedback_record
from assistant.limits import Refusal, client_ip, feedback_admit, pending_release, question_admit
from assistant.llm import observe_queue
from assistant.models import Answer, Conversation, Feedback
from assistant.services import answer_question, conversation_for_session
from assistant.types import StreamEvent
from portal.maintenance import unless_chat_offline
from portal.observability import metrics
from portal.presenters import Turn, conversation_turns, queue_message, session_conversation, source_cards
from portal.streaming import Emit, event_stream, sse_format

logger = logging.getLogger(__name__)

STARTERS = {
    "lb": [
        "Wéi kann ech mäi Féierschäin ëmtauschen?",
        "Wéi mellen ech mech bei der Gemeng un?",
        "Wéi deklaréieren ech d'Gebuert vun engem Kand?",
    ],
    "fr": [
        "Comment échanger mon permis de conduire étranger ?",
        "Qui a droit aux allocations familiales ?",
        "Comment déclarer la naissance d'un enfant ?",
    ],
    "de": [
        "Wie melde ich mich bei der Gemeinde an?",
        "Wie bekomme ich meine Steuerklasse?",
        "Wie tausche ich meinen ausländischen Führerschein um?",
    ],
    "en": [
        "How do I register a birth?",
        "How do I register as a jobseeker with ADEM?",
        "How do I exchange a foreign driving licence?",
    ],
}


def _session_key(request: HttpRequest) -> str:
    """The browser session's key, creating the session if needed.

    A database that refuses writes (read-only, or down) cannot store a new session: the request
    goes on with a key that is not kept (and no cookie), so the citizen still gets an answer.
    """
    if not request.session.session_key:
        try:
            request.session.save()
        except DatabaseError as exc:
            logger.warning("session could not be stored (database unavailable): %s", type(exc).__name__)
    return str(request.session.session_key or "")


def _ui_language(request: HttpRequest) -> str:
    requested = str(request.POST.get("ui_language") or translation.get_language() or "")
    codes = {code for code, _name in settings.LANGUAGES}
    return requested if requested in codes else settings.LANGUAGE_CODE


def _localised_number(value: int, language: str) -> str:
    # Django has no Luxembourgish number format; Luxembourg groups digits as German does (1.000).
    with translation.override("de" if language == "lb" else language):
        return formats.number_format(value, force_grouping=True)


def _form_context(language: str) -> dict[str, object]:
    return {
        "max_chars": settings.QUESTION_MAX_CHARS,
        "max_chars_display": _localised_number(settings.QUESTION_MAX_CHARS, language),
        "comment_max_chars": COMMENT_MAX_CHARS,
        "starters": STARTERS.get(language, STARTERS["en"]),
        "feedback_reasons": Feedback.Reason.choices,
    }


def _remembered_language_redirect(request: HttpRequest) -> HttpResponseRedirect | None:
    """``/`` is the default language's page; a citizen who chose another one is sent back to it."""
    remembered = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    codes = {code for code, _name in settings.LANGUAGES}
    prefixed = any(request.path.startswith(f"/{code}/") for code in codes)
    if prefixed or remembered not in codes or remembered == settings.LANGUAGE_CODE:
        return None
    return HttpResponseRedirect(translate_url(request.get_full_path(), remembered))


@require_GET
@never_cache  # a page with a conversation in it must not stay in a shared or back-button cache
@unless_chat_offline
def chat_page(request: HttpRequest) -> HttpResponseBase:
    redirect = _remembered_language_redirect(request)
    if redirect is not None:
        return redirect
    language = translation.get_language() or settings.LANGUAGE_CODE
    conversation = None
    if request.GET.get("conversation") and request.session.session_key:
        conversation = session_conversation(
            session_key=request.session.session_key, conversation_id=request.GET["conversation"]
        )
    return render(
        request,
        "chat/page.html",
        {
            **_form_context(language),
            "conversation_id": str(conversation.pk) if conversation else "",
            "turns": conversation_turns(conversation=conversation, language=language),
        },
    )


@require_GET
def about_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "chat/about.html",
        {"session_days": settings.SESSION_COOKIE_AGE // 86400, "retention_days": settings.CONVERSATION_RETENTION_DAYS},
    )


def _conversation(request: HttpRequest, ui_language: str) -> Conversation:
    """The session's conversation; when the database refuses writes, a new one that is not stored."""
    session_key = _session_key(request)
    try:
        with transaction.atomic():  # a savepoint: a refused write must not spoil an enclosing transaction
            return conversation_for_session(
                session_key=session_key,
                ui_language=ui_language,
                conversation_id=str(request.POST.get("conversation") or "") or None,
            )
    except DatabaseError as exc:
        logger.warning("conversation could not be stored (database unavailable): %s", type(exc).__name__)
        return Conversation(session_key=session_key, ui_language=ui_language)


def _presented(emit: Emit, language: str) -> Emit:
    """Sources go to the browser with their page language and localised last-updated date."""

    def presented(event: StreamEvent) -> None:
        if event.kind == "sources":
            raw = event.data.get("sources")
            sources = raw if isinstance(raw, list) else []
            cards = source_cards(sources=sources, language=language)
            event = StreamEvent(
                "sources", {"sources": [{**s, **c.as_json()} for s, c in zip(sources, cards, strict=True)]}
            )
        emit(event)

    return presented


_REFUSAL_STATUS = {"rate_limited": 429, "pending": 409, "busy": 503}
_REFUSAL_MESSAGE = {"rate_limited": replies.RATE_LIMITED, "pending": replies.ANSWER_PENDING, "busy": replies.BUSY}


def _refused(request: HttpRequest, refusal: Refusal, *, ui_language: str, streaming: bool) -> HttpResponse:
    """The question is not taken: an ``error`` event for the chat script, a page without JavaScript."""
    metrics.refusal_record(refusal.reason)
    with translation.override(ui_language):
        message = str(_REFUSAL_MESSAGE[refusal.reason])
        status = _REFUSAL_STATUS[refusal.reason]
        if streaming:
            event = StreamEvent("error", {"message": message, "reason": refusal.reason})
            response = HttpResponse(sse_format(event), content_type="text/event-stream", status=status)
        else:
            response = render(request, "429.html", {"message": message}, status=status)
    if refusal.retry_after_s:
        response["Retry-After"] = str(refusal.retry_after_s)
    return response


# How long a citizen is told to wait when the database cannot serve the page.
UNAVAILABLE_RETRY_AFTER_S = 60


def _unavailable(request: HttpRequest, *, ui_language: str) -> HttpResponse:
    """The database failed in a way the answer could not survive: a clear, translated 503, never a 500."""
    with translation.override(ui_language):
        response = render(request, "errors/unavailable.html", status=503)
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_S)
    return response


@require_POST
@never_cache
@unless_chat_offline
def ask(request: HttpRequest) -> HttpResponseBase:
    """Stream an answer as server-sent events, or render it as a page when JavaScript is off."""
    ui_language = _ui_language(request)
    question = str(request.POST.get("question", ""))
    streaming = "text/event-stream" in request.headers.get("Accept", "")
    try:
        conversation = _conversation(request, ui_language)
    except DatabaseError as exc:  # not even readable: nothing to answer with
        logger.error("conversation unavailable (database): %s", type(exc).__name__)
        return _unavailable(request, ui_language=ui_language)
    refusal = question_admit(
        session_key=_session_key(request), ip=client_ip(meta=request.META), conversation_id=str(conversation.pk)
    )
    if refusal is not None:
        return _refused(request, refusal, ui_language=ui_language, streaming=streaming)

    if streaming:

        def work(emit: Emit, cancelled: Callable[[], bool]) -> None:
            def queued(ahead: int) -> None:
                emit(
                    StreamEvent("queue", {"ahead": ahead, "message": queue_message(ahead=ahead, language=ui_language)})
                )

            try:
                with observe_queue(queued):
                    answer_question(
                        conversation=conversation,
                        question=question,
                        ui_language=ui_language,
                        emit=_presented(emit, ui_language),
                        cancelled=cancelled,
                    )
            finally:
                pending_release(conversation_id=str(conversation.pk))

        stream = StreamingHttpResponse(event_stream(work, language=ui_language), content_type="text/event-stream")
        stream["X-Accel-Buffering"] = "no"
        return stream

    events: list[StreamEvent] = []
    try:
        answer = answer_question(
            conversation=conversation, question=question, ui_language=ui_language, emit=events.append
        )
        stored = answer.pk is not None
        # This answer as it is in memory: the database may have refused to store it, or its last update.
        current = _answer_turn(answer, language=ui_language)
        turns = tuple(
            t for t in conversation_turns(conversation=conversation, language=ui_language) if t.answer_id != answer.pk
        )
        turns = (*turns, current)
    except DatabaseError as exc:
        logger.error("answer page unavailable (database): %s", type(exc).__name__)
        return _unavailable(request, ui_language=ui_language)
    finally:
        pending_release(conversation_id=str(conversation.pk))
    with translation.override(ui_language):
        response = render(
            request,
            "chat/answer.html",
            {
                **_form_context(ui_language),
                "answer_id": answer.pk,
                # Not stored: a follow-up starts a new conversation rather than point at a missing one.
                "conversation_id": str(conversation.pk) if stored else "",
                "not_stored": not stored,
                "turns": turns,
            },
        )
    return response


def _answer_turn(answer: Answer, *, language: str) -> Turn:
    """The answer just given, as the page shows it; one the database did not keep has no feedback form."""
    return Turn.of(answer, language=language)  # just answered: not rated yet


def _feedback_message(result: FeedbackResult) -> str:
    if result.outcome == "saved":
        return _("Thank you for your feedback.")
    if result.outcome == "pii":
        return _(
            "Your comment seems to contain personal data (such as an e-mail address, a phone number, "
            "an IBAN or a national identification number). Please remove it and send again."
        )
    if result.outcome == "not_found":
        return _("This answer is no longer available for feedback.")
    return _("Please choose whether the answer helped, and keep your comment short.")


def _feedback_refused(
    request: HttpRequest, *, message: str, outcome: str, status: int, retry_after_s: int
) -> HttpResponse:
    response: HttpResponse
    if "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"ok": False, "outcome": outcome, "message": message}, status=status)
    else:
        response = render(request, "429.html", {"message": message}, status=status)
    if retry_after_s:
        response["Retry-After"] = str(retry_after_s)
    return response


@require_POST
@never_cache
@unless_chat_offline
def feedback(request: HttpRequest) -> HttpResponseBase:
    """Thumbs up or down on one answer; JSON for the chat script, a page without JavaScript."""
    ui_language = _ui_language(request)
    comment = str(request.POST.get("comment", ""))
    session_key = _session_key(request)
    refusal = feedback_admit(session_key=session_key, ip=client_ip(meta=request.META))
    if refusal is not None:
        with translation.override(ui_language):
            message = _("You have sent a lot of feedback in a short time. Please wait a few minutes and try again.")
            return _feedback_refused(
                request, message=message, outcome="rate_limited", status=429, retry_after_s=refusal.retry_after_s
            )
    try:
        result = feedback_record(
            session_key=session_key,
            answer_id=str(request.POST.get("answer", "")),
            rating=str(request.POST.get("rating", "")),
            reason=str(request.POST.get("reason", "")),
            comment=comment,
        )
    except DatabaseError as exc:  # read-only or unavailable database: say so, never a 500
        logger.error("feedback could not be stored (database unavailable): %s", type(exc).__name__)
        with translation.override(ui_language):
            message = _("Your feedback could not be saved right now. Please try again later.")
            return _feedback_refused(
                request, message=message, outcome="unavailable", status=503, retry_after_s=UNAVAILABLE_RETRY_AFTER_S
            )
    status = {"saved": 200, "pii": 400, "invalid": 400, "not_found": 404}[result.outcome]
    with translation.override(ui_language):
        message = _feedback_message(result)
        if "application/json" in request.headers.get("Accept", ""):
            return JsonResponse({"ok": result.saved, "outcome": result.outcome, "message": message}, status=status)
        conversation_id = str(request.POST.get("conversation", ""))
        back = reverse("chat") + (f"?conversation={conversation_id}" if conversation_id else "")
        return render(
            request,
            "chat/feedback.html",
            {
                "result": result,
                "message": message,
                "back_url": back,
                "answer_id": str(request.POST.get("answer", "")),
                "conversation_id": conversation_id,
                "comment": comment if result.outcome == "pii" else "",
                "reason": str(request.POST.get("reason", "")),
                "feedback_reasons": Feedback.Reason.choices,
                "comment_max_chars": COMMENT_MAX_CHARS,
            },
            status=status,
        )


# --- export of one's own conversation -------------------------------------------------------------


def _export_sources(answer: Answer) -> list[dict[str, object]]:
    """What the citizen saw of each source (never scores or internal keys)."""
    keep = ("number", "title", "section", "url", "language")
    return [{k: s.get(k, "") for k in keep} for s in answer.sources if isinstance(s, dict)]


def _export_time(value: object) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""  # type: ignore[arg-type]


def _export_text(conversation: Conversation, answers: list[Answer]) -> str:
    """The conversation as plain text, labels in the interface language."""
    lines = [
        _("Guichet Assistant: your conversation"),
        _("Started: %(when)s") % {"when": _export_time(conversation.created_at)},
        _("Downloaded: %(when)s") % {"when": _export_time(timezone.now())},
        _(
            "Answers are written by an artificial intelligence from official guichet.public.lu pages. "
            "It can make mistakes: check the linked sources, or ask a person at the helpdesk."
        ),
        "",
    ]
    for number, answer in enumerate(answers, start=1):
        lines += [
            "=" * 60,
            _("Question %(number)s (%(when)s)") % {"number": number, "when": _export_time(answer.created_at)},
            answer.question,
            "",
            _("Answer"),
            answer.text.strip() or _("(no answer)"),
        ]
        sources = _export_sources(answer)
        if sources:
            lines += ["", _("Sources")]
            lines += [f"[{s['number']}] {s['title']}: {s['url']}" for s in sources]
        lines.append("")
    return "\n".join(str(line) for line in lines) + "\n"


def _export_json(conversation: Conversation, answers: list[Answer]) -> str:
    data = {
        "conversation": str(conversation.pk),
        "interface_language": conversation.ui_language,
        "started_at": conversation.created_at.isoformat(),
        "exported_at": timezone.now().isoformat(),
        "turns": [
            {
                "asked_at": a.created_at.isoformat(),
                "question": a.question,
                "answer": a.text,
                "answer_language": a.language,
                "status": a.status,
                "sources": _export_sources(a),
            }
            for a in answers
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


@require_GET
@never_cache  # no shared or back-button cache may keep a conversation
@unless_chat_offline
def conversation_export(request: HttpRequest) -> HttpResponseBase:
    """Download this session's own conversation as text (default) or JSON; any other id is a 404."""
    conversation = None
    if request.session.session_key:
        conversation = session_conversation(
            session_key=request.session.session_key, conversation_id=str(request.GET.get("conversation", ""))
        )
    if conversation is None:
        raise Http404("no such conversation in this session")
    answers = list(conversation.answers.order_by("created_at"))
    as_json = request.GET.get("format") == "json"
    body = _export_json(conversation, answers) if as_json else _export_text(conversation, answers)
    day = timezone.localtime(conversation.created_at).strftime("%Y-%m-%d")
    filename = f"guichet-assistant-{day}.{'json' if as_json else 'txt'}"
    content_type = "application/json" if as_json else "text/plain"
    return HttpResponse(
        body,
        content_type=f"{content_type}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
