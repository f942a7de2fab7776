"""Each kind of source through the real services and the `ingest` command."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import translation

from tests.httpsite import Route, TestSite, make_docx, make_pdf

pytestmark = pytest.mark.django_db

PAGE = (
    b'<html lang="fr"><head><title>Permis de p\xc3\xaache</title></head><body><main><h1>Permis de p\xc3\xaache</h1>'
    b"<h2>Validit\xc3\xa9</h2><p>Le permis de p\xc3\xaache est d\xc3\xa9livr\xc3\xa9 par la commune pour une "
    b"ann\xc3\xa9e civile; son prix d\xc3\xa9pend du type d'eau et du nombre de cannes utilis\xc3\xa9es.</p>"
    b"</main></body></html>"
)


@pytest.fixture(autouse=True)
def _quick_fetches(settings: Any, tmp_path: Path) -> None:
    settings.INGEST_MIN_INTERVAL_S = 0.0
    settings.INGEST_FETCH_RETRIES = 0
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.INDEX_DIR = tmp_path / "index"


def test_a_page_source_is_ingested_by_the_command_with_its_language() -> None:
    from ingestion.models import Document, IngestionRun, Source

    with TestSite({"/peche.html": Route(body=PAGE)}) as site:
        source = Source.objects.create(name="pêche", kind=Source.Kind.PAGE, url=site.url("/peche.html"))
        out = StringIO()
        call_command("ingest", "--source", str(source.pk), "--no-progress", stdout=out)
        assert '"added": 1' in out.getvalue()
        document = Document.objects.get(source=source)
        assert (document.language, document.title, document.status) == ("fr", "Permis de pêche", "published")
        assert document.etag and document.versions.count() == 1
        # The second time the server answers 304: nothing is re-read.
        call_command("ingest", "--source", str(source.pk), "--no-progress", stdout=StringIO())
        assert site.paths_hit().count("/peche.html") == 2
    run = IngestionRun.objects.order_by("-pk").first()
    assert run is not None and (run.trigger, run.unchanged, run.added) == ("cli", 1, 0)


def test_an_uploaded_pdf_and_docx_become_documents_linked_to_their_official_page() -> None:
    from ingestion.models import Document, Source
    from ingestion.services import sources_ingest

    pdf = make_pdf("Carte d'identité", ["Carte d'identité", "La carte d'identité est délivrée par la commune."] * 3)
    docx = make_docx("Wohnsitz", [("Title", "Wohnsitz"), ("Normal", "Wer nach Luxemburg zieht, meldet sich an.")] * 3)
    sources = [
        Source.objects.create(
            name=name,
            kind=Source.Kind.UPLOAD,
            file=SimpleUploadedFile(name, content),
            official_url="https://guichet.public.lu/fr/citoyens/carte.html",
            language=language,
            procedure="identity-card",
        )
        for name, content, language in (("carte.pdf", pdf, "auto"), ("wohnsitz.docx", docx, "de"))
    ]
    report = sources_ingest(sources=sources)
    assert (report.added, report.failed) == (2, 0), report.errors
    pdf_doc, docx_doc = (Document.objects.get(source=s) for s in sources)
    assert pdf_doc.url == "https://guichet.public.lu/fr/citoyens/carte.html" and pdf_doc.language == "fr"
    assert docx_doc.language == "de" and docx_doc.procedure == "identity-card"
    assert pdf_doc.chunks.exists() and docx_doc.chunks.exists()


def test_an_oversize_upload_is_refused_with_a_clear_message(settings: Any) -> None:
    from django.core.exceptions import ValidationError

    from ingestion.models import Source

    settings.INGEST_MAX_BYTES = 1000
    source = Source(
        name="big",
        kind=Source.Kind.UPLOAD,
        file=SimpleUploadedFile("big.pdf", b"%PDF" + b"x" * 5000),
        official_url="https://guichet.public.lu/",
    )
    with translation.override("en"), pytest.raises(ValidationError, match="5004 bytes; the limit is 1000 bytes"):
        source.full_clean()
    with translation.override("de"), pytest.raises(ValidationError, match="5004 Bytes"):
        source.full_clean()


def test_a_source_missing_its_location_is_invalid() -> None:
    from django.core.exceptions import ValidationError

    from ingestion.models import Source

    with translation.override("en"), pytest.raises(ValidationError, match="needs this field"):
        Source(name="no url", kind=Source.Kind.SITEMAP).full_clean()


def test_ingest_command_refuses_ambiguous_or_unknown_targets(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="exactly one"):
        call_command("ingest", str(tmp_path), "--all")
    with pytest.raises(CommandError, match="no source with ID"):
        call_command("ingest", "--source", "987654", "--no-progress")
    with pytest.raises(CommandError, match="no such file or folder"):
        call_command("ingest", str(tmp_path / "missing"), "--no-progress")
