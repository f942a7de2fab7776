"""Admin login lockout with django-axes, through the real admin login form and the real database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.utils import translation

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "Correct horse battery staple 7"


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)


@pytest.fixture
def clerk() -> User:
    return User.objects.create_user("clerk", password=PASSWORD, is_staff=True)


def _fr(message: str) -> str:
    with translation.override("fr"):  # the admin has no language prefix: the site's default language
        return str(translation.gettext(message))


def _login(username: str, password: str, ip: str = "203.0.113.10") -> Any:
    return Client().post(LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip)


def _logged_in(response: Any) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


def test_correct_login_works_and_a_few_failures_do_not_lock(clerk: User) -> None:
    assert _login("clerk", "wrong").status_code == 200  # the form again, with its error
    assert _logged_in(_login("clerk", PASSWORD))
    # A success resets the count: two more failures are still under the limit of three.
    for _ in range(2):
        assert _login("clerk", "wrong").status_code == 200
    assert _logged_in(_login("clerk", PASSWORD))


def test_repeated_failures_lock_the_account_even_with_the_right_password_and_operators_see_it(
    clerk: User, admin_user: User
) -> None:
    responses = [_login("clerk", f"guess-{n}") for n in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    locked = responses[-1]
    html = locked.content.decode()
    assert _fr("Login blocked") in html and "30" in html and locked["Retry-After"] == "1800"
    assert "clerk" not in html and "guess-" not in html  # nothing about which name or limit matched

    refused = _login("clerk", PASSWORD)
    assert refused.status_code == 429 and "_auth_user_id" not in refused.wsgi_request.session
    # Locked by user name: the right password from another address is refused too.
    assert _login("clerk", PASSWORD, ip="198.51.100.20").status_code == 429
    # Locked by address: another account from the attacker's address is refused.
    User.objects.create_user("other", password=PASSWORD, is_staff=True)
    assert _login("other", PASSWORD).status_code == 429
    # ... while that account still logs in from elsewhere.
    assert _logged_in(_login("other", PASSWORD, ip="198.51.100.30"))

    attempt = AccessAttempt.objects.get(username="clerk", ip_address="203.0.113.10")
    assert attempt.failures_since_start >= 3
    assert "guess-" not in attempt.post_data and PASSWORD not in attempt.post_data  # passwords are never kept
    operator = Client()
    operator.force_login(admin_user)
    listing = operator.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "clerk" in listing.content.decode() and "203.0.113.10" in listing.content.decode()

    # An operator unlocks the account by deleting its attempts; the right password works again.
    AccessAttempt.objects.filter(username="clerk").delete()
    assert _logged_in(_login("clerk", PASSWORD, ip="198.51.100.20"))


def test_the_lockout_ends_after_the_cool_off(clerk: User, settings: Any) -> None:
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)
    for n in range(3):
        _login("clerk", f"guess-{n}")
    assert _login("clerk", PASSWORD).status_code == 429
    time.sleep(2.5)
    assert _logged_in(_login("clerk", PASSWORD))


def test_the_lockout_uses_the_trusted_proxy_address_not_a_forged_header(clerk: User, settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(3):  # a forged left-hand entry changes each time; our proxy's entry does not
        Client().post(
            LOGIN,
            {"username": f"nobody{n}", "password": "x", "next": "/admin/"},
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, 203.0.113.77",
        )
    assert AccessAttempt.objects.filter(ip_address="203.0.113.77").count() == 3
    blocked = Client().post(
        LOGIN,
        {"username": "clerk", "password": PASSWORD, "next": "/admin/"},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="6.6.6.99, 203.0.113.77",
    )
    assert blocked.status_code == 429


def test_the_admin_is_for_staff_only() -> None:
    User.objects.create_user("citizen", password=PASSWORD, is_staff=False)
    response = _login("citizen", PASSWORD)
    assert response.status_code == 200 and "_auth_user_id" not in response.wsgi_request.session
    assert Client().get("/admin/").status_code == 302  # anonymous: to the login page


def test_failure_limit_and_cool_off_come_from_the_environment(tmp_path: Path) -> None:
    code = (
        "from django.conf import settings; "
        "print(settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME, settings.AXES_LOCKOUT_PARAMETERS)"
    )
    env = {**os.environ, "VAR_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "lockout-test"}
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**env, "ADMIN_LOGIN_FAILURE_LIMIT": "7", "ADMIN_LOGIN_COOLOFF_MINUTES": "15"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "7 0:15:00 ['ip_address', 'username']"
    forever = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**env, "ADMIN_LOGIN_COOLOFF_MINUTES": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert forever.stdout.strip().splitlines()[-1].startswith("5 None")
    bad = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "ADMIN_LOGIN_FAILURE_LIMIT": "0"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "ADMIN_LOGIN_FAILURE_LIMIT" in bad.stderr
