from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from assistant.embedder import HashingEmbedder
from assistant.lexical import document_vector
from assistant.llm import ChatMessage, ScriptedLLM
from assistant.pipeline.context import AnswerContext
from assistant.pipeline.runner import pipeline_run
from assistant.pipeline.steps import CheckInput, CheckOutput, Compose, DetectLanguage, Retrieve, SecondLook
from assistant.retrieval import RetrievalConfig
from assistant.types import IndexPoint, Source, StreamEvent
from assistant.vector_index import EdgeIndex

CONFIG = RetrievalConfig(
    dense_limit=10,
    sparse_limit=10,
    rrf_k=60,
    fused_limit=8,
    max_sources=3,
    max_per_document=2,
    min_dense_score=0.0,
    context_chars=2000,
    dense_per_language=True,
    lexical_weight=1.0,
    rephrase="never",
)
TEXT = "Vous devez déclarer votre arrivée à la commune dans les 8 jours. Contact: info@commune.lu"


def _source(number: int = 1) -> Source:
    return Source(number, "doc.fr", "commune-registration", "fr", "Arrivée", "Arrivée > Délai",
                  "https://guichet.public.lu/fr/arrivee.html", TEXT, 0.5)  # fmt: skip


def _index(tmp_path: Path, embedder: HashingEmbedder) -> EdgeIndex:
    index = EdgeIndex(tmp_path / "index")
    payload = {
        "chunk": "doc.fr#0", "document": "doc.fr", "procedure": "commune-registration", "language": "fr",
        "title": "Arrivée", "heading_path": "Arrivée > Délai", "url": "https://guichet.public.lu/fr/arrivee.html",
        "text": TEXT, "status": "published",
    }  # fmt: skip
    point = IndexPoint(1, tuple(embedder.embed_query(TEXT)), document_vector(TEXT, "fr"), payload)
    index.build_generation([point], dim=embedder.dim)
    return index


def test_empty_question_is_rejected_with_a_translated_reply() -> None:
    ctx = AnswerContext(question="   ", ui_language="de")
    CheckInput()(ctx)
    assert ctx.aborted and ctx.status == "rejected" and ctx.reason == "empty"
    assert ctx.answer  # a reply, in the UI language (German catalogue when compiled)


@pytest.mark.django_db
def test_too_long_question_names_the_limit(settings: object) -> None:
    ctx = AnswerContext(question="x" * 5000, ui_language="en")
    CheckInput()(ctx)
    assert ctx.reason == "too_long" and "1000" in ctx.answer


def test_language_falls_back_to_ui_language_for_short_input() -> None:
    ctx = AnswerContext(question="Merci", ui_language="de")
    DetectLanguage()(ctx)
    assert ctx.language == "de"
    ctx = AnswerContext(question="Wéi kann ech mech bei der Gemeng umellen?", ui_language="en")
    DetectLanguage()(ctx)
    assert ctx.language == "lb"


def test_full_pipeline_streams_sources_before_tokens(tmp_path: Path) -> None:
    embedder = HashingEmbedder()
    events: list[StreamEvent] = []
    llm = ScriptedLLM("Déclarez votre arrivée dans les 8 jours [1]. Voir https://evil.example.com [7].")
    ctx = AnswerContext(question="Quand déclarer mon arrivée à la commune ?", ui_language="fr", emit=events.append)
    steps = (
        CheckInput(), DetectLanguage(), Retrieve(index=_index(tmp_path, embedder), embedder=embedder, config=CONFIG),
        Compose(llm=llm), CheckOutput(),
    )  # fmt: skip
    pipeline_run(ctx=ctx, steps=steps)
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and set(kinds[1:]) == {"token"}
    assert ctx.status == "answered" and ctx.citations == (1,)
    assert "evil.example.com" not in ctx.answer and "[7]" not in ctx.answer
    assert "8 jours [1]" in ctx.answer
    assert set(ctx.metrics) == {"input", "language", "retrieval", "generation", "output"}
    assert all("ms" in m for m in ctx.metrics.values())
    # The model saw numbered sources, never the page URL.
    prompt = llm.calls[0][1].content
    assert "[1] Arrivée > Délai" in prompt and "https://guichet" not in prompt


def test_runner_stops_at_the_first_abort() -> None:
    called: list[str] = []

    class Spy:
        name = "spy"

        def __call__(self, ctx: AnswerContext) -> None:
            called.append("spy")

    ctx = pipeline_run(ctx=AnswerContext(question="", ui_language="en"), steps=(CheckInput(), Spy()))
    assert called == [] and ctx.metrics["input"]["stopped"] == "empty"


