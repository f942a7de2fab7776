"""Real embedder + real embedded Qdrant over the demo knowledge base."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.language import detect_language
from assistant.retrieval import retrieve

pytestmark = pytest.mark.django_db

QUESTIONS = [
    ("lb", "Wéi kann ech mäi Féierschäin ëmtauschen?", "driving-licence-exchange"),
    ("lb", "Wou muss ech mech umellen wann ech op Lëtzebuerg plënneren?", "commune-registration"),
    ("lb", "Wéivill Kannergeld kréien ech fir mäi Kand?", "family-allowance"),
    ("fr", "Comment échanger mon permis de conduire étranger ?", "driving-licence-exchange"),
    ("fr", "Quelle est ma classe d'impôt si je suis marié ?", "tax-class"),
    ("de", "Wie melde ich mein Auto in Luxemburg an?", "vehicle-registration"),
    ("de", "Wie werde ich luxemburgischer Staatsbürger?", "nationality"),
    ("en", "How do I register as a jobseeker with ADEM?", "jobseeker-registration"),
    ("en", "Who pays the family allowance and until what age?", "family-allowance"),
]


@pytest.mark.parametrize(("language", "question", "procedure"), QUESTIONS)
def test_retrieval_finds_the_procedure_in_every_language(
    demo_kb_index: Path, language: str, question: str, procedure: str
) -> None:
    detected, _ = detect_language(question, fallback="fr")
    assert detected == language
    result = retrieve(question=question, language=detected)
    assert result.kept, result.reason
    assert result.kept[0].procedure == procedure, [c.document_key for c in result.kept]


def test_retrieval_cites_the_page_in_the_citizens_language(demo_kb_index: Path) -> None:
    result = retrieve(question="Comment échanger mon permis de conduire étranger ?", language="fr")
    assert result.kept[0].language == "fr"
    result = retrieve(question="How do I exchange my foreign driving licence?", language="en")
    assert result.kept[0].document_key == "driving-licence-exchange.en"


def test_removed_page_disappears_from_answers(tmp_path: Path) -> None:
    from django.conf import settings

    from assistant.vector_index import EdgeIndex
    from ingestion.services import ingest_folder

    folder = tmp_path / "kb"
    folder.mkdir()
    for name in ("driving-licence-exchange.en.md", "family-allowance.en.md"):
        text = (settings.DEMO_KB_DIR / name).read_text()
        procedure = name.split(".")[0]
        # Own keys and procedure ids, so the demo knowledge base in the same database cannot mask them.
        (folder / f"copy-{name}").write_text(text.replace(f"procedure: {procedure}", f"procedure: copy-{procedure}"))
    index = EdgeIndex(tmp_path / "index")
    first = ingest_folder(path=folder, index=index)
    assert first.added == 2 and first.build is not None
    question = "How do I exchange my foreign driving licence?"
    kept = retrieve(question=question, language="en", index=index).kept
    assert "copy-driving-licence-exchange" in {c.procedure for c in kept}

    again = ingest_folder(path=folder, index=index)
    assert (again.unchanged, again.build) == (2, None)  # nothing changed: no rebuild

    (folder / "copy-driving-licence-exchange.en.md").unlink()
    after = ingest_folder(path=folder, index=index)
    assert after.removed == 1 and after.build is not None
    kept = retrieve(question=question, language="en", index=index).kept
    assert "copy-driving-licence-exchange" not in {c.procedure for c in kept}
    assert first.build.generation in index.generations()  # the previous generation is kept
