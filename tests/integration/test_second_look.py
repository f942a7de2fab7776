"""The second look on the real llama.cpp model: after a decline, the best source is read alone.

The first pass is scripted to decline (the real model's declines depend on the question and cannot be
forced); the second look is the real model reading the real answer prompt with only source [1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings

from assistant.llm import ChatMessage, ScriptedLLM, get_llm
from assistant.pipeline.context import AnswerContext
from assistant.pipeline.runner import pipeline_run
from assistant.pipeline.steps import CheckOutput, Compose, SecondLook
from assistant.types import Source, StreamEvent

pytestmark = pytest.mark.skipif(not settings.LLM_MODEL_PATH.is_file(), reason="run `make model` first")


def _source(number: int, title: str, text: str) -> Source:
    return Source(number, f"page-{number}.en", f"procedure-{number}", "en", title, f"{title} > Details",
                  f"https://guichet.public.lu/en/page-{number}.html", text, 0.5)  # fmt: skip


SOURCES = (
    _source(1, "Declaring your arrival",
            "A new resident must declare their arrival at the commune of residence within 8 days of moving in. "
            "Bring a valid identity document."),
    _source(2, "Parking permits", "Residents can ask their commune for a parking permit for their street."),
    _source(3, "Waste collection", "Household waste is collected once a week; glass goes to the bottle banks."),
)  # fmt: skip


class _Recording:
    """The real model, with the messages it was sent kept for the assertions."""

    def __init__(self) -> None:
        self.name = "recording"
        self.calls: list[list[ChatMessage]] = []

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float):  # type: ignore[no-untyped-def]
        self.calls.append(messages)
        yield from get_llm().stream(messages, max_tokens=max_tokens, temperature=temperature)


def test_after_a_decline_the_real_model_reads_the_best_source_alone() -> None:
    """What the product guarantees whatever the small model writes: one prompt with source [1] only,
    no marker on screen, and either a checked answer with the deadline or the decline."""
    real = _Recording()
    events: list[StreamEvent] = []
    ctx = AnswerContext(question="How long do I have to declare my arrival at the commune?",
                        ui_language="en", language="en", sources=SOURCES, emit=events.append)  # fmt: skip
    steps = (Compose(llm=ScriptedLLM("NO_ANSWER")), SecondLook(compose=Compose(llm=real)), CheckOutput())
    pipeline_run(ctx=ctx, steps=steps, observe=False)
    assert len(real.calls) == 1
    user = real.calls[0][1].content
    assert "within 8 days" in user and "Parking permits" not in user and "Waste" not in user
    assert ctx.metrics["second_look"]["first_output"] == "NO_ANSWER"
    assert "NO_ANSWER" not in "".join(str(e.data["text"]) for e in events if e.kind == "token")
    if ctx.status == "answered":  # a checked answer from the page the model read
        assert ctx.citations == (1,) and "8" in ctx.answer, ctx.answer
    else:  # anything unusable (the small model often writes "[8] [1]") leaves the decline
        assert (ctx.status, ctx.reason) == ("declined", "model_found_no_answer"), (ctx.status, ctx.raw_output)
        assert ctx.metrics["second_look"].get("unusable") or ctx.raw_output.startswith("NO_ANSWER")


class _DeclinesThenAnswers:
    """A scripted model for the web path: NO_ANSWER first, then an answer citing [1]."""

    name = "scripted"

    def __init__(self) -> None:
        self.calls = 0

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float):  # type: ignore[no-untyped-def]
        self.calls += 1
        reply = "NO_ANSWER" if self.calls == 1 else "Vous pouvez échanger votre permis auprès de la SNCA [1]."
        yield from (word if i == 0 else f" {word}" for i, word in enumerate(reply.split(" ")))


@pytest.mark.django_db(transaction=True)
def test_the_web_stream_says_it_reads_again_then_streams_the_second_answer(
    demo_kb_index: Path, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Real Django streaming, index and embedder; the model is scripted so that it declines first."""
    import assistant.services

    settings.ANSWER_SECOND_LOOK_SOURCES = 1  # off by default
    from assistant.models import Answer
    from tests.integration.test_chat_e2e import _ask_streaming, _parse_sse

    model = _DeclinesThenAnswers()
    monkeypatch.setattr(assistant.services, "get_llm", lambda: model)
    _headers, parts = async_to_sync(_ask_streaming)("Comment échanger mon permis de conduire étranger ?", "fr")
    events = _parse_sse(b"".join(parts))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and model.calls == 2
    assert kinds.index("status") < kinds.index("token")
    assert events[kinds.index("status")][1] == {"message": "Je relis la page la plus pertinente…"}
    done = events[-1][1]
    assert done["status"] == "answered" and done["citations"] == [1]
    assert "NO_ANSWER" not in "".join(str(data.get("text", "")) for kind, data in events if kind == "token")
    stored = Answer.objects.get(pk=done["answer_id"])
    assert stored.metrics["second_look"]["first_output"] == "NO_ANSWER"
    assert stored.raw_output == "Vous pouvez échanger votre permis auprès de la SNCA [1]."
