from __future__ import annotations

import pytest

from ingestion.extraction import Extracted, ExtractionError, extract, language_code
from ingestion.loaders import DocumentError
from tests.httpsite import make_docx, make_pdf

PAGE = """<!doctype html>
<html lang="fr-LU">
<head>
  <meta charset="utf-8">
  <title>Carte d'identité - Guichet.lu</title>
  <link rel="canonical" href="/fr/citoyens/carte-identite.html">
  <link rel="alternate" hreflang="de" href="/de/buerger/personalausweis.html">
  <link rel="alternate" hreflang="en" href="https://guichet.public.lu/en/citizens/identity-card.html">
  <link rel="alternate" hreflang="x-default" href="/">
  <meta name="guichet:procedure" content="identity-card">
  <meta name="description" content="not kept">
  <script>var tracking = "SCRIPT-TEXT";</script>
</head>
<body>
  <header role="banner"><a href="/">Guichet.lu LOGO-TEXT</a></header>
  <nav><ul><li>Accueil NAV-TEXT</li><li>Citoyens</li></ul></nav>
  <main>
    <h1>Carte d'identité</h1>
    <p>Tout résident <b>luxembourgeois</b> peut demander<br>une carte d'identité à sa commune.</p>
    <div hidden>HIDDEN-TEXT</div>
    <p aria-hidden="true">ARIA-HIDDEN-TEXT</p>
    <h2>Conditions</h2>
    <ul><li>être inscrit au registre</li><li>avoir une photo récente</li></ul>
    <h3>Coût</h3>
    <table><tr><th>Âge</th><th>Prix</th></tr><tr><td>adulte</td><td>14 €</td></tr></table>
    <form><label>Recherche FORM-TEXT</label></form>
  </main>
  <aside>ASIDE-TEXT</aside>
  <footer>Contact FOOTER-TEXT</footer>
</body>
</html>"""


def _html(page: str = PAGE, **kwargs: str) -> Extracted:
    options = {
        "content_type": "text/html; charset=utf-8",
        "name": "carte.html",
        "base_url": "https://guichet.public.lu/",
    }
    options.update(kwargs)
    return extract(page.encode("utf-8"), **options)


def test_html_main_content_drops_chrome_and_hidden_elements() -> None:
    extracted = _html()
    for chrome in ("SCRIPT", "LOGO", "NAV", "HIDDEN", "ARIA-HIDDEN", "FORM", "ASIDE", "FOOTER"):
        assert f"{chrome}-TEXT" not in extracted.text
    assert "Tout résident luxembourgeois peut demander\nune carte d'identité à sa commune." in extracted.text


def test_html_headings_become_section_paths_without_the_title() -> None:
    extracted = _html()
    assert extracted.title == "Carte d'identité - Guichet.lu"
    assert [section.headings for section in extracted.sections] == [(), ("Conditions",), ("Conditions", "Coût")]
    assert extracted.sections[1].text == "- être inscrit au registre\n- avoir une photo récente"
    assert extracted.sections[2].text == "Âge | Prix\nadulte | 14 €"
    assert "## Conditions" in extracted.text.splitlines()


def test_html_canonical_alternates_and_guichet_meta_are_absolute_and_clean() -> None:
    extracted = _html()
    assert extracted.canonical_url == "https://guichet.public.lu/fr/citoyens/carte-identite.html"
    assert extracted.alternates == (
        ("de", "https://guichet.public.lu/de/buerger/personalausweis.html"),
        ("en", "https://guichet.public.lu/en/citizens/identity-card.html"),
    )
    assert dict(extracted.meta) == {"procedure": "identity-card"}


def test_html_language_comes_from_lang_attribute_over_detection() -> None:
    page = '<html lang="de"><body><main><p>Tout résident peut demander une carte à sa commune.</p></main></body></html>'
    assert _html(page).language == "de"


