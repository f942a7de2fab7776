from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("prefix", "lang"), [("/", "fr"), ("/lb/", "lb"), ("/de/", "de"), ("/en/", "en")])
def test_chat_page_in_every_language(prefix: str, lang: str) -> None:
    response = Client().get(prefix)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html
    assert 'id="ask-form"' in html and 'name="csrfmiddlewaretoken"' in html
    assert "<script>" not in html  # no inline script: the page works under a strict CSP
    assert "http://" not in html.replace("http://testserver", "")  # no third-party assets


def test_ask_requires_csrf_token() -> None:
    response = Client(enforce_csrf_checks=True).post("/ask/", {"question": "Bonjour"})
    assert response.status_code == 403


def test_empty_question_gets_a_clear_message_without_javascript() -> None:
    response = Client().post("/ask/", {"question": "", "ui_language": "en"})
    assert response.status_code == 200
    assert "Please type a question." in response.content.decode()


def test_pages_send_a_strict_content_security_policy() -> None:
    for path in ("/", "/en/about/"):
        policy = Client().get(path)["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_templates_have_no_inline_script_or_style() -> None:
    import re as _re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    for template in [*root.glob("*.html"), *root.glob("chat/*.html")]:
        text = template.read_text()
        assert " style=" not in text and "<style" not in text, template
        assert not _re.search(r"<script(?![^>]*\bsrc=)", text), template


def test_language_switcher_translates_the_current_page_url() -> None:
    client = Client(headers={"Accept-Language": "fr"})
    response = client.post("/en/i18n/setlang/", {"language": "de", "next": "/en/about/"})
    assert response.status_code == 302 and response["Location"] == "/de/about/"
    assert client.cookies["django_language"].value == "de"


def test_root_sends_a_returning_citizen_to_the_language_they_chose() -> None:
    client = Client()
    client.post("/i18n/setlang/", {"language": "de", "next": "/"})
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/de/"
    client.post("/i18n/setlang/", {"language": "fr", "next": "/de/"})
    assert client.get("/").status_code == 200


def test_privacy_page_says_what_is_stored_for_how_long_and_who_to_call() -> None:
    html = Client().get("/en/about/").content.decode()
    assert "deleted 90 days after they started" in html
    assert "never leave them" in html
    assert 'href="tel:+35224782000"' in html


def _answered(client: Client) -> int:
    """A question answered without the model (a greeting gets a fixed reply); returns the answer id."""
    from assistant.models import Answer

    response = client.post("/ask/", {"question": "Hello", "ui_language": "en"})
    assert response.status_code == 200
    return Answer.objects.latest("created_at").pk


def test_thumbs_down_with_reason_and_comment_is_stored_with_the_answer() -> None:
    from assistant.models import Feedback

    client = Client()
    answer_id = _answered(client)
    response = client.post(
        "/feedback/",
        {"answer": answer_id, "rating": "down", "reason": "unclear", "comment": "Too vague.", "ui_language": "fr"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "outcome": "saved", "message": "Merci pour votre avis."}
    feedback = Feedback.objects.get(answer_id=answer_id)
    assert (feedback.rating, feedback.reason, feedback.comment) == ("down", "unclear", "Too vague.")
    # Changing one's mind to a thumbs up keeps one verdict, without the complaint.
    client.post("/feedback/", {"answer": answer_id, "rating": "up"}, headers={"Accept": "application/json"})
    feedback.refresh_from_db()
    assert (feedback.rating, feedback.reason, feedback.comment) == ("up", "", "")


def test_feedback_comment_with_personal_data_is_refused_in_the_interface_language_and_never_stored() -> None:
    from assistant.models import Feedback

    client = Client()
    answer_id = _answered(client)
    response = client.post(
        "/feedback/",
        {"answer": answer_id, "rating": "down", "reason": "other", "comment": "IBAN LU28 0019 4006 4475 0000"},
        headers={"Accept": "application/json"},
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert response.status_code == 400
    assert response.json()["outcome"] == "pii"
    assert not Feedback.objects.exists()
    no_js = client.post(
        "/feedback/", {"answer": answer_id, "rating": "down", "comment": "mail me: a@b.lu", "ui_language": "lb"}
    )
    assert no_js.status_code == 400
    html = no_js.content.decode()
    assert "perséinlech Donnéeën" in html and "a@b.lu" in html  # shown back so it can be edited out
    assert not Feedback.objects.exists()


def test_feedback_on_another_sessions_answer_is_refused() -> None:
    from assistant.models import Feedback

    answer_id = _answered(Client())
    response = Client().post(
        "/feedback/", {"answer": answer_id, "rating": "up"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 404
    assert not Feedback.objects.exists()


def test_no_javascript_answer_page_shows_the_whole_conversation_and_a_way_to_a_person() -> None:
    client = Client()
    first = client.post("/ask/", {"question": "Hello", "ui_language": "en"})
    conversation = first.context["conversation_id"]
    response = client.post("/ask/", {"question": "Thanks", "ui_language": "en", "conversation": conversation})
    html = response.content.decode()
    assert response.context["conversation_id"] == conversation
    assert html.index(">Hello<") < html.index(">Thanks<")  # both turns, oldest first
    assert 'class="helpdesk"' in html and 'href="tel:+35224782000"' in html
    assert 'action="/feedback/"' in html and 'value="outdated"' in html


def test_conversations_are_purged_after_the_retention_period() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from assistant.models import Answer, Conversation
    from assistant.retention import conversations_purge

    old = Conversation.objects.create(session_key="s", ui_language="en")
    Conversation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=91))
    Answer.objects.create(conversation=old, question="old")
    recent = Conversation.objects.create(session_key="s", ui_language="en")
    conversations_purge()
    assert list(Conversation.objects.all()) == [recent]
    assert not Answer.objects.filter(question="old").exists()


def test_a_template_that_needs_an_inline_script_gets_a_nonce_and_others_do_not() -> None:
    from csp.middleware import CSPMiddleware
    from django.http import HttpResponse
    from django.template import engines
    from django.test import RequestFactory

    def with_nonce(request: object) -> HttpResponse:
        html = (
            engines["django"]
            .from_string('<script nonce="{{ request.csp_nonce }}"></script>')
            .render(
                request=request  # type: ignore[arg-type]
            )
        )
        return HttpResponse(html)

    request = RequestFactory().get("/")
    response = CSPMiddleware(with_nonce)(request)
    nonce = str(request.csp_nonce)  # type: ignore[attr-defined]
    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"] and nonce in response.content.decode()
    plain = Client().get("/en/")["Content-Security-Policy"]
    assert "nonce-" not in plain and "unsafe-inline" not in plain


def test_a_fallback_answer_is_marked_german_with_its_notice_marked_luxembourgish() -> None:
    """Screen readers switch voice: the German body has lang="de", the Luxembourgish notice lang="lb"."""
    from assistant.models import Answer, Conversation

    client = Client()
    assert client.post("/ask/", {"question": "Moien", "ui_language": "lb"}).status_code == 200
    conversation = Conversation.objects.get()
    Answer.objects.create(
        conversation=conversation,
        question="Wéini muss ech eng Gebuert umellen?",
        text="Ech äntweren op Däitsch.\n\nSie müssen die Geburt innerhalb von fünf Tagen melden.",
        language="lb",
        status="answered",
        metrics={"answer_language": "de"},
    )
    page = client.get(f"/lb/?conversation={conversation.pk}").content.decode()
    assert '<div class="answer" data-role="answer" lang="de"><p lang="lb">Ech äntweren op Däitsch.</p><p>Sie' in page
    assert 'data-role="answer" lang="lb"><p>' in page, "the greeting's turn stays Luxembourgish"