def test_answer_without_valid_citation_is_replaced_by_the_sources() -> None:
    ctx = AnswerContext(question="q", ui_language="en", language="en", sources=(_source(),))
    ctx.raw_output = "You must register within 8 days [3]."
    CheckOutput()(ctx)
    assert ctx.status == "replaced" and ctx.citations == (1,)
    assert "Arrivée" in ctx.answer and "[3]" not in ctx.answer


def test_contacts_not_in_the_sources_are_removed() -> None:
    ctx = AnswerContext(question="q", ui_language="fr", language="fr", sources=(_source(),))
    ctx.raw_output = "Écrivez à info@commune.lu [1] ou à fake@scam.com, appelez le +352 99 99 99 99 [1]."
    CheckOutput()(ctx)
    assert "info@commune.lu" in ctx.answer
    assert "fake@scam.com" not in ctx.answer and "99 99" not in ctx.answer


def test_cancelled_stream_stops_generation() -> None:
    llm = ScriptedLLM("one two three four five")
    ctx = AnswerContext(question="q", ui_language="en", language="en", sources=(_source(),), cancelled=lambda: True)
    Compose(llm=llm)(ctx)
    assert ctx.status == "cancelled" and ctx.raw_output == "one"


def test_missing_index_gives_a_clear_message(tmp_path: Path) -> None:
    ctx = AnswerContext(question="Quand déclarer mon arrivée ?", ui_language="fr", language="fr")
    Retrieve(index=EdgeIndex(tmp_path / "empty"), embedder=HashingEmbedder(), config=CONFIG)(ctx)
    assert ctx.status == "failed" and ctx.reason == "index_unavailable" and ctx.answer


def test_below_threshold_declines_but_shows_the_closest_pages(tmp_path: Path) -> None:
    from dataclasses import replace

    embedder = HashingEmbedder()
    events: list[StreamEvent] = []
    ctx = AnswerContext(question="Où recycler un frigo ?", ui_language="fr", language="fr", emit=events.append)
    strict = replace(CONFIG, min_dense_score=0.99)
    Retrieve(index=_index(tmp_path, embedder), embedder=embedder, config=strict)(ctx)
    assert ctx.status == "declined" and ctx.reason == "below_threshold"
    assert [s.document_key for s in ctx.sources] == ["doc.fr"]
    assert events[0].kind == "sources" and events[0].data["sources"]


def test_citations_without_words_are_not_an_answer() -> None:
    ctx = AnswerContext(question="q", ui_language="en", language="en", sources=(_source(),))
    ctx.raw_output = "[1] [1] <a fact from source 1> [1]"
    CheckOutput()(ctx)
    assert ctx.status == "replaced" and ctx.reason == "no_text"


def test_a_language_the_model_cannot_write_is_answered_in_its_fallback_with_a_notice(settings: object) -> None:
    settings.ANSWER_LANGUAGE_FALLBACKS = {"lb": "de"}  # type: ignore[attr-defined]
    llm = ScriptedLLM("Sie müssen sich innerhalb von 8 Tagen anmelden [1].")
    events: list[StreamEvent] = []
    ctx = AnswerContext(question="Wéini muss ech mech umellen?", ui_language="lb", language="lb",
                        sources=(_source(),), emit=events.append)  # fmt: skip
    pipeline_run(ctx=ctx, steps=(Compose(llm=llm), CheckOutput()), observe=False)
    _system, user = llm.calls[0]
    assert "Antworte auf Deutsch" in user.content and "Wéini muss ech" in user.content
    assert ctx.answer_language == "de" and ctx.metrics["generation"]["answer_language"] == "de"
    assert ctx.notice and "Däitsch" in ctx.notice  # the lb catalogue names the language in Luxembourgish
    assert ctx.status == "answered" and ctx.answer.startswith(ctx.notice + "\n\n")
    assert ctx.answer.endswith("anmelden [1].")
    streamed = "".join(str(e.data["text"]) for e in events if e.kind == "token")
    assert streamed.startswith(ctx.notice) and streamed.endswith("anmelden [1].")
    assert ctx.shown_language() == "de", "the page marks the body German, the notice Luxembourgish"


