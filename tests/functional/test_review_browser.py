"""The admin's dashboard and unanswered-questions report in a real browser, as a Reviewer sees them:
charts and tables render under the strict CSP, axe-core finds no serious violation, and screenshots
are written to var/reports/screenshots/."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.functional.conftest import ROOT, LiveApp, axe_violations

SCREENSHOTS = ROOT / "var" / "reports" / "screenshots"
PASSWORD = "Reviewer-browser-test-1"

# Runs inside the live app's database (manage.py shell): a Reviewer, and eight weeks of questions.
SEED = """
import random
from datetime import datetime, time, timedelta
from django.contrib.auth.models import Group, User
from django.utils import timezone
from assistant.models import Answer, Conversation, Feedback

user = User.objects.create_user("reviewer", password=PASSWORD, is_staff=True)
user.groups.add(Group.objects.get(name="Reviewer"))
rng = random.Random(8)
today = timezone.localdate()
zone = timezone.get_current_timezone()
SOURCES = [
    {"number": 1, "document": "family-allowance.fr", "procedure": "family-allowance", "language": "fr",
     "title": "Allocations familiales", "section": "Conditions", "url": "https://guichet.public.lu/fr/family.html"},
    {"number": 2, "document": "birth-declaration.en", "procedure": "birth-declaration", "language": "en",
     "title": "Declaring a birth", "section": "Procedure", "url": "https://guichet.public.lu/en/birth.html"},
    {"number": 3, "document": "commune-registration.de", "procedure": "commune-registration", "language": "de",
     "title": "Anmeldung bei der Gemeinde", "section": "Ablauf", "url": "https://guichet.public.lu/de/anmeldung.html"},
]
UNANSWERED = [
    "How do I register my dog with the commune?", "Do I have to declare my dog to the municipality?",
    "Where can I register a new puppy?", "How can I get a fishing permit?", "Where do I buy a fishing licence?",
    "Comment renouveler mon passeport ?", "renouvellement passeport", "How do we get married at the town hall?",
]
conversation = Conversation.objects.create(session_key="browser-seed", ui_language="fr")

def at(day, hour):
    return datetime.combine(day, time(hour), tzinfo=zone)

for back in range(56):
    day = today - timedelta(days=back)
    for n in range(rng.randint(2, 9)):
        language = rng.choice(["fr", "fr", "de", "en", "lb"])
        status = rng.choice(["answered"] * 6 + ["routed", "verified", "rejected"])
        cited = rng.sample(SOURCES, 2)
        answer = Answer.objects.create(
            conversation=conversation, question=f"Question {back}-{n}", language=language, status=status,
            sources=cited, citations=[cited[0]["number"]],
            metrics={"generation": {"first_token_ms": rng.uniform(600, 2600)}} if status != "routed" else {},
        )
        Answer.objects.filter(pk=answer.pk).update(created_at=at(day, 8 + n))
        if rng.random() < 0.3:
            Feedback.objects.create(answer=answer, rating=rng.choice(["up", "up", "down"]))
for n, question in enumerate(UNANSWERED * 2):
    answer = Answer.objects.create(
        conversation=conversation, question=question, language="fr" if "passeport" in question else "en",
        status="declined" if n % 2 else "replaced", metrics={"reason": "below_threshold"},
    )
    # Up to yesterday: the test's range stops there, clear of what other browser tests ask today.
    Answer.objects.filter(pk=answer.pk).update(created_at=at(today - timedelta(days=3 * n + 1), 20))
"""


def _seed(live_app: LiveApp) -> None:
    """Write the rows with the project's own models, in the live app's database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": f"sqlite:///{live_app.db_path}",
        "VAR_DIR": str(live_app.db_path.parent / "var"),
        "DJANGO_SECRET_KEY": "browser-tests",
    }
    code = f"PASSWORD = {PASSWORD!r}\n{SEED}"
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True)


@pytest.fixture(scope="module")
def seeded(live_app: LiveApp) -> LiveApp:
    if not live_app.query("SELECT 1 FROM auth_user WHERE username = 'reviewer'"):
        _seed(live_app)
    return live_app


