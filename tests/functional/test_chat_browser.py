"""The citizen's chat in a real browser: four languages, streamed answers, sources first, feedback,
stop, queue, keyboard only, no JavaScript, accessibility (axe-core) and screenshots."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.functional.conftest import (
    LiveApp,
    axe_violations,
    last_turn,
    record_timeline,
    screenshot,
    timeline,
    wait_for_phase,
)

LANGUAGES = ["lb", "fr", "de", "en"]
QUESTIONS = {
    "lb": ("Wéi kann ech mäi Féierschäin ëmtauschen?", "driving-licence-exchange"),
    "fr": ("Qui a droit aux allocations familiales ?", "family-allowance"),
    "de": ("Wie melde ich mich bei der Gemeinde an?", "commune-registration"),
    "en": ("How do I register a birth?", "birth-declaration"),
}
HTML_LANG = re.compile(r"^(lb|fr|de|en)$")


def _path(language: str, page: str = "") -> str:
    return ("/" if language == "fr" else f"/{language}/") + page


def _ask(page: Any, question: str) -> None:
    page.fill("#question", question)
    page.click("#ask-button")


def _no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


@pytest.mark.real_model
@pytest.mark.parametrize("language", ["lb", "fr", "de"])
def test_question_in_each_language_shows_sources_then_streams_an_answer_in_that_language(
    open_page: Any, live_app: LiveApp, language: str
) -> None:
    question, procedure = QUESTIONS[language]
    page, _watch = open_page(_path(language))
    assert page.get_attribute("html", "lang") == language
    assert axe_violations(page) == [], "empty chat page"
    record_timeline(page)
    _ask(page, question)

    wait_for_phase(page, "streaming done")
    streaming_violations = axe_violations(page)  # the page mid-answer, or just after
    assert wait_for_phase(page, "done") == "done"
    assert streaming_violations == [], "streaming chat page"
    assert axe_violations(page) == [], "answered chat page"

    steps = timeline(page)
    first_sources = next(i for i, s in enumerate(steps) if s["sources"])
    first_text = next(i for i, s in enumerate(steps) if s["answer"])
    assert first_sources < first_text, "sources appear before the first word of the answer"
    (raw_output,) = live_app.query("SELECT raw_output FROM assistant_answer ORDER BY id DESC LIMIT 1")[0]
    if not raw_output.strip().startswith("NO_ANSWER"):  # the small model sometimes declines: nothing streams
        partial_lengths = {s["answer"] for s in steps if s["phase"] == "streaming" and s["answer"]}
        assert len(partial_lengths) >= 2, f"the answer is rendered progressively: {steps}"

    turn = last_turn(page)
    sources = turn.locator("[data-role=source]")
    assert sources.count() >= 1
    first = sources.first
    assert first.locator("[data-role=link]").inner_text()
    assert first.locator("[data-role=language]").inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(first.locator("time").get_attribute("datetime")))

    rows = live_app.query("SELECT language, status, sources FROM assistant_answer ORDER BY id DESC LIMIT 1")
    stored_language, status, stored_sources = rows[0]
    assert stored_language == language, "the answer follows the question's language"
    assert status in {"answered", "replaced", "declined"}
    assert procedure in stored_sources
    answer_box = turn.locator("[data-role=answer]")
    (metrics,) = live_app.query("SELECT metrics FROM assistant_answer ORDER BY id DESC LIMIT 1")[0]
    body_language = (json.loads(metrics) if isinstance(metrics, str) else metrics)["answer_language"]
    assert answer_box.get_attribute("lang") == body_language
    if body_language != language:  # a fallback answer (lb -> de): its notice keeps the question's language
        assert status == "answered" and answer_box.locator("p").first.get_attribute("lang") == language

    if language in {"lb", "fr"}:
        screenshot(page, f"chat-{language}-1280")
        page.set_viewport_size({"width": 320, "height": 800})
        assert _no_horizontal_scroll(page), "nothing is cut off at 320 px"
        screenshot(page, f"chat-{language}-320")


@pytest.mark.real_model
def test_english_journey_citation_feedback_follow_up_new_conversation_and_language_switch(
    open_page: Any, live_app: LiveApp
) -> None:
    page, _watch = open_page("/en/")
    assert page.locator(".disclosure").is_visible()  # the AI disclosure
    record_timeline(page)
    # A suggested starter asks at once.
    page.get_by_role("button", name=QUESTIONS["en"][0]).click()
    wait_for_phase(page, "streaming done")
    assert axe_violations(page) == [], "streaming chat page"
    assert wait_for_phase(page, "done") == "done"
    assert axe_violations(page) == [], "answered chat page"
    steps = timeline(page)
    assert next(i for i, s in enumerate(steps) if s["sources"]) < next(i for i, s in enumerate(steps) if s["answer"])
    assert len({s["answer"] for s in steps if s["phase"] == "streaming" and s["answer"]}) >= 2, steps
    turn = last_turn(page)
    assert turn.get_by_role("link", name=re.compile("helpdesk|contact page", re.I)).count() >= 1

    # Citations link to their source in the sources panel.
    cites = turn.locator("a.cite")
    if cites.count():
        target = str(cites.first.get_attribute("href"))
        cites.first.click()
        assert page.evaluate("location.hash") == target
        assert page.locator(target).is_visible()

    # Thumbs down with a reason; a comment with personal data is refused and never stored.
    turn.locator("[data-role=down-summary]").click()
    turn.get_by_label("The information is out of date").check()
    turn.locator("[data-role=comment]").fill("Call me on +352 621 123 456")
    turn.locator("[data-role=send-down]").click()
    message = turn.locator("[data-role=feedback-message]")
    message.filter(has_text="personal data").wait_for()
    assert live_app.query("SELECT COUNT(*) FROM assistant_feedback") == [(0,)]
    turn.locator("[data-role=comment]").fill("The fee changed last year.")
    turn.locator("[data-role=send-down]").click()
    message.filter(has_text="Thank you").wait_for()
    answer_id = int(str(turn.locator("[data-role=answer-id]").input_value()))
    assert live_app.query("SELECT rating, reason, comment FROM assistant_feedback WHERE answer_id = ?", answer_id) == [
        ("down", "outdated", "The fee changed last year.")
    ]

    # Copy the answer.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    turn.locator("[data-role=copy]").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied and "Source [" not in copied

    # A follow-up stays in the same conversation.
    conversation = page.input_value("#conversation")
    _ask(page, "And which documents do I need?")
    assert wait_for_phase(page, "done error") == "done"
    assert page.locator("#thread [data-role=turn]").count() == 2
    assert page.input_value("#conversation") == conversation
    assert live_app.query(
        "SELECT COUNT(*) FROM assistant_answer WHERE replace(conversation_id, '-', '') = ?",
        conversation.replace("-", ""),
    ) == [(2,)]

    # A new conversation starts empty.
    page.get_by_role("link", name="New conversation").click()
    page.wait_for_load_state()
    assert page.locator("#thread [data-role=turn]").count() == 0
    assert page.input_value("#conversation") == ""

    # Switch the interface language; the choice is remembered on the next visit.
    page.select_option("#lang-select", "de")
    page.get_by_role("button", name="Change language").click()
    page.wait_for_url(re.compile(r"/de/"))
    assert page.get_attribute("html", "lang") == "de"
    assert page.get_by_label("Ihre Frage").is_visible()
    page.goto("/")
    assert page.url.endswith("/de/")


@pytest.mark.real_model
def test_busy_model_shows_queue_position_and_stop_cancels_the_answer(open_page: Any, live_app: LiveApp) -> None:
    first, _ = open_page("/")
    second, _ = open_page("/en/")
    _ask(first, QUESTIONS["fr"][0])
    wait_for_phase(first, "streaming")
    _ask(second, "How do I exchange a foreign driving licence?")
    progress = last_turn(second).locator("[data-role=progress]")
    progress.filter(has_text="1 question ahead of yours").wait_for(timeout=30_000)
    assert last_turn(second).get_attribute("data-phase") == "queued"

    first.click("#stop-button")
    assert wait_for_phase(first, "stopped") == "stopped"
    assert first.locator("#stop-button").is_hidden()
    assert wait_for_phase(second, "done") == "done"  # the queue moved on
    first_id = live_app.query("SELECT id, status FROM assistant_answer WHERE question = ?", QUESTIONS["fr"][0])
    assert first_id and first_id[-1][1] == "cancelled", "the server stopped generating"


def test_keyboard_only_journey_with_visible_focus(open_page: Any, live_app: LiveApp) -> None:
    page, _watch = open_page("/en/")

    def focused() -> dict[str, str]:
        return dict(
            page.evaluate(
                "() => { const e = document.activeElement; const s = getComputedStyle(e);"
                " return {id: e.id, role: e.dataset.role || '', tag: e.tagName,"
                " text: e.textContent.trim().slice(0, 40),"
                " outline: s.outlineStyle, shadow: s.boxShadow}; }"
            )
        )

    def tab_to(predicate: Any, limit: int = 40, key: str = "Tab") -> dict[str, str]:
        for _ in range(limit):
            page.keyboard.press(key)
            current = focused()
            assert current["outline"] != "none" or current["shadow"] != "none", f"focus is visible on {current}"
            if predicate(current):
                return current
        raise AssertionError("not reachable with the keyboard")

    page.keyboard.press("Tab")
    assert focused()["text"] == "Skip to content"
    page.keyboard.press("Enter")
    tab_to(lambda f: f["id"] == "question")
    page.keyboard.type("Hello")
    tab_to(lambda f: f["id"] == "ask-button")
    page.keyboard.press("Enter")
    assert wait_for_phase(page, "done", timeout_s=60) == "done"
    assert last_turn(page).locator("[data-role=answer]").inner_text()
    # The answer is above the question box: back up to it.
    tab_to(lambda f: f["role"] == "copy", key="Shift+Tab")
    tab_to(lambda f: f["role"] == "up")
    tab_to(lambda f: f["role"] == "down-summary")
    page.keyboard.press("Enter")  # opens the reasons
    tab_to(lambda f: f["tag"] == "INPUT")
    page.keyboard.press("ArrowDown")  # radios: arrows move the choice
    tab_to(lambda f: f["role"] == "comment")
    page.keyboard.type("Not what I asked.")
    tab_to(lambda f: f["role"] == "send-down")
    page.keyboard.press("Enter")
    last_turn(page).locator("[data-role=feedback-message]").filter(has_text="Thank you").wait_for()
    rows = live_app.query("SELECT rating, reason, comment FROM assistant_feedback ORDER BY id DESC LIMIT 1")
    assert rows == [("down", "outdated", "Not what I asked.")]


@pytest.mark.parametrize("language", LANGUAGES)
def test_privacy_page_and_empty_chat_have_no_serious_accessibility_violations(open_page: Any, language: str) -> None:
    page, _watch = open_page(_path(language, "about/"))
    assert page.get_attribute("html", "lang") == language
    assert page.locator("main h1").count() == 1
    assert page.locator("footer a[href^='tel:']").count() == 1
    assert axe_violations(page) == [], "privacy page"
    page.goto(_path(language))
    assert axe_violations(page) == [], "empty chat page"
    page.set_viewport_size({"width": 320, "height": 800})
    assert _no_horizontal_scroll(page)


def test_without_javascript_a_form_post_returns_the_answer_page_with_feedback(
    open_page: Any, live_app: LiveApp
) -> None:
    page, _watch = open_page("/de/", javascript=False)
    page.fill("#question", "Hallo")
    page.click("#ask-button")
    page.wait_for_url(re.compile(r"/ask/$"))
    assert page.get_attribute("html", "lang") == "de"
    assert page.locator("h1").inner_text() == "Ihre Antwort"
    turn = last_turn(page)
    assert turn.locator("[data-role=question-text]").inner_text() == "Hallo"
    assert turn.locator("[data-role=answer]").inner_text()
    assert turn.locator(".helpdesk a[href^='tel:']").count() == 1
    # The follow-up form carries the conversation on.
    assert page.input_value("#conversation")
    # Feedback without JavaScript: a thumbs up posts and shows a thank-you page.
    turn.locator("[data-role=up]").click()
    assert page.locator(".feedback-message").inner_text().startswith("Danke")
    assert live_app.query("SELECT rating FROM assistant_feedback ORDER BY id DESC LIMIT 1") == [("up",)]
    page.get_by_role("link", name="Zurück zur Unterhaltung").click()
    assert page.locator("#thread [data-role=turn]").count() == 1


@pytest.mark.real_model
def test_without_javascript_a_real_question_gets_sources_and_an_answer(open_page: Any) -> None:
    page, _watch = open_page("/en/", javascript=False)
    # A starter is a plain submit button; the answer page arrives once the model has finished.
    page.get_by_role("button", name=QUESTIONS["en"][0]).click(timeout=300_000)
    page.wait_for_url(re.compile(r"/ask/$"), timeout=300_000)
    turn = last_turn(page)
    assert turn.locator("[data-role=source]").count() >= 1
    assert turn.locator("[data-role=answer]").inner_text()
