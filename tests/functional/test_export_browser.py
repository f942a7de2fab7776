"""Exporting one's own conversation in a real browser: the link appears after a streamed answer (chat
script) and on the answer page without JavaScript; the download holds the conversation."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.functional.conftest import LiveApp, wait_for_phase


def test_after_a_streamed_answer_the_export_link_downloads_the_conversation(
    open_page: Any, live_app: LiveApp, tmp_path: Any
) -> None:
    page, _watch = open_page("/de/")
    export = page.locator("#export-conversation")
    assert export.is_hidden()  # nothing to export yet
    page.fill("#question", "Hallo")  # a greeting: answered without the model
    page.click("#ask-button")
    assert wait_for_phase(page, "done error") == "done"
    assert export.is_visible()
    conversation = page.input_value("#conversation")
    assert conversation and conversation in str(page.get_attribute("#export-text", "href"))
    with page.expect_download() as download_info:
        page.click("#export-text")
    download = download_info.value
    assert re.fullmatch(r"guichet-assistant-\d{4}-\d{2}-\d{2}\.txt", download.suggested_filename)
    path = tmp_path / "export.txt"
    download.save_as(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("Guichet Assistant: Ihre Unterhaltung") and "Frage 1" in text and "Hallo" in text
    with page.expect_download() as json_info:
        page.click("#export-json")
    json_path = tmp_path / "export.json"
    json_info.value.save_as(json_path)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["conversation"] == conversation and data["turns"][0]["question"] == "Hallo"


def test_without_javascript_the_answer_page_links_to_the_export(open_page: Any, live_app: LiveApp) -> None:
    page, _watch = open_page("/en/", javascript=False)
    page.fill("#question", "Hello")
    page.click("#ask-button")
    page.wait_for_url(re.compile(r"/ask/$"))
    assert page.locator("#export-conversation").is_visible()
    with page.expect_download() as download_info:
        page.click("#export-text")
    assert download_info.value.suggested_filename.endswith(".txt")