def test_a_fallback_refusal_shows_no_notice(settings: object) -> None:
    settings.ANSWER_LANGUAGE_FALLBACKS = {"lb": "de"}  # type: ignore[attr-defined]
    events: list[StreamEvent] = []
    ctx = AnswerContext(question="Wéini?", ui_language="lb", language="lb", sources=(_source(),), emit=events.append)
    pipeline_run(ctx=ctx, steps=(Compose(llm=ScriptedLLM("NO_ANSWER")), CheckOutput()), observe=False)
    assert ctx.status == "declined" and not [e for e in events if e.kind == "token"]
    assert ctx.notice not in ctx.answer
    assert ctx.shown_language() == "lb", "the canned refusal is in the question's language"


def test_without_a_fallback_the_question_language_prompt_is_used(settings: object) -> None:
    settings.ANSWER_LANGUAGE_FALLBACKS = {}  # type: ignore[attr-defined]
    llm = ScriptedLLM("Dir musst Iech bannent 8 Deeg umellen [1].")
    ctx = AnswerContext(question="Wéini?", ui_language="lb", language="lb", sources=(_source(),))
    pipeline_run(ctx=ctx, steps=(Compose(llm=llm), CheckOutput()), observe=False)
    assert "Äntwert op Lëtzebuergesch" in llm.calls[0][1].content
    assert ctx.notice == "" and ctx.answer == "Dir musst Iech bannent 8 Deeg umellen [1]."


def test_a_fallback_language_question_is_translated_first_and_given_to_the_model_in_the_fallback(
    settings: object,
) -> None:
    from assistant.pipeline.steps import Rephrase

    settings.ANSWER_LANGUAGE_FALLBACKS = {"lb": "de"}  # type: ignore[attr-defined]
    translator = ScriptedLLM(
        "en: When must I register?\nfr: Quand dois-je m'inscrire ?\nde: Wann muss ich mich anmelden?"
    )
    rephrase = Rephrase(llm=translator, only_followups=True, for_fallback_languages=True)
    french = AnswerContext(question="Quand m'inscrire ?", ui_language="fr", language="fr")
    rephrase(french)
    assert translator.calls == [] and french.search_variants == {}  # a first question the model can answer
    ctx = AnswerContext(question="Wéini muss ech mech umellen?", ui_language="lb", language="lb", sources=(_source(),))
    rephrase(ctx)
    assert len(translator.calls) == 1 and ctx.search_variants["de"] == "Wann muss ich mich anmelden?"
    llm = ScriptedLLM("Innerhalb von 8 Tagen [1].")
    Compose(llm=llm)(ctx)
    user = llm.calls[0][1].content
    assert "Wann muss ich mich anmelden?" in user and "Wéini" not in user
    # Retrieval-only runs (evaluate --no-generate) never call the model for it.
    quiet = Rephrase(llm=translator, only_followups=True, for_fallback_languages=False)
    quiet(AnswerContext(question="Wéini?", ui_language="lb", language="lb"))
    assert len(translator.calls) == 1


# --- the second look -------------------------------------------------------------------------------


class _Replies:
    """A model that gives each call the next reply in turn (the last one repeats)."""

    def __init__(self, *replies: str) -> None:
        self.name = "replies"
        self.replies = list(replies)
        self.calls: list[list[ChatMessage]] = []

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        self.calls.append(messages)
        reply = self.replies[min(len(self.calls), len(self.replies)) - 1]
        for i, word in enumerate(reply.split(" ")):
            yield word if i == 0 else " " + word


def _three_sources() -> tuple[Source, ...]:
    other = "Les frais de dossier sont de 10 euros. " * 3
    return (
        _source(1),
        replace(_source(2), document_key="frais.fr", title="Frais", heading_path="Frais > Montant", text=other),
        replace(_source(3), document_key="autre.fr", title="Autre", heading_path="Autre > Texte", text="Autre page."),
    )


def _look(llm: _Replies, sources: int = 1, events: list[StreamEvent] | None = None) -> AnswerContext:
    compose = Compose(llm=llm)
    ctx = AnswerContext(question="Dans quel délai dois-je déclarer mon arrivée ?", ui_language="fr", language="fr",
                        sources=_three_sources(), emit=(events if events is not None else []).append)  # fmt: skip
    steps = (compose, SecondLook(compose=compose, sources=sources), CheckOutput())
    return pipeline_run(ctx=ctx, steps=steps, observe=False)


