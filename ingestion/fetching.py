"""A polite HTTP fetcher for crawling official sites: robots.txt, per-host pacing, size and time caps.

Every network problem becomes a ``FetchResult`` rather than an exception, so a crawl can record it
against the page and carry on. One ``Fetcher`` is meant for one crawl run in one thread.
"""

from __future__ import annotations

import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import httpx

MAX_CRAWL_DELAY_S = 10.0
ROBOTS_TTL_S = 3600.0  # a long-lived fetcher re-reads robots.txt, so a passing outage does not block a host for good
ROBOTS_MAX_BYTES = 512_000  # RFC 9309 asks crawlers to read at least 500 KiB of robots.txt
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FetchOutcome(StrEnum):
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    GONE = "gone"
    FAILED = "failed"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class FetchPolicy:
    user_agent: str = "GuichetAssistant/1.0 (+https://guichet.public.lu)"
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0  # whole response, so a server that trickles bytes cannot hold us
    max_bytes: int = 10_000_000
    min_interval_s: float = 1.0  # per host, between requests (a larger robots.txt Crawl-delay wins, capped)
    respect_robots: bool = True
    max_redirects: int = 5


@dataclass(frozen=True)
class FetchResult:
    url: str
    final_url: str
    outcome: FetchOutcome
    status_code: int | None
    content: bytes
    content_type: str  # media type lowercased without parameters, "" if none
    etag: str
    last_modified: str
    error: str  # human-readable, "" when OK or NOT_MODIFIED
    transient: bool  # worth retrying later: FAILED by timeout, connection error, 429, 5xx; BLOCKED by robots.txt outage


@dataclass(frozen=True)
class _Redirect:
    location: str


@dataclass
class _Host:
    robots: urllib.robotparser.RobotFileParser | None = None
    robots_error: str = ""  # set when robots.txt was unreachable: the whole host is off limits
    robots_checked_at: float | None = None
    last_request_at: float | None = None


def _failure(url: str, final_url: str, error: str, *, transient: bool, status: int | None = None) -> FetchResult:
    return FetchResult(
        url=url,
        final_url=final_url,
        outcome=FetchOutcome.FAILED,
        status_code=status,
        content=b"",
        content_type="",
        etag="",
        last_modified="",
        error=error,
        transient=transient,
    )


