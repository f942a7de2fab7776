"""A database that refuses writes, for real: PostgreSQL's ``default_transaction_read_only`` or SQLite's
``query_only`` on every connection. The citizen still gets the answer (or a clear translated message),
never a 500, with and without JavaScript; nothing is stored and nothing raises."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import DatabaseError, connection
from django.db.backends.signals import connection_created
from django.test import AsyncClient, Client
from django.utils import translation

from assistant import replies
from assistant.models import Answer, Conversation, Feedback
from portal.maintenance import switch_memo_clear

# Outside a test transaction: the read-only setting applies to each statement the views run.
pytestmark = pytest.mark.django_db(transaction=True)


def _read_only_sql(on: bool) -> str:
    if connection.vendor == "postgresql":
        return f"SET default_transaction_read_only = {'on' if on else 'off'}"
    return f"PRAGMA query_only = {'ON' if on else 'OFF'}"


def _apply(raw_connection: Any, sql: str) -> None:
    cursor = raw_connection.cursor()
    cursor.execute(sql)
    cursor.close()


def _on_new_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    _apply(connection.connection, _read_only_sql(True))


@pytest.fixture
def read_only_database() -> Iterator[None]:
    """Make this connection and every new one (the streaming thread's) refuse writes; undo afterwards."""
    connection.ensure_connection()
    _apply(connection.connection, _read_only_sql(True))
    connection_created.connect(_on_new_connection)
    switch_memo_clear(forget_state=True)
    with pytest.raises(DatabaseError):  # the database itself refuses: no monkeypatching
        Conversation.objects.create(session_key="probe", ui_language="en")
    try:
        yield
    finally:
        connection_created.disconnect(_on_new_connection)
        connection.ensure_connection()
        _apply(connection.connection, _read_only_sql(False))


def _in(language: str, message: Any) -> str:
    with translation.override(language):
        return translation.gettext(str(message))


def test_new_citizen_without_javascript_gets_the_answer_and_a_notice_not_a_500(
    read_only_database: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = Client().post("/ask/", {"question": "Hallo", "ui_language": "de"})
    assert response.status_code == 200
    html = response.content.decode()
    assert _in("de", replies.GREETING) in html
    assert "technischen Problems nicht gespeichert" in html  # the notice, translated
    assert 'name="conversation" id="conversation" value=""' in html  # a follow-up starts afresh
    assert 'data-role="feedback"' not in html  # nothing stored, nothing to rate
    assert "sessionid" not in response.cookies
    assert "could not be stored" in caplog.text and "Hallo" not in caplog.text
    assert not Answer.objects.exists() and not Conversation.objects.exists()


def test_follow_up_in_a_stored_conversation_shows_it_with_the_new_answer() -> None:
    client = Client()
    assert client.post("/ask/", {"question": "Hello", "ui_language": "en"}).status_code == 200
    conversation = Conversation.objects.get()
    connection.ensure_connection()
    _apply(connection.connection, _read_only_sql(True))
    connection_created.connect(_on_new_connection)
    try:
        response = client.post(
            "/ask/", {"question": "Thank you", "ui_language": "en", "conversation": str(conversation.pk)}
        )
    finally:
        connection_created.disconnect(_on_new_connection)
        connection.ensure_connection()
        _apply(connection.connection, _read_only_sql(False))
    assert response.status_code == 200
    html = response.content.decode()
    assert _in("en", replies.GREETING) in html and _in("en", replies.THANKS) in html  # the old turn and the new
    assert "could not be saved because of a technical problem" in html
    assert list(Answer.objects.values_list("question", flat=True)) == ["Hello"]


def test_streamed_answer_reaches_done_on_a_read_only_database(read_only_database: None) -> None:
    async def ask() -> tuple[int, bytes]:
        response = await AsyncClient().post(
            "/ask/", {"question": "Moien", "ui_language": "lb"}, headers={"Accept": "text/event-stream"}
        )
        return response.status_code, b"".join([part async for part in response.streaming_content])  # type: ignore[attr-defined]

    status, raw = async_to_sync(ask)()
    body = raw.decode()
    assert status == 200
    assert body.rstrip().split("\n\n")[-1].startswith("event: done")
    assert '"answer_id": null' in body and "event: error" not in body


def test_feedback_on_a_read_only_database_is_refused_with_a_clear_message() -> None:
    client = Client()
    client.post("/ask/", {"question": "Hello", "ui_language": "en"})
    answer = Answer.objects.get()
    connection.ensure_connection()
    _apply(connection.connection, _read_only_sql(True))
    try:
        data = {"answer": answer.pk, "rating": "down", "reason": "unclear", "ui_language": "fr"}
        rated = client.post("/feedback/", data, headers={"Accept": "application/json"})
        page = client.post("/feedback/", data)
    finally:
        connection.ensure_connection()
        _apply(connection.connection, _read_only_sql(False))
    assert rated.status_code == 503 and rated.json()["outcome"] == "unavailable"
    assert rated.json()["message"] == _in("fr", "Your feedback could not be saved right now. Please try again later.")
    assert page.status_code == 503 and int(page["Retry-After"]) > 0
    assert "pas pu être enregistré" in page.content.decode()
    assert not Feedback.objects.exists()


def test_pages_that_only_read_keep_working() -> None:
    client = Client()
    client.post("/ask/", {"question": "Hello", "ui_language": "en"})
    conversation = Conversation.objects.get()
    connection.ensure_connection()
    _apply(connection.connection, _read_only_sql(True))
    switch_memo_clear(forget_state=True)
    try:
        page = client.get(f"/en/?conversation={conversation.pk}")
        export = client.get(f"/en/conversation/export/?conversation={conversation.pk}")
        ready = client.get("/readyz").json()
    finally:
        connection.ensure_connection()
        _apply(connection.connection, _read_only_sql(False))
    assert page.status_code == 200 and _in("en", replies.GREETING) in page.content.decode()
    assert export.status_code == 200 and "Hello" in export.content.decode()
    assert ready["checks"]["database"]["ok"]


@pytest.mark.django_db(transaction=False)  # the renamed table comes back with the test's rollback
def test_a_database_error_the_answer_cannot_survive_gives_a_translated_503_page(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Client()
    client.post("/ask/", {"question": "Hello", "ui_language": "fr"})
    conversation = Conversation.objects.get()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE assistant_answer RENAME TO assistant_answer_gone")
    response = client.post("/ask/", {"question": "Bonjour", "ui_language": "fr", "conversation": str(conversation.pk)})
    assert response.status_code == 503 and response["Retry-After"] == "60"
    html = response.content.decode()
    assert "Temporairement indisponible" in html
    assert "Traceback" not in html and "assistant_answer" not in html and "Error" not in html
    assert "answer page unavailable (database)" in caplog.text
