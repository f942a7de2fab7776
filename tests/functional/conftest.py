"""Browser tests: Debian's Chromium driven by Playwright against the real ASGI app under uvicorn.

The server runs in its own process (streaming is only real under ASGI) on a throw-away SQLite
database and index in tmp, with the demo knowledge base ingested and the real llama.cpp model.
The tests read that database directly (sqlite3) to check what was stored.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_URL = "/__test__/axe.min.js"  # same origin, so the strict CSP lets the page load it


@dataclass
class LiveApp:
    url: str
    db_path: Path
    log_path: Path

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as db:
            return db.execute(sql, params).fetchall()


@dataclass
class PageWatch:
    """What a page did that it must not: CSP violations, script errors, requests leaving the machine."""

    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    from django.conf import settings

    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: `make chromium` installs it")
        pytest.skip("/usr/bin/chromium is missing: run `make chromium`")
    tmp = tmp_path_factory.mktemp("live")
    db_path = tmp / "db.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "VAR_DIR": str(tmp / "var"),
        "DJANGO_SECRET_KEY": "browser-tests",
        "DATABASE_URL": f"sqlite:///{db_path}",
        "INDEX_DIR": str(tmp / "index"),
        "MEDIA_ROOT": str(tmp / "media"),
        "LLM_MODEL_PATH": str(settings.LLM_MODEL_PATH),
        # The model files the setup put on disk (GGUF and the embedder's ONNX export), shared read-only.
        "MODELS_DIR": str(settings.MODELS_DIR),
        "LLM_MAX_TOKENS": "120",  # short answers: the model is slow on CPU
        "HELPDESK_PHONE": "(+352) 247-82 000",
    }
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [python, "manage.py", "ingest", str(settings.DEMO_KB_DIR)], cwd=ROOT, env=env, check=True, capture_output=True
    )
    port = _free_port()
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [python, "-m", "tests.functional.serve", str(port)], cwd=ROOT, env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/en/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield LiveApp(url=url, db_path=db_path, log_path=log_path)
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert "network guard" not in log_path.read_text(), "the server tried to reach another machine"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Debian's Chromium: Playwright never downloads a browser here.
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Any, live_app: LiveApp) -> Iterator[Callable[..., tuple[Any, PageWatch]]]:
    """Open a page in a fresh browser context (its own cookies); each is checked when the test ends."""
    contexts: list[tuple[Any, PageWatch]] = []

    def open_(
        path: str = "/", *, width: int = 1280, javascript: bool = True, context: Any = None
    ) -> tuple[Any, PageWatch]:
        watch = PageWatch()
        if context is None:
            context = browser.new_context(
                base_url=live_app.url,
                viewport={"width": width, "height": 900},
                java_script_enabled=javascript,
                reduced_motion="reduce",
            )

            def route(route: Any) -> None:
                request_url = route.request.url
                if request_url.endswith(AXE_URL):
                    route.fulfill(path=str(AXE), content_type="text/javascript")
                elif request_url.startswith(live_app.url):
                    route.continue_()
                else:
                    watch.blocked_requests.append(request_url)
                    route.abort()

            context.route("**/*", route)
        page = context.new_page()
        page.on(
            "console",
            lambda m: watch.csp_violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
        page.goto(path)
        contexts.append((context, watch))
        return page, watch

    yield open_
    for context, watch in contexts:
        assert watch.csp_violations == [], "the page broke its Content Security Policy"
        assert watch.page_errors == [], "the page's script failed"
        assert watch.blocked_requests == [], "the page asked for a resource from another site"
        context.close()


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations (WCAG 2.0/2.1 A and AA) on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_URL)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})", AXE_TAGS
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


PHASE_RECORDER = """
() => {
  window.__timeline = [];
  const thread = document.getElementById('thread');
  const snap = () => {
    const turn = thread.querySelector('[data-role=turn]:last-of-type');
    if (!turn) return;
    const entry = {
      phase: turn.dataset.phase,
      sources: turn.querySelectorAll('[data-role=source-list] li').length,
      answer: turn.querySelector('[data-role=answer]').textContent.length,
    };
    const last = window.__timeline[window.__timeline.length - 1];
    if (!last || last.phase !== entry.phase || last.sources !== entry.sources || last.answer !== entry.answer) {
      window.__timeline.push(entry);
    }
  };
  new MutationObserver(snap).observe(thread, {subtree: true, childList: true, characterData: true, attributes: true});
}
"""


def record_timeline(page: Any) -> None:
    """Record, as the page changes, the last turn's phase, number of sources and answer length."""
    page.evaluate(PHASE_RECORDER)


def timeline(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate("window.__timeline"))


def last_turn(page: Any) -> Any:
    return page.locator("#thread [data-role=turn]").last


def wait_for_phase(page: Any, phases: str, timeout_s: float = 120) -> str:
    """Wait until the last turn is in one of ``phases`` (space-separated) and return it."""
    wanted = phases.split()
    page.wait_for_function(
        "wanted => { const t = document.querySelectorAll('#thread [data-role=turn]');"
        " return t.length && wanted.includes(t[t.length - 1].dataset.phase); }",
        arg=wanted,
        timeout=timeout_s * 1000,
    )
    return str(last_turn(page).get_attribute("data-phase"))


def screenshot(page: Any, name: str) -> Path:
    path = ARTIFACTS / "screenshots" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