def _url_problem(url: str) -> str:
    """Why ``url`` cannot be fetched, or "" when it is an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises for a port that is not a number or out of range
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        return f"invalid URL {url!r} ({exc})"
    if parts.scheme.lower() not in {"http", "https"}:
        return f"only http and https URLs can be fetched, not {url!r}"
    if not parts.hostname:
        return f"URL {url!r} has no host"
    return ""


def _host_key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def _media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class Fetcher:
    """Fetches pages one at a time, honouring robots.txt and a per-host interval; never raises for network problems."""

    def __init__(
        self,
        policy: FetchPolicy | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy or FetchPolicy()
        self._sleep = sleep
        self._clock = clock
        self._hosts: dict[str, _Host] = {}
        timeout = httpx.Timeout(
            connect=self.policy.connect_timeout_s,
            read=self.policy.read_timeout_s,
            write=self.policy.read_timeout_s,
            pool=self.policy.connect_timeout_s,
        )
        # Redirects are followed by hand so every hop is checked against robots.txt and paced.
        self._client = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            max_redirects=self.policy.max_redirects,
            headers={"User-Agent": self.policy.user_agent},
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connections."""
        self._client.close()

    def fetch(self, url: str, *, etag: str = "", last_modified: str = "") -> FetchResult:
        """Fetch ``url``, conditionally when ``etag``/``last_modified`` from an earlier fetch are given."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for _ in range(self.policy.max_redirects + 1):
            problem = _url_problem(current)
            if problem:
                return _failure(url, current, problem, transient=False)
            blocked = self._robots_block(current)
            if blocked:
                # Blocked because robots.txt was unreachable is temporary; blocked by its rules is not.
                outage = bool(self._host(current).robots_error)
                return replace(_failure(url, current, blocked, transient=outage), outcome=FetchOutcome.BLOCKED)
            result = self._fetch_once(url, current, headers)
            if isinstance(result, _Redirect):
                current = result.location
                continue
            if result.outcome is FetchOutcome.NOT_MODIFIED:
                # Servers may omit validators on a 304; the caller keeps the ones it already has.
                result = replace(result, etag=result.etag or etag, last_modified=result.last_modified or last_modified)
            return result
        return _failure(url, current, f"more than {self.policy.max_redirects} redirects", transient=False)

    def _fetch_once(self, url: str, current: str, headers: dict[str, str]) -> FetchResult | _Redirect:
        """One request; returns the result, or the next URL when the answer is a redirect."""
        self._wait_for_turn(current)
        try:
            return self._request(url, current, headers)
        except httpx.TimeoutException as exc:
            return _failure(url, current, f"timed out fetching {current} ({type(exc).__name__})", transient=True)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return _failure(url, current, f"cannot fetch {current}: {exc}", transient=False)
        except httpx.HTTPError as exc:
            detail = str(exc) or type(exc).__name__
            return _failure(url, current, f"network error fetching {current}: {detail}", transient=True)
        finally:
            self._host(current).last_request_at = self._clock()

    def _request(self, url: str, current: str, headers: dict[str, str]) -> FetchResult | _Redirect:
        policy = self.policy
        started = self._clock()
        with self._client.stream("GET", current, headers=headers) as response:
            status = response.status_code
            if status in _REDIRECTS and response.headers.get("location"):
                return _Redirect(urljoin(current, response.headers["location"]))
            base = FetchResult(
                url=url,
                final_url=current,
                outcome=FetchOutcome.OK,
                status_code=status,
                content=b"",
                content_type=_media_type(response),
                etag=response.headers.get("etag", ""),
                last_modified=response.headers.get("last-modified", ""),
                error="",
                transient=False,
            )
            if status == 304:
                return replace(base, outcome=FetchOutcome.NOT_MODIFIED)
            if status in {404, 410}:
                return replace(base, outcome=FetchOutcome.GONE, error=f"HTTP {status} for {current}")
            if status == 429 or status >= 500:
                return replace(base, outcome=FetchOutcome.FAILED, error=f"HTTP {status} for {current}", transient=True)
            if not 200 <= status < 300:
                return replace(base, outcome=FetchOutcome.FAILED, error=f"HTTP {status} for {current}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > policy.max_bytes:
                # Refuse before reading: leaving the block closes the connection with the body unread.
                error = f"response of {int(declared)} bytes is over the {policy.max_bytes} byte limit"
                return replace(base, outcome=FetchOutcome.FAILED, error=error)
            return self._read_body(response, base, deadline=started + policy.total_timeout_s)

    def _read_body(self, response: httpx.Response, base: FetchResult, *, deadline: float) -> FetchResult:
        """Stream the body, giving up as soon as it passes the byte cap or the total time limit."""
        limit = self.policy.max_bytes
        chunks: list[bytes] = []
        size = 0
        # Counts decoded bytes, so a small gzip body cannot inflate past the cap either.
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                error = f"response is over the {limit} byte limit (stopped reading at {size} bytes)"
                return replace(base, outcome=FetchOutcome.FAILED, error=error)
            if self._clock() > deadline:
                error = f"response took longer than {self.policy.total_timeout_s:g} s in total"
                return replace(base, outcome=FetchOutcome.FAILED, error=error, transient=True)
            chunks.append(chunk)
        return replace(base, content=b"".join(chunks))

    def _host(self, url: str) -> _Host:
        return self._hosts.setdefault(_host_key(url), _Host())

    def _interval(self, host: _Host) -> float:
        interval = self.policy.min_interval_s
        if host.robots is not None:
            delay = host.robots.crawl_delay(self.policy.user_agent)
            if delay is not None:
                interval = max(interval, min(float(delay), MAX_CRAWL_DELAY_S))
        return interval

    def _wait_for_turn(self, url: str) -> None:
        host = self._host(url)
        if host.last_request_at is None:
            return
        wait = host.last_request_at + self._interval(host) - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _robots_block(self, url: str) -> str:
        """Why robots.txt keeps us from ``url``, or "" when it may be fetched."""
        if not self.policy.respect_robots:
            return ""
        host = self._host(url)
        if host.robots_checked_at is None or self._clock() - host.robots_checked_at > ROBOTS_TTL_S:
            host.robots, host.robots_error = None, ""
            host.robots_checked_at = self._clock()
            self._load_robots(url, host)
        if host.robots_error:
            return host.robots_error
        if host.robots is not None and not host.robots.can_fetch(self.policy.user_agent, url):
            return f"{url} is disallowed by robots.txt"
        return ""

    def _load_robots(self, url: str, host: _Host) -> None:
        robots_url = urljoin(_host_key(url), "/robots.txt")
        self._wait_for_turn(robots_url)
        try:
            with self._client.stream("GET", robots_url, follow_redirects=True) as response:
                status = response.status_code
                body = self._read_robots(response) if status == 200 else b""
        except httpx.TooManyRedirects:
            return  # RFC 9309: too many redirects counts as "unavailable", so everything is allowed
        except httpx.HTTPError as exc:
            host.robots_error = (
                f"robots.txt at {robots_url} was unreachable ({type(exc).__name__}); not crawling the host"
            )
            return
        finally:
            host.last_request_at = self._clock()
        if status >= 500 or status == 429:
            # RFC 9309: a server error on robots.txt means "assume complete disallow".
            host.robots_error = f"robots.txt at {robots_url} was unreachable (HTTP {status}); not crawling the host"
            return
        if status != 200:
            return  # 4xx: no robots.txt, everything is allowed
        parser = urllib.robotparser.RobotFileParser(robots_url)
        parser.parse(body.decode("utf-8", errors="replace").splitlines())
        host.robots = parser

    def _read_robots(self, response: httpx.Response) -> bytes:
        data = bytearray()
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= ROBOTS_MAX_BYTES:
                break  # rules past the first 500 KiB are ignored, as RFC 9309 allows
        return bytes(data[:ROBOTS_MAX_BYTES])