def _screenshot(page: Any, name: str) -> Path:
    """The whole page, with the admin's navigation sidebar folded (it is sticky: a full-page shot
    would show it halfway down)."""
    if page.locator("#main.shifted").count():
        page.click("#toggle-nav-sidebar")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _log_in(open_page: Any) -> Any:
    page, _watch = open_page("/admin/login/?next=/admin/")
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    return page


def test_reviewer_opens_the_dashboard_from_the_admin_index(open_page: Any, seeded: LiveApp) -> None:
    page = _log_in(open_page)
    page.click("#review-dashboard-link")
    page.wait_for_url("**/admin/review/dashboard/")

    for chart in ("chart-questions", "chart-outcomes", "chart-feedback", "chart-latency", "chart-procedures"):
        svg = page.locator(f"svg#{chart}")
        assert svg.is_visible(), chart
        box = svg.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, chart
        assert svg.get_attribute("role") == "img"
        assert page.locator(f"#{chart}-title").count() == 1
    # Bars were drawn with their colours from the stylesheet (not black: the CSS loaded under the CSP).
    bars = page.locator("svg#chart-questions rect.chart-s1")
    assert bars.count() > 10
    assert bars.first.evaluate("e => getComputedStyle(e).fill") == "rgb(213, 94, 0)"
    assert int(page.locator("#summary-questions").inner_text()) > 100
    # The three seeded procedures, plus any that the chat's browser tests had cited today.
    assert page.locator("#top-procedures tbody tr").count() >= 3

    page.click("#daily-table summary")
    assert page.locator("#daily-figures tbody tr").count() == 56
    assert axe_violations(page) == [], "dashboard"
    assert not page.evaluate("document.documentElement.scrollWidth > document.documentElement.clientWidth")
    page.click("#daily-table summary")  # closed again for the screenshot
    assert _screenshot(page, "review-dashboard").stat().st_size > 20_000

    csv = page.request.get(str(page.locator("#dashboard-csv-link").get_attribute("href")))
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text().splitlines()[0].startswith("date,questions,questions_lb")


def test_reviewer_sees_unanswered_questions_grouped_by_meaning(open_page: Any, seeded: LiveApp) -> None:
    page = _log_in(open_page)
    page.click("#review-unanswered-link")
    page.wait_for_url("**/admin/review/unanswered/")
    assert page.locator("#unanswered-summary").is_visible()

    # Up to yesterday: questions other browser tests of this session asked today stay out.
    yesterday = timezone.localdate() - timedelta(days=1)
    page.fill("#id_end", yesterday.isoformat())
    page.click("#report-filters input[type=submit]")
    page.wait_for_url(f"**end={yesterday.isoformat()}**")
    rows = page.locator("#unanswered-clusters tbody tr[data-role=cluster]")
    sizes = [int(s) for s in page.locator("#unanswered-clusters [data-role=size]").all_inner_texts()]
    # 16 questions on four topics (dogs, fishing, passport in French, a wedding). How many groups the
    # paraphrases make depends on the embedding backend (torch: 4, onnx-int8: 5); the grouping itself
    # is checked in tests/integration/test_review_reports.py. Here: all counted, largest first.
    assert 4 <= rows.count() <= 6 and sum(sizes) == 16 and sizes == sorted(sizes, reverse=True)
    first = rows.first.locator("[data-role=representative]").inner_text().lower()
    assert any(word in first for word in ("dog", "puppy", "fishing", "passeport"))
    assert page.locator("svg#chart-unanswered").is_visible()
    assert axe_violations(page) == [], "unanswered questions"

    page.select_option("#id_sort", "trend")
    page.click("#report-filters input[type=submit]")
    page.wait_for_url("**sort=trend**")
    assert page.locator("#unanswered-clusters tbody tr[data-role=cluster]").count() == rows.count()
    assert _screenshot(page, "review-unanswered").stat().st_size > 20_000
