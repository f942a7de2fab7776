"""Personal data in free text: e-mails, phone numbers, IBANs, payment cards, Luxembourg national IDs.

The one detector for questions and feedback comments. Regexes find candidates; checksums (mod-97,
Luhn, Verhoeff) keep false alarms on ordinary numbers (dates, amounts, reference numbers) low, so a
citizen is not refused for writing "2024" or "1 000 EUR". Offline and linear in the text's length.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Literal

PiiKind = Literal["email", "phone", "iban", "card", "national_id"]


@dataclass(frozen=True)
class PiiMatch:
    kind: PiiKind
    start: int
    end: int


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
# Luxembourg and its neighbours (BE, DE, FR), written +352… or 00352…, with usual separators.
_PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|00)\s?(?:352|32|33|49)(?:[\s./-]?\(?\d\)?){6,12}(?!\d)")
# Luxembourg mobiles written without the country code: 621, 628, 661, 668, 671, 678, 691, 698.
_PHONE_LU_MOBILE = re.compile(r"(?<![\d+])6[2679][18](?:[\s./-]?\d){6}(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]){11,30}\b", re.IGNORECASE)
_DIGIT_RUN = re.compile(r"(?<!\d)\d(?:[\s-]?\d){12,18}(?!\d)")

# Verhoeff tables (dihedral group D5).
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 8, 7, 0, 6),
    (4, 2, 8, 6, 5, 7, 3, 9, 1, 0),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def luhn_check_digit(digits: str) -> int:
    """The Luhn digit to append to ``digits``."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2 == 0:  # doubled: these become the odd positions once the check digit is appended
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return (10 - total % 10) % 10


def luhn_valid(digits: str) -> bool:
    return len(digits) > 1 and luhn_check_digit(digits[:-1]) == int(digits[-1])


def verhoeff_check_digit(digits: str) -> int:
    """The Verhoeff digit to append to ``digits``."""
    c = 0
    for i, char in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][int(char)]]
    return _INV[c]


def _card_prefix(digits: str) -> bool:
    """Issuer prefixes of the card networks (Visa, Mastercard, Amex, Diners, JCB, Discover)."""
    two, four = int(digits[:2]), int(digits[:4])
    return (
        digits[0] == "4"
        or 51 <= two <= 55
        or 2221 <= four <= 2720
        or two in {34, 37, 30, 36, 38, 35, 65}
        or four == 6011
    )


def iban_valid(candidate: str) -> bool:
    iban = re.sub(r"\s", "", candidate).upper()
    if not 15 <= len(iban) <= 34 or not iban[:2].isalpha() or not iban[2:4].isdigit():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def national_id_valid(digits: str) -> bool:
    """Luxembourg's 13-digit matricule: YYYYMMDD, a 3-digit sequence, a Luhn digit, a Verhoeff digit.

    Both check digits are computed over the first 11 digits.
    """
    if len(digits) != 13 or not digits.isdigit():
        return False
    try:
        date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    first = digits[:11]
    return luhn_check_digit(first) == int(digits[11]) and verhoeff_check_digit(first) == int(digits[12])


def pii_find(text: str) -> tuple[PiiMatch, ...]:
    """Every piece of personal data found in ``text``, in order; overlapping finds are reported once."""
    found: list[PiiMatch] = []

    def add(kind: PiiKind, match: re.Match[str]) -> None:
        if not any(m.start < match.end() and match.start() < m.end for m in found):
            found.append(PiiMatch(kind, match.start(), match.end()))

    for match in _EMAIL.finditer(text):
        add("email", match)
    for match in _IBAN.finditer(text):
        if iban_valid(match.group(0)):
            add("iban", match)
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if national_id_valid(digits):
            add("national_id", match)
        elif 13 <= len(digits) <= 19 and _card_prefix(digits) and luhn_valid(digits):
            add("card", match)
    for pattern in (_PHONE_INTL, _PHONE_LU_MOBILE):
        for match in pattern.finditer(text):
            add("phone", match)
    return tuple(sorted(found, key=lambda m: m.start))


def pii_present(text: str) -> bool:
    return bool(pii_find(text))


# What replaces each value in stored text: fixed English labels, so that stored questions read the
# same whatever the interface language, and reviewers see what kind of data was removed.
PLACEHOLDERS: dict[PiiKind, str] = {
    "email": "[e-mail address]",
    "phone": "[phone number]",
    "iban": "[IBAN]",
    "card": "[card number]",
    "national_id": "[national ID number]",
}


@dataclass(frozen=True)
class Redacted:
    """Text with every piece of personal data replaced by its placeholder, and how many of each kind."""

    text: str
    counts: tuple[tuple[PiiKind, int], ...] = ()

    @property
    def kinds(self) -> tuple[PiiKind, ...]:
        return tuple(kind for kind, _count in self.counts)

    @property
    def found(self) -> bool:
        return bool(self.counts)


def pii_redact(text: str) -> Redacted:
    """``text`` with personal data replaced by placeholders; the values themselves are not kept."""
    matches = pii_find(text)
    if not matches:
        return Redacted(text)
    pieces: list[str] = []
    last = 0
    for match in matches:
        pieces.append(text[last : match.start])
        pieces.append(PLACEHOLDERS[match.kind])
        last = match.end
    pieces.append(text[last:])
    counts = Counter(m.kind for m in matches)
    ordered = tuple((kind, counts[kind]) for kind in PLACEHOLDERS if kind in counts)
    return Redacted("".join(pieces), ordered)


def placeholders_removed(text: str) -> str:
    """``text`` without the placeholders (for language detection, which English labels would sway)."""
    for placeholder in PLACEHOLDERS.values():
        text = text.replace(placeholder, " ")
    return text
