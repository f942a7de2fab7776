"""The one personal-data detector, as used on questions: a four-language corpus, redaction, the input step."""

from __future__ import annotations

import pytest

from assistant.pii import PLACEHOLDERS, luhn_check_digit, pii_find, pii_redact, verhoeff_check_digit
from assistant.pipeline.context import AnswerContext
from assistant.pipeline.steps import CheckInput


def _national_id(first11: str) -> str:
    return first11 + str(luhn_check_digit(first11)) + str(verhoeff_check_digit(first11))


NATIONAL_ID = _national_id("19850721123")
WRONG_VERHOEFF = NATIONAL_ID[:12] + str((int(NATIONAL_ID[12]) + 1) % 10)
WRONG_LUHN = NATIONAL_ID[:11] + str((int(NATIONAL_ID[11]) + 1) % 10) + NATIONAL_ID[12]

# (language, question, raw values, kinds found)
CORPUS = [
    (
        "lb",
        f"Meng Matrikel ass {NATIONAL_ID}, wéi kréien ech e Certificat de résidence?",
        [NATIONAL_ID],
        ["national_id"],
    ),
    (
        "fr",
        "Mon IBAN est LU28 0019 4006 4475 0000, comment toucher les allocations familiales ?",
        ["LU28 0019 4006 4475 0000"],
        ["iban"],
    ),
    (
        "de",
        "Meine Nummer ist +352 621 123 456 und meine IBAN DE89370400440532013000, wie melde ich mich an?",
        ["+352 621 123 456", "DE89370400440532013000"],
        ["phone", "iban"],
    ),
    (
        "en",
        "My card is 4111 1111 1111 1111 and my e-mail jane.doe@example.lu, how do I pay the fee?",
        ["4111 1111 1111 1111", "jane.doe@example.lu"],
        ["card", "email"],
    ),
]

# The same shapes with a wrong check digit: ordinary numbers, not personal data of those kinds.
INVALID = [
    f"Mäi Code ass {WRONG_VERHOEFF}, wat heescht dat?",
    f"Le numéro {WRONG_LUHN} figure sur le formulaire.",
    "Die IBAN LU28 0019 4006 4475 0001 ist falsch.",
    "The number 4111 1111 1111 1112 is on the letter.",
    f"Mon matricule serait {_national_id('19851321123')} (mois 13).",
]


@pytest.mark.parametrize(("language", "question", "values", "kinds"), CORPUS)
def test_personal_data_in_questions_is_found_and_redacted(
    language: str, question: str, values: list[str], kinds: list[str]
) -> None:
    assert sorted(m.kind for m in pii_find(question)) == sorted(kinds)
    redacted = pii_redact(question)
    for value in values:
        assert value not in redacted.text
    for kind in kinds:
        assert PLACEHOLDERS[kind] in redacted.text  # type: ignore[index]
    assert dict(redacted.counts) == {kind: kinds.count(kind) for kind in kinds}


@pytest.mark.parametrize("text", INVALID)
def test_wrong_check_digits_are_not_national_ids_ibans_or_cards(text: str) -> None:
    assert {m.kind for m in pii_find(text)} & {"national_id", "iban", "card"} == set()
    assert pii_redact(text).text == text


def test_text_without_personal_data_is_left_as_it_is() -> None:
    text = "Comment échanger mon permis de conduire depuis 2024 ? Le formulaire coûte 1 000 EUR."
    redacted = pii_redact(text)
    assert redacted.text == text and not redacted.found


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("lb", "Donnéeën ze enthalen (eng national Identifikatiounsnummer (Matrikel))"),
        ("fr", "données personnelles (un numéro d'identification national (matricule))"),
        ("de", "Daten zu enthalten (eine nationale Identifikationsnummer (Matrikelnummer))"),
        ("en", "personal data (a national identification number)"),
    ],
)
def test_input_step_refuses_a_question_with_personal_data_listing_kinds_not_values(
    language: str, expected: str
) -> None:
    ctx = AnswerContext(question=f"  {NATIONAL_ID}  ", ui_language=language)
    CheckInput()(ctx)
    assert (ctx.status, ctx.reason, ctx.aborted) == ("rejected", "personal_data", True)
    assert expected in ctx.answer and NATIONAL_ID not in ctx.answer
    assert ctx.question == "[national ID number]"  # nothing after this step sees the value
    assert ctx.metrics["input"]["personal_data"] == {"national_id": 1}


def test_input_step_answers_in_the_questions_language() -> None:
    ctx = AnswerContext(
        question="Bonjour, voici mon adresse e-mail marie@example.lu, comment renouveler mon passeport ?",
        ui_language="en",
    )
    CheckInput()(ctx)
    assert ctx.language == "fr"
    assert "une adresse e-mail" in ctx.answer and "marie@example.lu" not in ctx.answer


def test_input_step_refuses_a_question_over_the_length_cap(settings: object) -> None:
    ctx = AnswerContext(question="a" * 1001, ui_language="de")
    CheckInput()(ctx)
    assert (ctx.status, ctx.reason) == ("rejected", "too_long")
    assert "höchstens 1000" in ctx.answer or "1000" in ctx.answer
