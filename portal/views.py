"""Chat views: thin; they parse input, find the session's conversation and call the answer service."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse, translate_url
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from assistant import replies
from assistant.feedback import COMMENT_MAX_CHARS, FeedbackResult, feedback_record
from assistant.limits import Refusal, client_ip, pending_release, question_admit
from assistant.llm import observe_queue
from assistant.models import Conversation, Feedback
from assistant.services import answer_question, conversation_for_session
from assistant.types import StreamEvent
from portal.presenters import conversation_turns, queue_message, session_conversation, source_cards
from portal.streaming import Emit, event_stream, sse_format

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
    if not request.session.session_key:
        request.session.save()
    return str(request.session.session_key)


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
def chat_page(request: HttpRequest) -> HttpResponse:
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
    return conversation_for_session(
        session_key=_session_key(request),
        ui_language=ui_language,
        conversation_id=str(request.POST.get("conversation") or "") or None,
    )


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


@require_POST
@never_cache
def ask(request: HttpRequest) -> HttpResponseBase:
    """Stream an answer as server-sent events, or render it as a page when JavaScript is off."""
    ui_language = _ui_language(request)
    question = str(request.POST.get("question", ""))
    streaming = "text/event-stream" in request.headers.get("Accept", "")
    conversation = _conversation(request, ui_language)
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
    finally:
        pending_release(conversation_id=str(conversation.pk))
    with translation.override(ui_language):
        response = render(
            request,
            "chat/answer.html",
            {
                **_form_context(ui_language),
                "answer_id": answer.pk,
                "conversation_id": str(conversation.pk),
                "turns": conversation_turns(conversation=conversation, language=ui_language),
            },
        )
    return response


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


@require_POST
@never_cache
def feedback(request: HttpRequest) -> HttpResponseBase:
    """Thumbs up or down on one answer; JSON for the chat script, a page without JavaScript."""
    ui_language = _ui_language(request)
    comment = str(request.POST.get("comment", ""))
    result = feedback_record(
        session_key=_session_key(request),
        answer_id=str(request.POST.get("answer", "")),
        rating=str(request.POST.get("rating", "")),
        reason=str(request.POST.get("reason", "")),
        comment=comment,
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
