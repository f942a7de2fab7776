"""End to end on real components: Django test client -> pipeline -> real Qdrant, embedder and llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from tests import conftest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_model]


def _parse_sse(raw: bytes) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def _ask_streaming(question: str, ui_language: str) -> tuple[dict[str, str], list[bytes]]:
    client = AsyncClient(enforce_csrf_checks=False)
    response = await client.post(
        "/ask/", {"question": question, "ui_language": ui_language}, headers={"Accept": "text/event-stream"}
    )
    assert response.status_code == 200
    parts = [part async for part in response.streaming_content]
    return dict(response.items()), parts


def test_question_streams_sources_then_tokens_then_checked_citations(demo_kb_index: Path) -> None:
    blocked_before = len(conftest.BLOCKED)
    headers, parts = async_to_sync(_ask_streaming)("Comment échanger mon permis de conduire étranger ?", "fr")
    assert headers["Content-Type"] == "text/event-stream"
    events = _parse_sse(b"".join(parts))
    kinds = [kind for kind, _ in events]

    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert "token" in kinds and kinds.index("sources") < kinds.index("token")
    assert len(parts) > 3  # streamed in pieces, not one buffered body
    sources = events[0][1]["sources"]
    assert isinstance(sources, list) and sources
    assert sources[0]["procedure"] == "driving-licence-exchange"
    done = events[-1][1]
    numbers = {s["number"] for s in sources}
    citations = done["citations"]
    assert isinstance(citations, list) and citations and set(citations) <= numbers
    assert done["status"] in {"answered", "replaced"}
    assert done["language"] == "fr"
    # Nothing left the machine while answering (the guard would have recorded it).
    assert conftest.BLOCKED[blocked_before:] == []

    from assistant.models import Answer

    stored = Answer.objects.get(pk=done["answer_id"])
    assert stored.raw_output and stored.status == done["status"]
    assert {"input", "language", "retrieval", "generation", "output"} <= set(stored.metrics)


def test_no_javascript_form_post_renders_the_answer_page(demo_kb_index: Path) -> None:
    client = Client()
    page = client.get("/en/")
    assert page.status_code == 200
    response = client.post("/ask/", {"question": "How do I register a birth in Luxembourg?", "ui_language": "en"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "How do I register a birth in Luxembourg?" in html
    assert 'class="answer"' in html and "birth-declaration" not in html  # rendered, not raw keys
    from assistant.models import Answer

    answer = Answer.objects.latest("created_at")
    assert answer.status in {"answered", "replaced"}
    assert any(s["procedure"] == "birth-declaration" for s in answer.sources)
    for number in answer.citations:
        url = next(s["url"] for s in answer.sources if s["number"] == number)
        assert f'href="{url}"' in html