def test_a_decline_gets_a_second_look_at_the_best_source_alone() -> None:
    llm = _Replies("NO_ANSWER", "Vous devez déclarer votre arrivée dans les 8 jours [1].")
    events: list[StreamEvent] = []
    ctx = _look(llm, events=events)
    assert len(llm.calls) == 2
    first_user, second_user = llm.calls[0][1].content, llm.calls[1][1].content
    assert "[1] Arrivée" in first_user and "[2] Frais" in first_user and "[3] Autre" in first_user
    assert "[1] Arrivée" in second_user and "[2]" not in second_user and "[3]" not in second_user
    assert llm.calls[0][0] == llm.calls[1][0], "the same system prompt"
    assert ctx.status == "answered" and ctx.citations == (1,)
    assert ctx.answer == "Vous devez déclarer votre arrivée dans les 8 jours [1]."
    streamed = "".join(str(e.data["text"]) for e in events if e.kind == "token")
    assert streamed == ctx.answer, "the hidden marker of the first pass never reaches the citizen"
    status = [e for e in events if e.kind == "status"]
    assert [e.data["message"] for e in status] == ["Je relis la page la plus pertinente…"], "says why it takes longer"
    assert events.index(status[0]) < next(i for i, e in enumerate(events) if e.kind == "token")
    assert ctx.metrics["second_look"]["first_output"] == "NO_ANSWER"
    assert ctx.raw_output == ctx.answer, "the stored raw output is the one that was shown"
    assert ctx.first_token_ms is not None and ctx.first_token_ms >= float(ctx.metrics["generation"]["ms"])


def test_the_second_look_can_decline_too() -> None:
    llm = _Replies("NO_ANSWER")
    ctx = _look(llm, sources=2)
    assert len(llm.calls) == 2 and "[2] Frais" in llm.calls[1][1].content and "[3]" not in llm.calls[1][1].content
    assert (ctx.status, ctx.reason) == ("declined", "model_found_no_answer")


@pytest.mark.parametrize(
    ("first", "sources", "calls"),
    [
        ("Vous devez déclarer votre arrivée dans les 8 jours [1].", 1, 1),  # answered: no second look
        ("NO_ANSWER", 0, 1),  # switched off
        ("NO_ANSWER", 3, 1),  # the first pass already had no more than that many sources
    ],
)
def test_no_second_look_when_not_needed(first: str, sources: int, calls: int) -> None:
    llm = _Replies(first, "Vous devez déclarer votre arrivée dans les 8 jours [1].")
    ctx = _look(llm, sources=sources)
    assert len(llm.calls) == calls
    assert "second_look" not in ctx.metrics or "first_output" not in ctx.metrics["second_look"]
    assert ctx.status == ("declined" if first == "NO_ANSWER" else "answered")


def test_no_second_look_close_to_the_deadline() -> None:
    llm = _Replies("NO_ANSWER", "Vous devez déclarer votre arrivée dans les 8 jours [1].")
    compose = Compose(llm=llm)
    ctx = AnswerContext(question="Délai ?", ui_language="fr", language="fr", sources=_three_sources(),
                        deadline=time.monotonic() + 5)  # fmt: skip
    pipeline_run(ctx=ctx, steps=(compose, SecondLook(compose=compose), CheckOutput()), observe=False)
    assert len(llm.calls) == 1 and ctx.metrics["second_look"]["skipped"] == "deadline"
    assert ctx.status == "declined"


# --- numbers no source holds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "sources", "missing"),
    [
        ("Within 8 days [1].", "dans les 8 jours", []),
        ("Within 10 days [1].", "dans les 8 jours", ["10"]),
        ("You must be 18 years old.", "Aucune limite d'âge n'est mentionnée.", ["18"]),
        ("It costs 2,500 euros.", "Le montant est de 2.500,00 EUR.", []),
        ("It costs 2 500 euros.", "Le montant est de 2500 EUR.", []),
        ("The rate is 3.5%.", "Le taux est de 3,5 %.", []),
        ("From 1 January 2026.", "à partir du 1.1.2026", []),
        ("1. Fill in the form.\n2. Send it.", "Remplissez le formulaire.", []),  # list markers are not facts
        ("In 2024, 2 500 people applied.", "En 2024, 2 500 personnes ont fait une demande.", []),
    ],
)
def test_numbers_no_source_holds_are_found_in_any_usual_format(answer: str, sources: str, missing: list[str]) -> None:
    from assistant.grounding import unsourced_numbers

    assert unsourced_numbers(answer, sources) == missing


def test_an_answer_with_a_number_no_source_holds_is_replaced() -> None:
    ctx = AnswerContext(question="Dans quel délai dois-je déclarer mon arrivée ?", ui_language="fr", language="fr",
                        sources=(_source(),))  # fmt: skip
    ctx.raw_output = "Vous devez déclarer votre arrivée dans les 15 jours [1]."
    CheckOutput()(ctx)
    assert (ctx.status, ctx.reason) == ("replaced", "unsourced_number")
    assert "15" not in ctx.answer and ctx.metrics["output"]["unsourced_numbers"] == 1
    assert "8 jours" in ctx.answer, "the closest sentence of the page is quoted instead"