def test_html_language_is_detected_when_undeclared() -> None:
    page = "<html><body><p>Déi Kaart gëtt vun der Gemeng ausgestallt, wann Dir Iech do ugemellt hutt.</p></body></html>"
    assert _html(page).language == "lb"


def test_html_language_is_empty_when_text_is_too_short() -> None:
    assert _html("<html><body><p>Bonjour</p></body></html>").language == ""


def test_html_without_main_uses_body_and_first_h1_as_title() -> None:
    page = "<html><body><nav>Menu</nav><h1>Permis de conduire</h1><h2>Échange</h2><p>Texte.</p></body></html>"
    extracted = _html(page)
    assert extracted.title == "Permis de conduire"
    assert extracted.sections[0].headings == ("Échange",)
    assert "Menu" not in extracted.text


def test_html_malformed_markup_still_extracts_its_text() -> None:
    page = "<html><body><main><p>Premier paragraphe <b>non fermé<div>Deuxième bloc <i>ici</p></table></main>"
    extracted = _html(page)
    assert "Premier paragraphe non fermé" in extracted.text
    assert "Deuxième bloc ici" in extracted.text


def test_html_unclosed_headings_keep_the_paragraphs_they_swallow() -> None:
    page = (
        "<html><head><title>Bulky waste</title><body><main><h1>Bulky waste<h2>Booking"
        "<p>Book the collection by phone a week in advance <b>free of charge<div><p>Unclosed"
    )
    extracted = _html(page)
    assert [section.headings for section in extracted.sections] == [("Booking",)]
    assert extracted.sections[0].text == "Book the collection by phone a week in advance free of charge\n\nUnclosed"


def test_html_deeply_nested_markup_does_not_overflow_the_stack() -> None:
    page = "<div>" * 5000 + "<p>Au fond du document.</p>"
    assert "Au fond du document." in _html(page).text


def test_html_charset_from_content_type_header() -> None:
    page = "<html><body><p>Échange du permis à Luxembourg</p></body></html>".encode("iso-8859-1")
    extracted = extract(page, content_type="text/html; charset=ISO-8859-1", name="p.html")
    assert "Échange du permis à Luxembourg" in extracted.text


def test_html_charset_from_meta_when_header_has_none() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Coût : 14 €</p></body></html>'
    extracted = extract(page.encode("cp1252"), content_type="text/html", name="p.html")
    assert "Coût : 14 €" in extracted.text


def test_html_undeclared_bad_bytes_are_replaced_not_fatal() -> None:
    extracted = extract(b"<p>Caf\xe9 ouvert</p>", content_type="text/html", name="p.html")
    assert "Caf\ufffd ouvert" in extracted.text


def test_html_without_text_is_an_extraction_error_naming_the_document() -> None:
    with pytest.raises(ExtractionError, match=r"empty\.html: no text found in the HTML page"):
        extract(
            b"<html><body><nav>Menu</nav><script>x()</script></body></html>",
            content_type="text/html",
            name="empty.html",
        )


def test_suffix_decides_when_content_type_is_generic() -> None:
    extracted = extract(b"<p>Du texte ici.</p>", content_type="application/octet-stream", name="https://x.lu/a.htm")
    assert extracted.sections[0].text == "Du texte ici."


def test_unsupported_content_type_is_an_extraction_error() -> None:
    with pytest.raises(ExtractionError, match=r"logo\.png: unsupported content type 'image/png'"):
        extract(b"\x89PNG\r\n", content_type="image/png", name="logo.png")


def test_extraction_error_is_a_document_error() -> None:
    assert issubclass(ExtractionError, DocumentError)


def test_pdf_pages_become_sections_with_title_from_metadata() -> None:
    content = make_pdf(
        "Guide du résident",
        ["Introduction", "Ce guide explique les démarches des résidents.", "\f", "La deuxième page (suite)."],
    )
    extracted = extract(content, content_type="application/pdf", name="guide.pdf")
    assert extracted.title == "Guide du résident"
    assert [section.headings for section in extracted.sections] == [("p. 1",), ("p. 2",)]
    assert extracted.sections[0].text == "Introduction\nCe guide explique les démarches des résidents."
    assert extracted.sections[1].text == "La deuxième page (suite)."
    assert extracted.language == "fr"


