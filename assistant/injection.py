"""Instructions aimed at the model, in questions and in documents: both are data, never commands.

A deterministic screen, in the four languages of the service plus English attack phrasing:
a question that tries to change the assistant's rules is refused before any model reads it, and
sentences of that kind inside a source are removed before the source is shown to the model.
It cannot catch every paraphrase; the prompt (which says sources and questions are data), the
output check (citations, no unsourced contact data, the canary) and the red-team run back it up.
"""

from __future__ import annotations

import re

_PATTERNS = [
    # English
    r"\b(ignor\w*|disregard|forget|override|bypass|olvid\w*|esque[cç]\w*|dimentic\w*)\b[^.!?\n]{0,40}"
    r"\b(instru\w*|directiv\w*|rules|regras|reglas|regole|prompts?|guidelines|context|above|everything|previous)\b",
    r"\b(reveal|print|show|repeat|output|tell me|what is|give me)\b[^.!?\n]{0,30}"
    r"\b(system prompt|your (instructions|prompt|rules)|secret (key|word|code)|password|hidden (text|instructions?))\b",
    r"\b(you are now|act as|pretend (to be|you are)|new instructions|jailbreak|dan mode)\b",
    r"\b(system|developer|maintenance) mode\b",
    r"\b(answer|respond|reply)\s+(only|just)\s+(with|by)\b",
    # French
    r"\b(ignore[rz]?|oublie[rz]?|n[eé]glige[rz]?)\b[^.!?\n]{0,40}"
    r"\b(consignes?|instructions?|r[eè]gles|directives?|question)\b",
    r"\b(r[ée]ponds|r[ée]pondez|affiche[rz]?|r[ée]v[eè]le[rz]?)\b[^.!?\n]{0,30}"
    r"\b(uniquement|seulement|mot de passe|prompt|consignes)\b",
    r"\bmode (maintenance|d[ée]veloppeur|syst[eè]me)\b",
    # German
    r"\b(ignorier\w*|vergiss|vergessen sie|missachte\w*)\b[^.!?\n]{0,40}\b(anweisungen?|regeln|vorgaben|frage|alles)\b",
    r"\b(antworte|antworten sie|gib|nenne|verrate\w*)\b[^.!?\n]{0,30}"
    r"\b(nur|ausschlie(ss|ß)lich|geheime?\w*|passwort|systemprompt)\b",
    # Luxembourgish
    r"\b(ignor[ée]ier\w*|vergiess\w*)\b[^.!?\n]{0,40}\b(instruktiounen|reegelen|fro|alles)\b",
    r"\b(äntwert|schreift?)\s+(just|nëmmen)\b",
    r"\bgeheim\w*\s+(code|wuert|passwuert)\b",
]
_SCREEN = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")


def looks_like_injection(text: str) -> bool:
    return _SCREEN.search(text) is not None


def injections_strip(text: str) -> tuple[str, int]:
    """``text`` without the sentences that address the model; and how many were removed."""
    kept, removed = [], 0
    for sentence in _SENTENCE.findall(text):
        if sentence.strip() and _SCREEN.search(sentence):
            removed += 1
            continue
        kept.append(sentence)
    return "".join(kept).strip(), removed