def test_a_source_by_source_answer_loses_its_no_answer_markers() -> None:
    ctx = AnswerContext(question="Que dois-je apporter ?", ui_language="fr", language="fr",
                        sources=(_source(1), replace(_source(2), document_key="frais.fr")))  # fmt: skip
    ctx.raw_output = "[1] Vous devez déclarer votre arrivée dans les 8 jours. [2] NO_ANSWER"
    CheckOutput()(ctx)
    assert ctx.status == "answered" and ctx.citations == (1,)
    assert ctx.answer == "[1] Vous devez déclarer votre arrivée dans les 8 jours."


def test_a_red_team_case_takes_its_second_look_with_the_attacked_composer() -> None:
    from assistant.redteam.cases import AttackCase
    from assistant.redteam.runner import _InstructedCompose, case_steps

    case = AttackCase(id="c1", dataset="own", placement="system", instruction="The secret is 4242.",
                      question="Délai ?", needle="4242")  # fmt: skip
    llm = _Replies("NO_ANSWER", "Vous devez déclarer votre arrivée dans les 8 jours [1].")
    compose = Compose(llm=llm)
    steps = case_steps(case, [compose, SecondLook(compose=compose), CheckOutput()])
    composer, look = steps[0], steps[1]
    assert isinstance(composer, _InstructedCompose) and isinstance(look, SecondLook) and look.compose is composer
    ctx = AnswerContext(question="Délai ?", ui_language="fr", language="fr", sources=_three_sources())
    pipeline_run(ctx=ctx, steps=steps, observe=False)
    assert len(composer.seen) == 2 and all("The secret is 4242." in m[0].content for m in composer.seen)


def test_an_unusable_second_text_leaves_the_decline() -> None:
    llm = _Replies("NO_ANSWER", "[1] [1] [1]")
    ctx = _look(llm)
    assert len(llm.calls) == 2
    assert (ctx.status, ctx.reason) == ("declined", "model_found_no_answer")
    assert ctx.metrics["second_look"]["unusable"] == "no_text"
    from django.utils import translation

    from assistant import replies

    with translation.override("fr"):
        assert ctx.answer == str(replies.NOT_FOUND)
    assert "[1] [1]" not in ctx.answer


def test_copied_format_placeholders_are_not_shown() -> None:
    ctx = AnswerContext(question="Délai ?", ui_language="fr", language="fr", sources=(_source(),))
    ctx.raw_output = "[n] Vous devez déclarer votre arrivée dans les 8 jours [1].\n<un fait de la source 2> [n]"
    CheckOutput()(ctx)
    assert ctx.status == "answered" and "[n]" not in ctx.answer and "<" not in ctx.answer
    assert "Vous devez déclarer votre arrivée dans les 8 jours [1]." in ctx.answer


LUXEMBOURGISH_COPY = (
    "Den Examen gëtt um Computer gemaach a besteet aus Multiple-Choice-Froen. Den Exame gëtt an der Stad "
    "organiséiert; d'Coursë sinn an der Stad, zu Esch an zu Dikrech [1]."
)


def test_an_answer_written_in_another_language_is_replaced() -> None:
    ctx = AnswerContext(question="Quelle est la procédure ?", ui_language="fr", language="fr", sources=(_source(),))
    ctx.raw_output = LUXEMBOURGISH_COPY
    CheckOutput()(ctx)
    assert (ctx.status, ctx.reason) == ("replaced", "wrong_language")
    assert ctx.metrics["output"]["written_language"] == "lb" and "Examen" not in ctx.answer


def test_an_answer_in_the_question_language_is_kept_even_when_a_fallback_was_asked(settings: object) -> None:
    ctx = AnswerContext(question="Wéi leeft den Examen?", ui_language="lb", language="lb", answer_language="de",
                        sources=(_source(),))  # fmt: skip
    ctx.notice = "Dës Äntwert ass op Däitsch."
    ctx.raw_output = LUXEMBOURGISH_COPY
    CheckOutput()(ctx)
    assert ctx.status == "answered", "a Luxembourgish answer to a Luxembourgish question is what the citizen wants"
    assert ctx.answer == LUXEMBOURGISH_COPY, "no notice saying it is German"
    assert ctx.shown_language() == "lb" and ctx.metrics["output"]["written_language"] == "lb"
