from __future__ import annotations

import pytest

from assistant.llm import ScriptedLLM
from assistant.pipeline.context import AnswerContext
from assistant.pipeline.steps import NO_ANSWER, CheckOutput, Compose, Rephrase, Route
from assistant.types import Source, StreamEvent


@pytest.mark.parametrize(
    ("question", "language", "route", "expected"),
    [
        ("Je veux me suicider", "fr", "crisis", "45 45 45"),
        ("Ech wëll mech ëmbréngen", "lb", "crisis", "112"),
        ("I want to end my life", "en", "crisis", "116 111"),
        ("Moien!", "lb", "greeting", ""),
        ("Vielen Dank", "de", "thanks", ""),
    ],
)
def test_fixed_replies_replace_rag(question: str, language: str, route: str, expected: str) -> None:
    events: list[StreamEvent] = []
    ctx = AnswerContext(question=question, ui_language=language, language=language, emit=events.append)
    Route()(ctx)
    assert ctx.aborted and ctx.status == "routed" and ctx.reason == route
    assert expected in ctx.answer
    assert [e.kind for e in events] == ["sources"]


def test_crisis_reply_is_translated() -> None:
    french = AnswerContext(question="Je veux me suicider", ui_language="fr", language="fr")
    german = AnswerContext(question="Ich will Selbstmord begehen", ui_language="de", language="de")
    Route()(french)
    Route()(german)
    assert french.answer != german.answer
    assert "112" in french.answer and "112" in german.answer


def test_a_real_question_is_not_routed() -> None:
    ctx = AnswerContext(question="Merci de me dire comment échanger mon permis de conduire", ui_language="fr")
    Route()(ctx)
    assert not ctx.aborted


def test_rephrase_parses_translations_and_uses_history() -> None:
    llm = ScriptedLLM("en: How do I exchange it?\nfr: Comment l'échanger ?\nde: Wie tausche ich ihn um?")
    ctx = AnswerContext(
        question="Et pour un permis américain ?",
        ui_language="fr",
        history=(("Comment échanger mon permis ?", "Vous devez ... [1]"),),
    )
    Rephrase(llm=llm)(ctx)
    assert ctx.search_variants == {
        "en": "How do I exchange it?",
        "fr": "Comment l'échanger ?",
        "de": "Wie tausche ich ihn um?",
    }
    assert "Earlier question: Comment échanger mon permis ?" in llm.calls[0][1].content


def _source() -> Source:
    return Source(1, "d", "p", "fr", "T", "T > S", "https://guichet.public.lu/x.html", "texte", 0.5)


def test_no_answer_marker_is_never_streamed_and_becomes_a_decline() -> None:
    events: list[StreamEvent] = []
    ctx = AnswerContext(question="q", ui_language="fr", language="fr", sources=(_source(),), emit=events.append)
    Compose(llm=ScriptedLLM(NO_ANSWER))(ctx)
    assert [e for e in events if e.kind == "token"] == []
    CheckOutput()(ctx)
    assert ctx.status == "declined" and ctx.reason == "model_found_no_answer"


def test_text_that_only_starts_like_the_marker_is_streamed_whole() -> None:
    events: list[StreamEvent] = []
    ctx = AnswerContext(question="q", ui_language="fr", language="fr", sources=(_source(),), emit=events.append)
    Compose(llm=ScriptedLLM("NO doubt: yes [1]."))(ctx)
    assert "".join(str(e.data["text"]) for e in events) == "NO doubt: yes [1]."


def test_followup_only_rephrase_skips_first_questions() -> None:
    llm = ScriptedLLM("en: x\nfr: y\nde: z")
    ctx = AnswerContext(question="Comment échanger mon permis ?", ui_language="fr")
    Rephrase(llm=llm, only_followups=True)(ctx)
    assert llm.calls == [] and ctx.search_variants == {}
