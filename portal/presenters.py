"""What the chat shows about sources and answers, localised for the interface language."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.utils import formats, timezone, translation
from django.utils.translation import ngettext

from assistant.models import Answer, Conversation
from ingestion.models import Document

# Django ships no Luxembourgish date format; this is how Luxembourg writes dates in running text.
_DATE_FORMATS = {"lb": "j. F Y"}
LANGUAGE_NAMES = {"lb": "Lëtzebuergesch", "fr": "Français", "de": "Deutsch", "en": "English"}


@dataclass(frozen=True)
class SourceCard:
    number: int
    title: str
    section: str
    url: str
    language: str
    language_name: str
    updated_iso: str
    updated: str

    def as_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "title": self.title,
            "section": self.section,
            "url": self.url,
            "language": self.language,
            "language_name": self.language_name,
            "updated_iso": self.updated_iso,
            "updated": self.updated,
        }


def _section(title: str, heading_path: str) -> str:
    """The heading path without the page title it starts with (the title is shown already)."""
    parts = [p.strip() for p in heading_path.split(">") if p.strip()]
    if parts and parts[0] == title:
        parts = parts[1:]
    return " › ".join(parts)


def source_cards(*, sources: Iterable[Mapping[str, object]], language: str) -> tuple[SourceCard, ...]:
    """Numbered sources with their page language and last-updated date, in the interface language."""
    sources = list(sources)
    keys = [str(s.get("document", "")) for s in sources]
    changed = dict(Document.objects.filter(key__in=keys).values_list("key", "last_changed"))
    cards = []
    with translation.override(language):
        for source in sources:
            when = changed.get(str(source.get("document", "")))
            day = timezone.localtime(when).date() if when else None
            page_language = str(source.get("language", ""))
            title = str(source.get("title", ""))
            cards.append(
                SourceCard(
                    number=int(str(source["number"])),
                    title=title,
                    section=_section(title, str(source.get("section", ""))),
                    url=str(source.get("url", "")),
                    language=page_language,
                    language_name=LANGUAGE_NAMES.get(page_language, page_language.upper()),
                    updated_iso=day.isoformat() if day else "",
                    updated=formats.date_format(day, _DATE_FORMATS.get(language, "DATE_FORMAT")) if day else "",
                )
            )
    return tuple(cards)


def queue_message(*, ahead: int, language: str) -> str:
    with translation.override(language):
        return ngettext(
            "The assistant is busy: %(count)s question ahead of yours.",
            "The assistant is busy: %(count)s questions ahead of yours.",
            ahead,
        ) % {"count": formats.number_format(ahead)}


@dataclass(frozen=True)
class Turn:
    """One question and its answer as the chat page shows it."""

    answer_id: int
    question: str
    text: str
    status: str
    language: str
    sources: tuple[SourceCard, ...]
    rating: str
    # The body's language when it differs from the question's (a fallback answer after its notice).
    answer_language: str = ""

    @classmethod
    def of(cls, answer: Answer, *, language: str, rating: str = "") -> Turn:
        """A stored (or just given) answer as the chat shows it; sources localised for ``language``."""
        return cls(
            answer_id=answer.pk or 0,
            question=answer.question,
            text=answer.text,
            status=answer.status,
            language=answer.language,
            sources=source_cards(sources=answer.sources, language=language),
            rating=rating,
            answer_language=str((answer.metrics or {}).get("answer_language") or answer.language),
        )

    @property
    def notice_language(self) -> str:
        """The language of the answer's first paragraph when it is a fallback notice, else ''."""
        return self.language if self.answer_language != self.language else ""

    @property
    def source_dicts(self) -> list[dict[str, object]]:
        return [card.as_json() for card in self.sources]


def conversation_turns(*, conversation: Conversation | None, language: str, limit: int = 20) -> tuple[Turn, ...]:
    """The conversation's finished turns, oldest first, with their sources and any feedback given."""
    if conversation is None:
        return ()
    answers = list(conversation.answers.select_related("feedback").order_by("-created_at")[:limit])
    turns = []
    for answer in reversed(answers):
        feedback = getattr(answer, "feedback", None)
        turns.append(Turn.of(answer, language=language, rating=feedback.rating if feedback else ""))
    return tuple(turns)


def session_conversation(*, session_key: str, conversation_id: str) -> Conversation | None:
    """The conversation if it belongs to this browser session; never another session's."""
    try:
        uuid.UUID(conversation_id)
    except ValueError:
        return None
    return Conversation.objects.filter(id=conversation_id, session_key=session_key).first()
