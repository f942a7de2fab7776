"""Re-ingesting a real (local) web site twice: only what changed is re-embedded, nothing is lost.

The site has a sitemap, HTML pages in two languages, a PDF, a DOCX, malformed HTML, a page that
changes, a page that later 404s, one dropped from the sitemap, one that later times out, and a
50 MB response. Everything runs for real: HTTP, extraction, the database, the embedding model and
the embedded Qdrant index.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.httpsite import Route, TestSite, make_docx, make_pdf

pytestmark = pytest.mark.django_db

FR_PAGE = """<!doctype html><html lang="fr"><head><title>Allocations familiales</title>
<link rel="alternate" hreflang="de" href="/de/kindergeld.html"></head>
<body><nav>Accueil | Citoyens | Entreprises</nav><main><h1>Allocations familiales</h1>
<h2>Conditions</h2><p>L'allocation familiale est versée pour chaque enfant qui réside au Luxembourg
jusqu'à l'âge de 18 ans, ou 25 ans pour les enfants qui poursuivent des études secondaires.</p>
<h2>Démarches</h2><p>La demande se fait auprès de la Caisse pour l'avenir des enfants (CAE) avec le
formulaire de demande et une copie de l'acte de naissance de l'enfant.</p></main>
<footer>Contact | Mentions légales</footer></body></html>"""

DE_PAGE = """<!doctype html><html lang="de"><head><title>Kindergeld</title>
<link rel="alternate" hreflang="fr" href="/fr/allocation.html"></head>
<body><main><h1>Kindergeld</h1><h2>Voraussetzungen</h2><p>Das Kindergeld wird für jedes Kind gezahlt,
das in Luxemburg wohnt, bis zum Alter von 18 Jahren oder 25 Jahren bei einer Schulausbildung.</p>
<h2>Verfahren</h2><p>Der Antrag wird bei der Zukunftskeess (CAE) mit dem Antragsformular und einer
Kopie der Geburtsurkunde des Kindes gestellt.</p></main></body></html>"""


def _page(title: str, body: str, lang: str = "en") -> bytes:
    return (
        f'<!doctype html><html lang="{lang}"><head><title>{title}</title></head>'
        f"<body><main><h1>{title}</h1>{body}</main></body></html>"
    ).encode()


CHANGING_V1 = _page(
    "Parking permit for residents",
    "<h2>Who can apply</h2><p>Residents of the city centre can apply for a residential parking permit "
    "valid for one year. The permit costs 30 euros per year and is linked to one vehicle registration.</p>"
    "<h2>How to apply</h2><p>Apply online with your vehicle registration certificate and a proof of "
    "residence issued by the commune less than three months ago.</p>",
)
CHANGING_V2 = CHANGING_V1.replace(b"30 euros per year", b"45 euros per year since January")
VANISHING = _page(
    "Hunting licence",
    "<h2>Exam</h2><p>The hunting licence requires passing a theory and a practical exam organised by the "
    "nature and forest agency twice a year; registration closes one month before the exam date.</p>",
)
DROPPED = _page(
    "Dog tax",
    "<h2>Amount</h2><p>Every dog owner pays a yearly dog tax to the commune where the dog is registered; "
    "the amount is set by each commune and assistance dogs are exempt from the tax entirely.</p>",
)
SLOW = _page(
    "Fishing permit",
    "<h2>Permit</h2><p>A fishing permit is needed to fish in public waters; it is issued by the commune "
    "for one calendar year and the fee depends on the type of water and the number of rods used.</p>",
)
MALFORMED = (
    b'<html lang="en"><head><title>Bulky waste collection</title><body><main><h1>Bulky waste collection'
    b"<h2>Booking<p>Book the collection of bulky waste by phone at least a week in advance; the commune"
    b" collects up to three cubic metres per household and per year <b>free of charge<div><p>Unclosed"
)
PDF = make_pdf(
    "Guide de la carte d'identité",
    [
        "Guide de la carte d'identité",
        "La carte d'identité luxembourgeoise est délivrée par la commune de résidence.",
        "Pour la demander, il faut se présenter en personne avec une photo d'identité récente.",
        "La carte est valable dix ans pour les adultes et cinq ans pour les enfants.",
    ],
)
DOCX = make_docx(
    "Anmeldung eines Wohnsitzes",
    [
        ("Title", "Anmeldung eines Wohnsitzes"),
        ("Heading 1", "Fristen"),
        ("Normal", "Wer nach Luxemburg zieht, muss sich innerhalb von acht Tagen bei der Gemeinde anmelden."),
        ("Normal", "Für die Anmeldung werden ein gültiger Reisepass und ein Mietvertrag benötigt."),
    ],
)
PAGES = [
    "/fr/allocation.html",
    "/de/kindergeld.html",
    "/changing.html",
    "/vanishing.html",
    "/dropped.html",
    "/slow.html",
    "/huge.html",
    "/malformed.html",
    "/guide.pdf",
    "/form.docx",
]


def _sitemap(site: TestSite, paths: list[str]) -> bytes:
    entries = "".join(f"<url><loc>{site.url(p)}</loc></url>" for p in paths)
    return (
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'.encode()
    )


@pytest.fixture
def site() -> Iterator[TestSite]:
    with TestSite() as running:
        running.set("/robots.txt", Route(body=b"User-agent: *\nAllow: /\n", content_type="text/plain"))
        running.set("/fr/allocation.html", Route(body=FR_PAGE.encode()))
        running.set("/de/kindergeld.html", Route(body=DE_PAGE.encode()))
        running.set("/changing.html", Route(body=CHANGING_V1))
        running.set("/vanishing.html", Route(body=VANISHING))
        running.set("/dropped.html", Route(body=DROPPED))
        running.set("/slow.html", Route(body=SLOW))
        running.set("/huge.html", Route(huge_bytes=50 * 1024 * 1024))
        running.set("/malformed.html", Route(body=MALFORMED))
        running.set("/guide.pdf", Route(body=PDF, content_type="application/pdf"))
        running.set(
            "/form.docx",
            Route(body=DOCX, content_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        )
        running.set("/sitemap.xml", Route(body=_sitemap(running, PAGES), content_type="application/xml"))
        yield running


@pytest.fixture
def fast_ingest(settings: Any) -> None:
    settings.INGEST_FETCH_TIMEOUT_S = 0.5
    settings.INGEST_FETCH_RETRIES = 1
    settings.INGEST_RETRY_BACKOFF_S = 0.05
    settings.INGEST_MIN_INTERVAL_S = 0.0
    settings.INGEST_MAX_BYTES = 5_000_000


def _ingest(source: Any, index: Any) -> Any:
    from ingestion.services import sources_ingest

    return sources_ingest(sources=[source], index=index)


def _keys_for(site: TestSite, *paths: str) -> dict[str, str]:
    from ingestion.readers import url_key

    return {path: url_key(site.url(path)) for path in paths}


def test_second_run_reembeds_only_the_changed_page_and_loses_nothing(
    site: TestSite, fast_ingest: None, tmp_path: Path
) -> None:
    from assistant.retrieval import retrieve
    from assistant.vector_index import EdgeIndex
    from ingestion.models import Chunk, Document, EmbeddingCache, IngestionRun, Source

    index = EdgeIndex(tmp_path / "index")
    source = Source.objects.create(name="test site", kind=Source.Kind.SITEMAP, url=site.url("/sitemap.xml"))
    keys = _keys_for(site, *PAGES)

    first = _ingest(source, index)
    assert first.status == IngestionRun.Status.SUCCEEDED, first.failure
    assert (first.added, first.failed) == (9, 1), first.errors
    (huge_error,) = first.errors
    assert "huge.html" in huge_error and "52428800 bytes is over the 5000000 byte limit" in huge_error
    assert site.sent.get("/huge.html", 0) < 5_000_000  # rejected without downloading 50 MB
    documents = {d.key: d for d in Document.objects.filter(source=source)}
    assert set(documents) == set(keys.values()) - {keys["/huge.html"]}
    assert documents[keys["/fr/allocation.html"]].language == "fr"
    assert documents[keys["/guide.pdf"]].language == "fr"
    assert documents[keys["/form.docx"]].language == "de"
    # Language versions of one procedure share its id (hreflang alternates).
    assert documents[keys["/fr/allocation.html"]].procedure == documents[keys["/de/kindergeld.html"]].procedure
    assert "Accueil" not in Chunk.objects.filter(document__key=keys["/fr/allocation.html"])[0].text  # no chrome
    assert Chunk.objects.filter(document__key=keys["/malformed.html"]).exists()
    live = index.current_generation()
    assert live == first.build.generation

    # Between the nights: one page changes, one 404s, one leaves the sitemap, one starts timing out.
    site.set("/changing.html", Route(body=CHANGING_V2))
    site.remove("/vanishing.html")
    site.set("/slow.html", Route(body=SLOW, delay_s=2.0))
    site.set("/sitemap.xml", Route(body=_sitemap(site, [p for p in PAGES if p != "/dropped.html"])))
    cached_before = set(EmbeddingCache.objects.values_list("text_hash", flat=True))

    second = _ingest(source, index)
    assert second.status == IngestionRun.Status.SUCCEEDED, second.failure
    assert (second.added, second.changed, second.removed) == (0, 1, 2)
    assert second.unchanged == 5  # both languages, malformed, PDF, DOCX: answered 304 or same hash
    assert second.failed == 2  # the timeout and the oversize file
    assert any("slow.html" in e for e in second.errors)
    run = IngestionRun.objects.get(pk=second.run_id)
    assert [p["key"] for p in run.report["changed"]] == [keys["/changing.html"]]
    assert {p["key"] for p in run.report["removed"]} == {keys["/vanishing.html"], keys["/dropped.html"]}

    # Only the changed page's new chunk texts were embedded.
    new_hashes = set(EmbeddingCache.objects.values_list("text_hash", flat=True)) - cached_before
    changed_hashes = set(Chunk.objects.filter(document__key=keys["/changing.html"]).values_list("text_hash", flat=True))
    assert new_hashes and new_hashes <= changed_hashes
    assert second.build is not None and second.build.embedded == len(new_hashes)
    assert documents[keys["/changing.html"]].versions.count() == 2

    # The page that timed out keeps its last good version, published, and is still answered from.
    slow = Document.objects.get(key=keys["/slow.html"])
    assert slow.status == Document.Status.PUBLISHED and slow.chunks.exists()
    assert "timed out" in slow.fetch_error.lower() or "timeout" in slow.fetch_error.lower()
    kept = retrieve(question="How long is a fishing permit valid?", language="en", index=index).kept
    assert keys["/slow.html"] in {c.document_key for c in kept}

    # Gone pages are withdrawn and leave the answers; the new price is what is retrieved.
    for path in ("/vanishing.html", "/dropped.html"):
        assert Document.objects.get(key=keys[path]).status == Document.Status.WITHDRAWN
    kept = retrieve(question="How do I get a hunting licence?", language="en", index=index).kept
    assert keys["/vanishing.html"] not in {c.document_key for c in kept}
    kept = retrieve(question="How much does the residential parking permit cost?", language="en", index=index).kept
    texts = " ".join(c.text for c in kept if c.document_key == keys["/changing.html"])
    assert "45 euros" in texts and "30 euros" not in texts
    assert live in index.generations()  # the previous generation is kept for rollback


def test_a_run_where_most_fetches_fail_keeps_the_live_generation(
    site: TestSite, fast_ingest: None, tmp_path: Path
) -> None:
    from assistant.vector_index import EdgeIndex
    from ingestion.models import Document, IngestionRun, Source

    index = EdgeIndex(tmp_path / "index")
    source = Source.objects.create(name="test site", kind=Source.Kind.SITEMAP, url=site.url("/sitemap.xml"))
    first = _ingest(source, index)
    assert first.build is not None
    for path in PAGES:
        if path != "/sitemap.xml":
            site.set(path, Route(body=b"maintenance", status=503, content_type="text/plain"))

    second = _ingest(source, index)
    assert second.status == IngestionRun.Status.FAILED
    assert "the live index is kept" in second.failure
    assert index.current_generation() == first.build.generation
    assert Document.objects.filter(source=source, status=Document.Status.PUBLISHED).count() == 9


def test_a_run_that_would_index_nothing_fails_and_keeps_the_live_generation(tmp_path: Path) -> None:
    from django.conf import settings

    from assistant.vector_index import EdgeIndex
    from ingestion.models import Document, IngestionRun
    from ingestion.services import ingest_folder

    Document.objects.update(status=Document.Status.WITHDRAWN)  # only this test's folder is published
    folder = tmp_path / "kb"
    folder.mkdir()
    page = folder / "tax-class.en.md"
    page.write_text((settings.DEMO_KB_DIR / "tax-class.en.md").read_text())
    index = EdgeIndex(tmp_path / "index")
    first = ingest_folder(path=folder, index=index)
    assert first.build is not None

    page.unlink()
    second = ingest_folder(path=folder, index=index)
    assert second.status == IngestionRun.Status.FAILED and second.removed == 1
    assert "no published document" in second.failure
    assert index.current_generation() == first.build.generation


def test_runs_never_overlap(tmp_path: Path) -> None:
    from ingestion.models import IngestionRun
    from ingestion.runs import LOCK
    from ingestion.services import ingest_folder

    holder = IngestionRun.objects.create(trigger=IngestionRun.Trigger.NIGHTLY, lock=LOCK)
    (tmp_path / "kb").mkdir()
    report = ingest_folder(path=tmp_path / "kb")
    assert report.status == IngestionRun.Status.SKIPPED
    holder.refresh_from_db()
    assert holder.lock == LOCK  # the running one is untouched
