"""The fetcher against a real local HTTP server (tests.httpsite), and its pacing with a fake clock."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from ingestion.fetching import Fetcher, FetchOutcome, FetchPolicy
from tests.httpsite import LAST_MODIFIED, Route, TestSite

FIFTY_MB = 50 * 1024 * 1024
FAST = FetchPolicy(min_interval_s=0)


@pytest.fixture
def site() -> Iterator[TestSite]:
    with TestSite() as running:
        yield running


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    with Fetcher(FAST) as client:
        yield client


class FakeTime:
    """A clock that only moves when the fetcher sleeps, so pacing is checked without real waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_fetch_ok_returns_body_media_type_and_validators(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/page.html", Route(body=b"<p>Bonjour</p>", etag='"v1"'))
    result = fetcher.fetch(site.url("/page.html"))
    assert result.outcome is FetchOutcome.OK
    assert (result.status_code, result.content, result.content_type) == (200, b"<p>Bonjour</p>", "text/html")
    assert (result.etag, result.last_modified) == ('"v1"', LAST_MODIFIED)
    assert (result.error, result.transient) == ("", False)
    assert result.final_url == result.url == site.url("/page.html")


def test_fetch_with_matching_etag_is_not_modified(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/page.html", Route(body=b"<p>v1</p>"))
    first = fetcher.fetch(site.url("/page.html"))
    again = fetcher.fetch(site.url("/page.html"), etag=first.etag, last_modified=first.last_modified)
    assert again.outcome is FetchOutcome.NOT_MODIFIED
    assert (again.status_code, again.content) == (304, b"")
    assert (again.etag, again.last_modified) == (first.etag, first.last_modified)


def test_fetch_with_only_last_modified_is_not_modified(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/page.html", Route(body=b"<p>v1</p>", etag=""))
    first = fetcher.fetch(site.url("/page.html"))
    assert first.etag == ""
    again = fetcher.fetch(site.url("/page.html"), last_modified=first.last_modified)
    assert again.outcome is FetchOutcome.NOT_MODIFIED
    assert again.last_modified == LAST_MODIFIED


def test_fetch_with_stale_etag_gets_the_new_body(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/page.html", Route(body=b"<p>v1</p>"))
    first = fetcher.fetch(site.url("/page.html"))
    site.set("/page.html", Route(body=b"<p>v2</p>"))
    again = fetcher.fetch(site.url("/page.html"), etag=first.etag)
    assert again.outcome is FetchOutcome.OK
    assert again.content == b"<p>v2</p>"
    assert again.etag != first.etag


@pytest.mark.parametrize("status", [404, 410])
def test_fetch_missing_page_is_gone(site: TestSite, fetcher: Fetcher, status: int) -> None:
    site.set("/old.html", Route(body=b"gone", status=status))
    result = fetcher.fetch(site.url("/old.html"))
    assert result.outcome is FetchOutcome.GONE
    assert result.status_code == status
    assert f"HTTP {status}" in result.error


def test_fetch_unknown_path_is_gone(site: TestSite, fetcher: Fetcher) -> None:
    assert fetcher.fetch(site.url("/nowhere")).outcome is FetchOutcome.GONE


@pytest.mark.parametrize("status", [429, 500, 503])
def test_fetch_server_error_is_transient_failure(site: TestSite, fetcher: Fetcher, status: int) -> None:
    site.set("/busy", Route(body=b"try later", status=status))
    result = fetcher.fetch(site.url("/busy"))
    assert (result.outcome, result.status_code, result.transient) == (FetchOutcome.FAILED, status, True)
    assert result.content == b""


def test_fetch_client_error_is_permanent_failure(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/secret", Route(body=b"no", status=403))
    result = fetcher.fetch(site.url("/secret"))
    assert (result.outcome, result.transient, result.error) == (
        FetchOutcome.FAILED,
        False,
        f"HTTP 403 for {result.url}",
    )


def test_fetch_slow_server_times_out_as_transient_failure(site: TestSite) -> None:
    site.set("/slow", Route(body=b"late", delay_s=2.0))
    started = time.monotonic()
    with Fetcher(FetchPolicy(min_interval_s=0, read_timeout_s=0.5)) as fetcher:
        result = fetcher.fetch(site.url("/slow"))
    elapsed = time.monotonic() - started
    assert (result.outcome, result.transient) == (FetchOutcome.FAILED, True)
    assert "timed out" in result.error
    assert elapsed < 1.8  # gave up at the read timeout instead of waiting for the 2 s answer


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again at once: nothing listens there


def test_fetch_refused_connection_is_transient_failure() -> None:
    with Fetcher(FetchPolicy(min_interval_s=0, respect_robots=False)) as fetcher:
        result = fetcher.fetch(f"http://127.0.0.1:{_closed_port()}/page")
    assert (result.outcome, result.transient) == (FetchOutcome.FAILED, True)
    assert result.error.startswith("network error fetching")


def test_fetch_host_down_blocks_on_robots_as_transient(fetcher: Fetcher) -> None:
    result = fetcher.fetch(f"http://127.0.0.1:{_closed_port()}/page")
    assert (result.outcome, result.transient) == (FetchOutcome.BLOCKED, True)
    assert "robots.txt" in result.error and "unreachable (ConnectError)" in result.error


def test_fetch_declared_oversize_body_is_refused_without_reading_it(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/huge.pdf", Route(huge_bytes=FIFTY_MB, content_type="application/pdf"))
    result = fetcher.fetch(site.url("/huge.pdf"))
    assert (result.outcome, result.transient, result.content) == (FetchOutcome.FAILED, False, b"")
    assert result.error == f"response of {FIFTY_MB} bytes is over the 10000000 byte limit"
    assert site.wait_idle()
    assert site.sent.get("/huge.pdf", 0) < 5_000_000  # the server was cut off, not drained


def test_fetch_undeclared_oversize_body_is_aborted_at_the_cap(site: TestSite) -> None:
    site.set("/stream", Route(huge_bytes=FIFTY_MB, send_length=False))
    with Fetcher(FetchPolicy(min_interval_s=0, max_bytes=1_000_000)) as fetcher:
        result = fetcher.fetch(site.url("/stream"))
    assert (result.outcome, result.transient, result.content) == (FetchOutcome.FAILED, False, b"")
    assert "over the 1000000 byte limit" in result.error
    assert site.wait_idle()
    assert site.sent.get("/stream", 0) < 10_000_000


def test_fetch_body_streaming_past_total_timeout_fails_transiently(site: TestSite) -> None:
    site.set("/stream", Route(huge_bytes=2_000_000, send_length=False))
    ticks = iter(range(0, 10_000, 20))  # every look at the clock is 20 s later, like a trickling server
    with Fetcher(FetchPolicy(min_interval_s=0, total_timeout_s=30), clock=lambda: float(next(ticks))) as fetcher:
        result = fetcher.fetch(site.url("/stream"))
    assert (result.outcome, result.transient) == (FetchOutcome.FAILED, True)
    assert result.error == "response took longer than 30 s in total"


def test_fetch_follows_redirects_and_reports_final_url(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/old", Route(status=301, headers={"Location": "/middle"}))
    site.set("/middle", Route(status=302, headers={"Location": site.url("/new")}))
    site.set("/new", Route(body=b"<p>here</p>"))
    result = fetcher.fetch(site.url("/old"))
    assert result.outcome is FetchOutcome.OK
    assert (result.url, result.final_url, result.content) == (site.url("/old"), site.url("/new"), b"<p>here</p>")


def test_fetch_redirect_loop_fails_after_max_redirects(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/loop", Route(status=302, headers={"Location": "/loop"}))
    result = fetcher.fetch(site.url("/loop"))
    assert (result.outcome, result.transient) == (FetchOutcome.FAILED, False)
    assert result.error == "more than 5 redirects"
    assert site.paths_hit().count("/loop") == 6


@pytest.mark.parametrize("url", ["ftp://example.lu/file.pdf", "file:///etc/passwd", "javascript:alert(1)", "/relative"])
def test_fetch_non_http_url_fails_without_a_request(fetcher: Fetcher, url: str) -> None:
    result = fetcher.fetch(url)
    assert (result.outcome, result.transient, result.status_code) == (FetchOutcome.FAILED, False, None)
    assert "only http and https URLs" in result.error


@pytest.mark.parametrize("url", ["http://host:abc/", "http://host:99999/", "http://[::1/"])
def test_fetch_malformed_url_fails_without_raising(fetcher: Fetcher, url: str) -> None:
    result = fetcher.fetch(url)
    assert (result.outcome, result.transient) == (FetchOutcome.FAILED, False)
    assert result.error.startswith(f"invalid URL {url!r}")


def test_fetch_disallowed_by_robots_is_blocked_and_never_requested(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/robots.txt", Route(body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    site.set("/private/page", Route(body=b"secret"))
    site.set("/public", Route(body=b"open"))
    blocked = fetcher.fetch(site.url("/private/page"))
    allowed = fetcher.fetch(site.url("/public"))
    assert (blocked.outcome, blocked.status_code) == (FetchOutcome.BLOCKED, None)
    assert (blocked.error, blocked.transient) == (f"{site.url('/private/page')} is disallowed by robots.txt", False)
    assert allowed.outcome is FetchOutcome.OK
    assert site.paths_hit() == ["/robots.txt", "/public"]  # robots.txt read once per host


def test_fetch_rules_for_our_user_agent_apply(site: TestSite, fetcher: Fetcher) -> None:
    robots = b"User-agent: GuichetAssistant\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    site.set("/robots.txt", Route(body=robots, content_type="text/plain"))
    site.set("/page", Route(body=b"x"))
    assert fetcher.fetch(site.url("/page")).outcome is FetchOutcome.BLOCKED


def test_fetch_redirect_into_disallowed_path_is_blocked(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/robots.txt", Route(body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"))
    site.set("/go", Route(status=302, headers={"Location": "/private/x"}))
    result = fetcher.fetch(site.url("/go"))
    assert (result.outcome, result.final_url) == (FetchOutcome.BLOCKED, site.url("/private/x"))


def test_fetch_when_robots_txt_errors_the_host_is_blocked(site: TestSite, fetcher: Fetcher) -> None:
    site.set("/robots.txt", Route(body=b"oops", status=500, content_type="text/plain"))
    site.set("/page", Route(body=b"x"))
    result = fetcher.fetch(site.url("/page"))
    again = fetcher.fetch(site.url("/page"))
    assert (result.outcome, result.transient) == (FetchOutcome.BLOCKED, True)
    assert "robots.txt" in result.error and "unreachable (HTTP 500)" in result.error
    assert again.outcome is FetchOutcome.BLOCKED
    assert site.paths_hit() == ["/robots.txt"]


def test_fetch_rereads_robots_txt_after_an_hour(site: TestSite) -> None:
    site.set("/robots.txt", Route(body=b"oops", status=503, content_type="text/plain"))
    site.set("/page", Route(body=b"x"))
    fake = FakeTime()
    with Fetcher(FAST, sleep=fake.sleep, clock=fake.clock) as fetcher:
        assert fetcher.fetch(site.url("/page")).outcome is FetchOutcome.BLOCKED
        site.remove("/robots.txt")
        assert fetcher.fetch(site.url("/page")).outcome is FetchOutcome.BLOCKED  # still the cached verdict
        fake.now += 3601
        assert fetcher.fetch(site.url("/page")).outcome is FetchOutcome.OK
    assert site.paths_hit() == ["/robots.txt", "/robots.txt", "/page"]


def test_fetch_ignores_robots_when_policy_says_so(site: TestSite) -> None:
    site.set("/robots.txt", Route(body=b"User-agent: *\nDisallow: /\n", content_type="text/plain"))
    site.set("/page", Route(body=b"x"))
    with Fetcher(FetchPolicy(min_interval_s=0, respect_robots=False)) as fetcher:
        assert fetcher.fetch(site.url("/page")).outcome is FetchOutcome.OK
    assert site.paths_hit() == ["/page"]


def test_fetch_paces_requests_to_one_host(site: TestSite) -> None:
    site.set("/a", Route(body=b"a"))
    fake = FakeTime()
    with Fetcher(FetchPolicy(min_interval_s=1.0), sleep=fake.sleep, clock=fake.clock) as fetcher:
        results = [fetcher.fetch(site.url(path)) for path in ("/a", "/a", "/a")]
    assert [r.outcome for r in results] == [FetchOutcome.OK] * 3
    assert fake.sleeps == [1.0, 1.0, 1.0]  # after robots.txt, then between the three pages
    assert site.paths_hit() == ["/robots.txt", "/a", "/a", "/a"]


def _mock_fetcher(fake: FakeTime, robots: bytes = b"", policy: FetchPolicy | None = None) -> Fetcher:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/robots.txt":
            return httpx.Response(200, content=robots) if robots else httpx.Response(404)
        return httpx.Response(200, content=b"ok")

    return Fetcher(policy, transport=httpx.MockTransport(handler), sleep=fake.sleep, clock=fake.clock)


def test_fetch_pacing_is_per_host_and_counts_time_already_passed() -> None:
    fake = FakeTime()
    with _mock_fetcher(fake, policy=FetchPolicy(min_interval_s=2.0, respect_robots=False)) as fetcher:
        fetcher.fetch("https://a.lu/1")
        fetcher.fetch("https://b.lu/1")  # another host: no wait
        fake.now += 0.5
        fetcher.fetch("https://a.lu/2")
    assert fake.sleeps == [1.5]


@pytest.mark.parametrize(("delay", "expected"), [("3", 3.0), ("60", 10.0)])
def test_fetch_robots_crawl_delay_wins_when_larger_but_is_capped(delay: str, expected: float) -> None:
    fake = FakeTime()
    robots = f"User-agent: *\nCrawl-delay: {delay}\n".encode()
    with _mock_fetcher(fake, robots=robots, policy=FetchPolicy(min_interval_s=1.0)) as fetcher:
        fetcher.fetch("https://a.lu/1")
        fetcher.fetch("https://a.lu/2")
    assert fake.sleeps == [expected, expected]


def test_fetch_outbound_host_is_a_failure_not_an_exception() -> None:
    with Fetcher(FetchPolicy(min_interval_s=0, respect_robots=False)) as fetcher:
        result = fetcher.fetch("http://192.0.2.1/page")  # refused by the test network guard
    assert (result.outcome, result.transient) == (FetchOutcome.FAILED, True)
