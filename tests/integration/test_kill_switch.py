"""The kill switch: an Editor takes the public chat offline in the admin (audited), citizens get a
translated 503 maintenance page, the admin stays reachable; real database, real admin, real views."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from assistant.models import Answer, Feedback
from portal.maintenance import chat_offline, switch_memo_clear
from portal.models import ServiceSwitch

pytestmark = pytest.mark.django_db
CHANGE_URL = "/admin/portal/serviceswitch/1/change/"


@pytest.fixture(autouse=True)
def _fresh_switch_memo() -> Iterator[None]:
    switch_memo_clear(forget_state=True)
    yield
    switch_memo_clear(forget_state=True)


def _fr(message: str) -> str:
    """The admin has no language prefix: it speaks the site's default language, French."""
    with translation.override("fr"):
        return str(translation.gettext(message))


def _staff(name: str, group: str) -> Client:
    user = User.objects.create_user(name, password="A long passphrase 4 tests", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


def _set(client: Client, *, offline: bool, reason: str) -> Any:
    data = {"reason": reason, **({"chat_offline": "on"} if offline else {})}
    return client.post(CHANGE_URL, data, follow=True)


def test_the_switch_exists_after_migrate_online_and_editors_may_change_it() -> None:
    switch = ServiceSwitch.objects.get()
    assert switch.pk == 1 and not switch.chat_offline and not chat_offline()
    editor = Group.objects.get(name="Editor").permissions.values_list("codename", flat=True)
    assert {"change_serviceswitch", "view_serviceswitch", "view_historicalserviceswitch"} <= set(editor)
    reviewer = Group.objects.get(name="Reviewer").permissions.values_list("codename", flat=True)
    assert "view_serviceswitch" in reviewer and "change_serviceswitch" not in reviewer


def test_offline_chat_page_ask_feedback_and_export_answer_503_translated_while_the_admin_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    citizen = Client()
    assert citizen.post("/ask/", {"question": "Hello", "ui_language": "en"}).status_code == 200
    answer = Answer.objects.get()
    editor = _staff("editor", "Editor")

    caplog.set_level(logging.INFO)
    changed = _set(editor, offline=True, reason="Wrong answers about family allowances: incident 42")
    assert changed.status_code == 200
    assert _fr("The public chat is offline: citizens see the maintenance page.") in changed.content.decode()
    assert ServiceSwitch.objects.get().chat_offline

    page = citizen.get("/de/")
    assert page.status_code == 503 and page["Retry-After"] == "900"
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert "Wartung" in html and 'lang="de"' in html
    assert 'id="ask-form"' not in html and "incident 42" not in html  # the operator's reason stays internal

    ask = citizen.post("/ask/", {"question": "Moien, wéi geet et?", "ui_language": "lb"})
    assert ask.status_code == 503 and ask["Retry-After"] == "900"
    assert "Wartung" in ask.content.decode() and 'lang="lb"' in ask.content.decode()

    stream = citizen.post(
        "/ask/", {"question": "Bonjour", "ui_language": "fr"}, headers={"Accept": "text/event-stream"}
    )
    assert stream.status_code == 503 and stream["Content-Type"].startswith("text/event-stream")
    body = stream.content.decode()
    assert body.startswith("event: error\n") and '"reason": "maintenance"' in body and "maintenance" in body
    assert Answer.objects.count() == 1  # no question was taken while offline

    rated = citizen.post(
        "/feedback/", {"answer": answer.pk, "rating": "up", "ui_language": "en"}, headers={"Accept": "application/json"}
    )
    assert rated.status_code == 503 and rated.json()["outcome"] == "maintenance"
    assert "offline for maintenance" in rated.json()["message"] and not Feedback.objects.exists()

    export = citizen.get(f"/en/conversation/export/?conversation={answer.conversation_id}")
    assert export.status_code == 503 and "Content-Disposition" not in export

    # What stays up: the admin, the privacy page, the health endpoints.
    assert editor.get("/admin/").status_code == 200
    assert citizen.get("/en/about/").status_code == 200
    assert citizen.get("/healthz").status_code == 200

    back = _set(editor, offline=False, reason="Prompt fixed and checked by the team")
    assert _fr("The public chat is online.") in back.content.decode()
    assert citizen.get("/de/").status_code == 200
    assert citizen.post("/ask/", {"question": "Hello", "ui_language": "en"}).status_code == 200
    assert "kill switch: public chat offline" in caplog.text and "kill switch: public chat online" in caplog.text


def test_every_change_is_audited_with_who_when_and_why() -> None:
    editor = _staff("editor", "Editor")
    _set(editor, offline=True, reason="Model gives outdated tax answers")
    _set(editor, offline=False, reason="Tax pages re-ingested")
    history = list(ServiceSwitch.history.order_by("history_date"))  # type: ignore[attr-defined]
    changes = [h for h in history if h.history_user is not None]
    assert [(h.chat_offline, h.reason, h.history_user.username) for h in changes] == [
        (True, "Model gives outdated tax answers", "editor"),
        (False, "Tax pages re-ingested", "editor"),
    ]
    assert all(h.history_date is not None for h in changes)
    assert changes[0].history_change_reason == "Model gives outdated tax answers"
    page = editor.get("/admin/portal/serviceswitch/1/history/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Model gives outdated tax answers" in html and "Tax pages re-ingested" in html and "editor" in html


def test_a_reason_is_required_and_the_switch_cannot_be_deleted_or_duplicated() -> None:
    editor = _staff("editor", "Editor")
    form = editor.get(CHANGE_URL).content.decode()
    assert 'name="reason"' in form
    refused = editor.post(CHANGE_URL, {"chat_offline": "on", "reason": ""})
    assert refused.status_code == 200 and not ServiceSwitch.objects.get().chat_offline  # form shown again
    assert editor.get("/admin/portal/serviceswitch/").status_code == 302  # the list goes to the one switch
    assert editor.get("/admin/portal/serviceswitch/add/").status_code == 403
    assert editor.post("/admin/portal/serviceswitch/1/delete/", {"post": "yes"}).status_code == 403
    assert ServiceSwitch.objects.count() == 1


def test_reviewers_see_the_switch_but_cannot_turn_it() -> None:
    reviewer = _staff("reviewer", "Reviewer")
    assert reviewer.get(CHANGE_URL).status_code == 200
    reviewer.post(CHANGE_URL, {"chat_offline": "on", "reason": "Reviewer tries"})
    assert not ServiceSwitch.objects.get().chat_offline
    assert Client().get("/en/").status_code == 200


def test_the_check_reads_the_database_at_most_once_per_cache_period(settings: Any) -> None:
    settings.KILL_SWITCH_CACHE_S = 60
    client = Client()
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert client.get("/en/").status_code == 200
    assert sum("portal_serviceswitch" in q["sql"] for q in queries.captured_queries) == 1
    # Changed behind this process's back (another web process's admin): seen once the period ends.
    ServiceSwitch.objects.update(chat_offline=True)
    assert client.get("/en/").status_code == 200  # still the remembered state
    switch_memo_clear()  # what the end of the period does
    assert client.get("/en/").status_code == 503


def test_an_unreadable_switch_fails_open_and_keeps_the_last_known_state(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The switch table taken away for real (renamed; rolled back with the test's transaction)."""
    settings.KILL_SWITCH_CACHE_S = 0
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE portal_serviceswitch RENAME TO portal_serviceswitch_gone")
    assert Client().get("/en/").status_code == 200  # never read: open
    assert "kill switch unreadable" in caplog.text
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE portal_serviceswitch_gone RENAME TO portal_serviceswitch")
    ServiceSwitch.objects.update(chat_offline=True)
    assert Client().get("/en/").status_code == 503  # read: offline
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE portal_serviceswitch RENAME TO portal_serviceswitch_gone")
    assert Client().get("/en/").status_code == 503  # unreadable again: the last state read is kept
