"""Chat views: thin; they parse input, find the session's conversation and call the answer service."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_GET, require_POST

from assistant.models import Conversation
from assistant.services import answer_question, conversation_for_session
from assistant.types import StreamEvent
from portal.streaming import Emit, event_stream

STARTERS = {
    "lb": ["Wéi kann ech mäi Féierschäin ëmtauschen?", "Wéi mellen ech mech bei der Gemeng un?"],
    "fr": ["Comment échanger mon permis de conduire étranger ?", "Qui a droit aux allocations familiales ?"],
    "de": ["Wie melde ich mich bei der Gemeinde an?", "Wie bekomme ich meine Steuerklasse?"],
    "en": ["How do I register a birth?", "How do I register as a jobseeker with ADEM?"],
}


def _session_key(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session.save()
    return str(request.session.session_key)


def _ui_language(request: HttpRequest) -> str:
    requested = str(request.POST.get("ui_language") or translation.get_language() or "")
    codes = {code for code, _ in settings.LANGUAGES}
    return requested if requested in codes else settings.LANGUAGE_CODE


@require_GET
def chat_page(request: HttpRequest) -> HttpResponse:
    language = translation.get_language() or settings.LANGUAGE_CODE
    return render(
        request,
        "chat/page.html",
        {
            "starters": STARTERS.get(language, STARTERS["en"]),
            "max_chars": settings.QUESTION_MAX_CHARS,
            "conversation_id": request.GET.get("conversation", ""),
        },
    )


@require_GET
def about_page(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/about.html")


def _conversation(request: HttpRequest, ui_language: str) -> Conversation:
    return conversation_for_session(
        session_key=_session_key(request),
        ui_language=ui_language,
        conversation_id=str(request.POST.get("conversation") or "") or None,
    )


@require_POST
def ask(request: HttpRequest) -> HttpResponseBase:
    """Stream an answer as server-sent events, or render it as a page when JavaScript is off."""
    ui_language = _ui_language(request)
    question = str(request.POST.get("question", ""))
    conversation = _conversation(request, ui_language)

    if "text/event-stream" in request.headers.get("Accept", ""):

        def work(emit: Emit, cancelled: Callable[[], bool]) -> None:
            answer_question(
                conversation=conversation,
                question=question,
                ui_language=ui_language,
                emit=emit,
                cancelled=cancelled,
            )

        stream = StreamingHttpResponse(event_stream(work, language=ui_language), content_type="text/event-stream")
        stream["Cache-Control"] = "no-store"
        stream["X-Accel-Buffering"] = "no"
        return stream

    events: list[StreamEvent] = []
    answer = answer_question(conversation=conversation, question=question, ui_language=ui_language, emit=events.append)
    with translation.override(ui_language):
        response = render(
            request,
            "chat/answer.html",
            {
                "answer": answer,
                "conversation_id": str(conversation.pk),
                "max_chars": settings.QUESTION_MAX_CHARS,
            },
        )
    response["Cache-Control"] = "no-store"
    return response
