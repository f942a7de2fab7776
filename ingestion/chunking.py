"""Heading-aware chunking: every chunk keeps the path of headings above it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ingestion.loaders import ParsedDocument

MAX_WORDS = 180
MIN_WORDS = 25


@dataclass(frozen=True)
class ChunkDraft:
    position: int
    heading_path: str
    text: str

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(f"{self.heading_path}\n{self.text}".encode()).hexdigest()

    def embedding_text(self) -> str:
        """What the embedder sees: the heading path gives short passages their topic."""
        return f"{self.heading_path}\n{self.text}"


def _split_paragraphs(text: str, max_words: int) -> list[str]:
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    for paragraph in (p.strip() for p in text.split("\n\n")):
        if not paragraph:
            continue
        words = len(paragraph.split())
        if current and count + words > max_words:
            pieces.append("\n\n".join(current))
            current, count = [], 0
        current.append(paragraph)
        count += words
    if current:
        pieces.append("\n\n".join(current))
    return pieces


def chunk_document(document: ParsedDocument, *, max_words: int = MAX_WORDS) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    carried = ""  # a tiny section ("Costs: free") travels with the next one, its heading inline
    carried_path = ""
    for section in document.sections:
        path = " > ".join((document.title, *section.headings))
        for piece in _split_paragraphs(section.text, max_words):
            if carried:
                piece = f"{carried}\n\n{piece}"
                carried = ""
            if len(piece.split()) < MIN_WORDS:
                leaf = section.headings[-1] if section.headings else ""
                carried, carried_path = (f"{leaf}: {piece}" if leaf else piece), path
                continue
            drafts.append(ChunkDraft(position=len(drafts), heading_path=path, text=piece))
    if carried:
        if drafts:
            last = drafts[-1]
            drafts[-1] = ChunkDraft(last.position, last.heading_path, f"{last.text}\n\n{carried}")
        else:
            drafts.append(ChunkDraft(position=0, heading_path=carried_path, text=carried))
    return drafts
