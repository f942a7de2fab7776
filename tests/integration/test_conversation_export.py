"""A citizen downloads their own conversation (text or JSON); never another session's. Real DB and views."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from assistant.models import Answer, Conversation

pytestmark = pytest.mark.django_db
SOURCE = {
    "number": 1,
    "document": "internal-key",
    "procedure": "birth-registration",
    "language": "en",
    "title": "Registering a birth",
    "section": "Registering a birth > Deadline",
    "url": "https://guichet.public.lu/en/citoyens/famille/naissance.html",
    "score": 0.91,
}


def _conversation(client: Client) -> Conversation:
    """A real conversation of this client's session: a question through /ask/, then one with a source."""
    assert client.post("/ask/", {"question": "Hello", "ui_language": "en"}).status_code == 200
    conversation = Conversation.objects.get()
    Answer.objects.create(
        conversation=conversation,
        question="How long do I have to register a birth?",
        text="Within five working days after the birth [1].",
        language="en",
        status="answered",
        sources=[SOURCE],
        citations=[1],
    )
    return conversation


def test_text_export_has_the_whole_conversation_with_translated_labels_and_is_never_cached() -> None:
    client = Client()
    conversation = _conversation(client)
    response = client.get(f"/de/conversation/export/?conversation={conversation.pk}")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="guichet-assistant-\d{4}-\d{2}-\d{2}\.txt"', response["Content-Disposition"]
    )
    assert "no-store" in response["Cache-Control"]
    text = response.content.decode()
    assert text.startswith("Guichet Assistant: Ihre Unterhaltung\n")
    assert "Frage 1 (" in text and "Frage 2 (" in text and "\nAntwort\n" in text and "\nQuellen\n" in text
    assert "How long do I have to register a birth?" in text and "Within five working days" in text
    assert "[1] Registering a birth: https://guichet.public.lu/en/citoyens/famille/naissance.html" in text
    assert text.index("Hello") < text.index("register a birth")  # oldest first
    assert "internal-key" not in text and "0.91" not in text


@pytest.mark.parametrize(
    ("language", "title", "question_label"),
    [
        ("lb", "Guichet Assistant: Är Conversatioun", "Fro 1"),
        ("fr", "Guichet Assistant : votre conversation", "Question 1"),
    ],
)
def test_text_export_follows_the_interface_language(language: str, title: str, question_label: str) -> None:
    client = Client()
    conversation = _conversation(client)
    prefix = "" if language == "fr" else f"/{language}"
    text = client.get(f"{prefix}/conversation/export/?conversation={conversation.pk}").content.decode()
    assert text.startswith(title) and question_label in text


def test_json_export_keeps_what_the_citizen_saw_and_nothing_internal() -> None:
    client = Client()
    conversation = _conversation(client)
    response = client.get(f"/en/conversation/export/?conversation={conversation.pk}&format=json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].endswith('.json"') and "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["conversation"] == str(conversation.pk) and data["interface_language"] == "en"
    assert [t["question"] for t in data["turns"]] == ["Hello", "How long do I have to register a birth?"]
    assert data["turns"][1]["sources"] == [
        {
            "number": 1,
            "title": "Registering a birth",
            "section": "Registering a birth > Deadline",
            "url": "https://guichet.public.lu/en/citoyens/famille/naissance.html",
            "language": "en",
        }
    ]
    assert "session" not in response.content.decode() and "internal-key" not in response.content.decode()


def test_another_sessions_conversation_or_a_bad_id_is_a_plain_404() -> None:
    owner = Client()
    conversation = _conversation(owner)
    for client, query in (
        (Client(), f"conversation={conversation.pk}"),  # no session at all
        (_with_session(), f"conversation={conversation.pk}"),  # another session
        (owner, "conversation=not-a-uuid"),
        (owner, "conversation=00000000-0000-0000-0000-000000000000"),
        (owner, ""),
    ):
        response = client.get(f"/en/conversation/export/?{query}")
        assert response.status_code == 404
        assert "Content-Disposition" not in response and "register a birth" not in response.content.decode()


def _with_session() -> Client:
    client = Client()
    client.post("/ask/", {"question": "Hello", "ui_language": "en"})
    return client


def test_the_chat_page_and_the_answer_page_link_to_the_export_without_javascript() -> None:
    client = Client()
    empty = client.get("/en/").content.decode()
    assert re.search(r'<p class="export" id="export-conversation"[^>]* hidden>', empty)  # nothing to export yet
    answered = client.post("/ask/", {"question": "Hello", "ui_language": "en"}).content.decode()
    conversation = Conversation.objects.get()
    link = f'href="/en/conversation/export/?conversation={conversation.pk}"'
    assert link in answered and "Download this conversation:" in answered
    assert f'href="/en/conversation/export/?conversation={conversation.pk}&amp;format=json"' in answered
    page = client.get(f"/en/?conversation={conversation.pk}").content.decode()
    assert link in page and not re.search(r'id="export-conversation"[^>]* hidden', page)
    # The chat script fills in the same link after a streamed answer (tests/functional/test_export_browser.py).
    assert 'data-url="/en/conversation/export/"' in page
    assert client.get(f"/en/conversation/export/?conversation={conversation.pk}").status_code == 200
