from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingestion.chunking import chunk_document
from ingestion.loaders import DocumentError, load_document

MD = """---
title: "Declaring a birth"
source_url: "https://guichet.public.lu/en/citoyens/famille/naissance.html"
language: en
procedure: birth-declaration
---
# Declaring a birth

Intro words about the procedure, long enough to stand on their own as a chunk of text here.

## Deadlines

The birth must be declared within 5 days to the civil registrar of the commune where the child was born.

### Weekends

Costs: free.

## Documents

- the parents' identity cards
- the medical birth certificate issued by the maternity hospital or the doctor who attended the birth
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown_front_matter_and_heading_paths(tmp_path: Path) -> None:
    doc = load_document(_write(tmp_path, "birth.en.md", MD))
    assert (doc.key, doc.language, doc.procedure) == ("birth.en", "en", "birth-declaration")
    assert [s.headings for s in doc.sections] == [(), ("Deadlines",), ("Deadlines", "Weekends"), ("Documents",)]


def test_chunks_keep_heading_path_and_merge_tiny_sections(tmp_path: Path) -> None:
    chunks = chunk_document(load_document(_write(tmp_path, "birth.en.md", MD)), max_words=40)
    paths = [c.heading_path for c in chunks]
    assert "Declaring a birth > Deadlines" in paths
    documents = next(c for c in chunks if c.heading_path == "Declaring a birth > Documents")
    assert "Weekends: Costs: free." in documents.text  # carried with its heading, not alone
    assert len({c.text_hash for c in chunks}) == len(chunks)


def test_html_page_keeps_headings_and_drops_navigation(tmp_path: Path) -> None:
    html = """<html lang="fr"><head><title>Permis</title></head><body><nav>Menu Accueil</nav>
    <main><h1>Permis</h1><h2>Délai</h2><p>Échanger le permis dans un délai d'un an.</p></main>
    <script>alert(1)</script></body></html>"""
    path = _write(tmp_path, "permis.html", '---\nsource_url: "https://guichet.public.lu/fr/x.html"\n---\n' + html)
    doc = load_document(path)
    assert doc.language == "fr" and doc.title == "Permis"
    text = " ".join(s.text for s in doc.sections)
    assert "un délai d'un an" in text and "Menu" not in text and "alert" not in text
    assert doc.sections[0].headings == ("Délai",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\ntitle: x\n", "not closed"),
        ("---\ntitle: [unclosed\n---\nbody", "not valid YAML"),
        ("---\ntitle: T\nlanguage: en\n---\nbody", "missing source_url"),
        ('---\ntitle: T\nlanguage: en\nsource_url: "ftp://x"\n---\nbody', "http(s)"),
        ('---\ntitle: T\nlanguage: en\nsource_url: "https://x.lu"\n---\n', "no text"),
    ],
)
def test_malformed_documents_get_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DocumentError, match=re.escape(message)):
        load_document(_write(tmp_path, "bad.md", text))


def test_non_utf8_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("---\ntitle: é\n---\n".encode("latin-1"))
    with pytest.raises(DocumentError, match="not UTF-8"):
        load_document(path)
