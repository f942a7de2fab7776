from __future__ import annotations

import pytest

from assistant.pii import luhn_check_digit, national_id_valid, pii_find, verhoeff_check_digit


def _national_id(first11: str) -> str:
    return first11 + str(luhn_check_digit(first11)) + str(verhoeff_check_digit(first11))


def test_check_digits_match_published_examples() -> None:
    assert luhn_check_digit("7992739871") == 3  # the classic Luhn example
    assert verhoeff_check_digit("236") == 3  # Verhoeff's own example
    assert verhoeff_check_digit("12345") == 1


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("write to marie.muller@example.lu please", "email"),
        ("call me on +352 621 123 456", "phone"),
        ("00352 26 12 34 56", "phone"),
        ("my mobile 691 234 567", "phone"),
        ("Tel. +33 6 12 34 56 78", "phone"),
        ("+49 (0)651 123456", "phone"),
        ("IBAN LU28 0019 4006 4475 0000", "iban"),
        ("DE89370400440532013000", "iban"),
        ("card 4111 1111 1111 1111", "card"),
    ],
)
def test_personal_data_is_found(text: str, kind: str) -> None:
    assert [m.kind for m in pii_find(text)] == [kind]


def test_luxembourg_national_id_needs_a_real_date_and_both_check_digits() -> None:
    valid = _national_id("19850721123")
    assert national_id_valid(valid)
    assert [m.kind for m in pii_find(f"my matricule is {valid}")] == ["national_id"]
    wrong_verhoeff = valid[:12] + str((int(valid[12]) + 1) % 10)
    wrong_luhn = valid[:11] + str((int(valid[11]) + 1) % 10) + valid[12]
    assert not national_id_valid(wrong_verhoeff) and not national_id_valid(wrong_luhn)
    assert not national_id_valid(_national_id("19851321123"))  # month 13


@pytest.mark.parametrize(
    "text",
    [
        "The fee is 1 000 EUR since 2024 and the form has 12 pages.",
        "Article 7, paragraph 3, law of 23 March 2020",
        "IBAN LU28 0019 4006 4475 0001",  # wrong mod-97
        "4111 1111 1111 1112",  # wrong Luhn
        "Reference 2024-000123",
    ],
)
def test_ordinary_numbers_are_not_personal_data(text: str) -> None:
    assert pii_find(text) == ()
