"""The passage quoted when the model's text cannot be shown: the page's own words, or nothing."""

from __future__ import annotations

from assistant.excerpt import best_excerpt, sentences
from assistant.llm import ScriptedLLM
from assistant.pipeline.context import AnswerContext
from assistant.pipeline.runner import pipeline_run
from assistant.pipeline.steps import CheckOutput, Compose
from assistant.types import Source

BIRTH_FR = (
    "Déclaration de naissance. La naissance d'un enfant doit être déclarée à l'officier de l'état civil "
    "de la commune du lieu de naissance dans les 5 jours ouvrables qui suivent l'accouchement. "
    "La déclaration est faite par le père ou, à défaut, par le médecin ou la sage-femme. "
    "Les parents doivent présenter une pièce d'identité."
)
CAR_FR = "Immatriculation d'un véhicule. Le propriétaire doit immatriculer le véhicule auprès de la SNCA."
BIRTH_DE = "Geburtsanzeige. Die Geburt muss innerhalb von 5 Werktagen beim Standesbeamten angezeigt werden."


def _source(number: int, text: str, language: str = "fr") -> Source:
    return Source(number, f"doc{number}.{language}", f"p{number}", language, f"Page {number}", f"Page {number}",
                  f"https://guichet.public.lu/{language}/p{number}.html", text, 0.5)  # fmt: skip


def test_sentences_split_on_sentence_ends_and_lines_not_on_abbreviations_in_lower_case() -> None:
    assert sentences("Un. Deux, p. ex. trois.\nQuatre") == ["Un.", "Deux, p. ex. trois.", "Quatre"]


def test_the_sentence_sharing_the_question_terms_is_chosen_from_the_right_page() -> None:
    sources = (_source(1, CAR_FR), _source(2, BIRTH_FR))
    excerpt = best_excerpt("Dans quel délai dois-je déclarer la naissance de mon enfant ?", sources, language="fr")
    assert excerpt is not None and excerpt.number == 2
    assert "5 jours ouvrables" in excerpt.text and excerpt.text in BIRTH_FR, "quoted word for word"
    assert excerpt.matched >= 2


def test_no_excerpt_when_the_pages_do_not_share_enough_of_the_question() -> None:
    sources = (_source(1, CAR_FR), _source(2, BIRTH_FR))
    assert best_excerpt("Quel restaurant me recommandez-vous à Esch-sur-Alzette ?", sources, language="fr") is None


def test_only_pages_in_the_reply_language_are_quoted() -> None:
    sources = (_source(1, BIRTH_DE, "de"),)
    assert best_excerpt("Dans quel délai déclarer la naissance ?", sources, language="fr") is None
    german = best_excerpt("In wie vielen Werktagen muss die Geburt gemeldet sein?", sources, language="de")
    assert german is not None and "5 Werktagen" in german.text


def test_an_uncited_answer_is_replaced_by_the_closest_passage_and_the_pages_in_the_question_language() -> None:
    ctx = AnswerContext(question="Dans quel délai faut-il déclarer une naissance ?", ui_language="fr", language="fr",
                        sources=(_source(1, CAR_FR), _source(2, BIRTH_FR)))  # fmt: skip
    pipeline_run(ctx=ctx, steps=(Compose(llm=ScriptedLLM("Il faut la déclarer vite.")), CheckOutput()), observe=False)
    assert ctx.status == "replaced" and ctx.reason == "no_valid_citation"
    intro, quote, others = ctx.answer.split("\n\n")
    assert intro.startswith("Désolé") and "mot pour mot" in intro
    assert quote.startswith("“") and quote.endswith("” [2]") and "5 jours ouvrables" in quote
    assert others.splitlines()[1:] == ["- [1] Page 1", "- [2] Page 2"]
    assert ctx.citations == (1, 2) and ctx.metrics["output"]["excerpt_terms"] >= 2


def test_without_a_close_passage_the_replacement_lists_the_pages_only() -> None:
    ctx = AnswerContext(question="Wéini ass de Recyclingcenter op?", ui_language="lb", language="lb",
                        sources=(_source(1, CAR_FR),))  # fmt: skip
    pipeline_run(ctx=ctx, steps=(Compose(llm=ScriptedLLM("Et ass op.")), CheckOutput()), observe=False)
    assert ctx.status == "replaced" and "“" not in ctx.answer
    assert ctx.answer.endswith("- [1] Page 1") and ctx.answer.startswith("Entschëllegt")
