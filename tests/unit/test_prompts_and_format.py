from __future__ import annotations

import re

import pytest

from assistant.prompts import PromptNotFound, answer_prompt_version, load_prompt
from assistant.types import LANGUAGES
from portal.templatetags.answer_format import answer_markup, render_answer

SOURCES: list[dict[str, object]] = [{"number": 1, "url": "https://guichet.public.lu/a.html"}]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_an_answer_prompt(language: str) -> None:
    assert "[1]" in load_prompt("answer", language, "v1")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_configured_answer_prompt_exists_in_every_language(language: str) -> None:
    """A question in any language, or a fallback to any, finds both templates of the version in use."""
    version = answer_prompt_version()
    assert "[2]" in load_prompt("answer", language, version) and "NO_ANSWER" in load_prompt("answer", language, version)
    template = load_prompt("answer_user", language, version)
    assert "Q" in template.format(sources="S", question="Q")
    assert "{" not in template.replace("{sources}", "").replace("{question}", "")


def test_missing_prompt_fails_loudly() -> None:
    with pytest.raises(PromptNotFound, match=re.escape("answer/xx.v1.txt")):
        load_prompt("answer", "xx", "v1")


def test_citations_become_links_and_html_is_escaped() -> None:
    html = render_answer("<script>x</script> Register **within 8 days** [1] [4].", SOURCES)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert '<a class="cite" href="https://guichet.public.lu/a.html" rel="noopener">[1]</a>' in html
    assert "[4]" not in html and "<strong>within 8 days</strong>" in html


def test_bullet_lists_are_rendered_as_lists() -> None:
    assert render_answer("- one [1]\n- two", SOURCES).startswith("<ul><li>one")


def test_a_fallback_notice_paragraph_keeps_the_question_language() -> None:
    text = "Ech äntweren op Däitsch.\n\nSie müssen sich anmelden [1].\n\nDanach…"
    html = answer_markup(text, {1: "#s1"}, lead_language="lb")
    assert html.startswith('<p lang="lb">Ech äntweren') and html.count("lang=") == 1
    assert "lang=" not in answer_markup("Sie müssen sich anmelden [1].", {1: "#s1"})
