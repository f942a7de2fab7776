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