def test_pdf_without_metadata_title_uses_first_line() -> None:
    content = make_pdf("", ["Déclaration de naissance", "La naissance doit être déclarée dans les cinq jours."])
    extracted = extract(content, content_type="", name="naissance.pdf")
    assert extracted.title == "Déclaration de naissance"
    assert extracted.sections[0].headings == ()


def test_corrupt_pdf_is_an_extraction_error() -> None:
    with pytest.raises(ExtractionError, match=r"broken\.pdf: not a readable PDF"):
        extract(b"%PDF-1.4\nthis is not really a pdf", content_type="application/pdf", name="broken.pdf")


def test_encrypted_pdf_is_an_extraction_error() -> None:
    import io

    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf("Secret", ["Texte protégé."]))))
    writer.encrypt(user_password="hunter2", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(ExtractionError, match=r"secret\.pdf: the PDF is encrypted"):
        extract(buffer.getvalue(), content_type="application/pdf", name="secret.pdf")


def test_docx_heading_styles_lists_and_tables() -> None:
    content = make_docx(
        "Allocation familiale",
        [
            ("Heading 1", "Conditions"),
            ("", "L'enfant doit résider au Luxembourg avec ses parents."),
            ("List Bullet", "être affilié"),
            ("Heading 2", "Montants"),
        ],
        tables=[[["Enfants", "Montant"], ["1", "265 €"]]],
        language="fr-LU",
    )
    extracted = extract(content, content_type="", name="allocation.docx")
    assert extracted.title == "Allocation familiale"
    assert extracted.language == "fr"
    assert [section.headings for section in extracted.sections] == [("Conditions",), ("Conditions", "Montants")]
    assert extracted.sections[0].text == "L'enfant doit résider au Luxembourg avec ses parents.\n\n- être affilié"
    assert extracted.sections[1].text == "Enfants | Montant\n1 | 265 €"


def test_corrupt_docx_is_an_extraction_error() -> None:
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    with pytest.raises(ExtractionError, match=r"bad\.docx: not a readable DOCX document"):
        extract(b"PK\x03\x04 not a zip really", content_type=docx_type, name="bad.docx")


MARKDOWN = """---
title: Permis de conduire
language: lb
procedure: driving-licence
tags: [permis, transport]
---
# Permis de conduire

Wéi een de Führerschäin ëmtauscht.

## Dokumenter

- Pass
"""


def test_markdown_front_matter_gives_title_language_and_meta() -> None:
    extracted = extract(MARKDOWN.encode(), content_type="text/markdown", name="permis.md")
    assert (extracted.title, extracted.language) == ("Permis de conduire", "lb")
    assert extracted.meta["procedure"] == "driving-licence"
    assert extracted.meta["tags"] == "permis, transport"
    assert [section.headings for section in extracted.sections] == [(), ("Dokumenter",)]
    assert extracted.text.startswith("# Permis de conduire")


def test_markdown_title_from_first_heading_without_front_matter() -> None:
    extracted = extract(
        b"# Birth\n\nDeclare the birth of your child at the commune within five days.\n", content_type="", name="b.md"
    )
    assert extracted.title == "Birth"
    assert extracted.sections[0].headings == ()
    assert extracted.language == "en"


def test_markdown_with_broken_front_matter_is_an_extraction_error() -> None:
    with pytest.raises(ExtractionError, match=r"bad\.md: front matter is not closed"):
        extract(b"---\ntitle: x\n\nBody\n", content_type="text/plain", name="bad.md")


@pytest.mark.parametrize(
    ("declared", "code"), [("fr-LU", "fr"), ("ltz", "lb"), ("de_DE", "de"), ("EN", "en"), ("nl", "")]
)
def test_language_code_normalises_declared_tags(declared: str, code: str) -> None:
    assert language_code(declared) == code
