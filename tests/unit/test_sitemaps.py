from __future__ import annotations

import gzip
from collections.abc import Iterator

import httpx
import pytest

from ingestion.fetching import Fetcher, FetchPolicy
from ingestion.sitemaps import MAX_UNCOMPRESSED_BYTES, SitemapError, parse_sitemap, sitemap_collect

NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def urlset(*urls: str, ns: str = NS) -> bytes:
    entries = "".join(f"<url><loc> {url} </loc><lastmod>2025-01-01</lastmod></url>" for url in urls)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {ns}>{entries}</urlset>'.encode()


def index(*urls: str) -> bytes:
    entries = "".join(f"<sitemap><loc>{url}</loc></sitemap>" for url in urls)
    return f"<sitemapindex {NS}>{entries}</sitemapindex>".encode()


def test_parse_urlset_returns_page_urls_in_order() -> None:
    pages, children = parse_sitemap(urlset("https://a.lu/1", "https://a.lu/2"))
    assert pages == ["https://a.lu/1", "https://a.lu/2"]
    assert children == []


def test_parse_urlset_without_namespace_and_skips_non_http() -> None:
    pages, _ = parse_sitemap(urlset("https://a.lu/1", "ftp://a.lu/file", ns=""))
    assert pages == ["https://a.lu/1"]


def test_parse_index_returns_child_sitemaps() -> None:
    pages, children = parse_sitemap(index("https://a.lu/s1.xml", "https://a.lu/s2.xml.gz"))
    assert pages == []
    assert children == ["https://a.lu/s1.xml", "https://a.lu/s2.xml.gz"]


def test_parse_gzipped_sitemap() -> None:
    pages, _ = parse_sitemap(gzip.compress(urlset("https://a.lu/gz")))
    assert pages == ["https://a.lu/gz"]


def test_parse_gzip_bomb_is_rejected() -> None:
    bomb = gzip.compress(b" " * (MAX_UNCOMPRESSED_BYTES + 10))
    assert len(bomb) < 200_000
    with pytest.raises(SitemapError, match="inflates past"):
        parse_sitemap(bomb)


def test_parse_entity_bomb_is_rejected() -> None:
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<urlset><url><loc>&lol2;</loc></url></urlset>"""
    with pytest.raises(SitemapError, match="declares XML entities"):
        parse_sitemap(bomb)


def test_parse_malformed_xml_is_a_sitemap_error() -> None:
    with pytest.raises(SitemapError, match="not well-formed"):
        parse_sitemap(b"<urlset><url><loc>https://a.lu/</loc></url>")


def test_parse_other_xml_is_not_a_sitemap() -> None:
    with pytest.raises(SitemapError, match="root element is <rss>"):
        parse_sitemap(b"<rss><channel/></rss>")


@pytest.fixture
def site() -> dict[str, bytes]:
    return {}


@pytest.fixture
def fetcher(site: dict[str, bytes]) -> Iterator[Fetcher]:
    def handler(request: httpx.Request) -> httpx.Response:
        body = site.get(request.url.path)
        if body is None:
            return httpx.Response(404)
        return httpx.Response(200, content=body, headers={"Content-Type": "application/xml"})

    policy = FetchPolicy(respect_robots=False, min_interval_s=0)
    with Fetcher(policy, transport=httpx.MockTransport(handler)) as fetcher:
        yield fetcher


def test_collect_follows_nested_indexes_breadth_first_and_dedups(fetcher: Fetcher, site: dict[str, bytes]) -> None:
    site["/sitemap.xml"] = index("https://a.lu/s1.xml", "https://a.lu/nested.xml")
    site["/s1.xml"] = urlset("https://a.lu/1", "https://a.lu/2")
    site["/nested.xml"] = index("https://a.lu/s2.xml.gz", "https://a.lu/sitemap.xml")  # a loop back to the root
    site["/s2.xml.gz"] = gzip.compress(urlset("https://a.lu/2", "https://a.lu/3"))
    result = sitemap_collect(fetcher=fetcher, url="https://a.lu/sitemap.xml", page_cap=100)
    assert result.urls == ("https://a.lu/1", "https://a.lu/2", "https://a.lu/3")
    assert result.complete
    assert result.errors == ()


def test_collect_stops_at_page_cap_and_is_incomplete(fetcher: Fetcher, site: dict[str, bytes]) -> None:
    site["/sitemap.xml"] = urlset(*(f"https://a.lu/{n}" for n in range(10)))
    result = sitemap_collect(fetcher=fetcher, url="https://a.lu/sitemap.xml", page_cap=4)
    assert result.urls == tuple(f"https://a.lu/{n}" for n in range(4))
    assert not result.complete
    assert any("cap of 4" in error for error in result.errors)


def test_collect_exactly_at_cap_with_nothing_left_is_complete(fetcher: Fetcher, site: dict[str, bytes]) -> None:
    site["/sitemap.xml"] = urlset("https://a.lu/1", "https://a.lu/2")
    result = sitemap_collect(fetcher=fetcher, url="https://a.lu/sitemap.xml", page_cap=2)
    assert result.urls == ("https://a.lu/1", "https://a.lu/2")
    assert result.complete


def test_collect_failed_child_keeps_other_urls_but_is_incomplete(fetcher: Fetcher, site: dict[str, bytes]) -> None:
    site["/sitemap.xml"] = index("https://a.lu/missing.xml", "https://a.lu/bad.xml", "https://a.lu/ok.xml")
    site["/bad.xml"] = b"<urlset><url>"
    site["/ok.xml"] = urlset("https://a.lu/ok")
    result = sitemap_collect(fetcher=fetcher, url="https://a.lu/sitemap.xml", page_cap=10)
    assert result.urls == ("https://a.lu/ok",)
    assert not result.complete
    missing, bad = result.errors
    assert missing.startswith("https://a.lu/missing.xml: ") and "HTTP 404" in missing
    assert bad.startswith("https://a.lu/bad.xml: ") and "not well-formed" in bad


def test_collect_stops_after_max_sitemaps(fetcher: Fetcher, site: dict[str, bytes]) -> None:
    site["/sitemap.xml"] = index(*(f"https://a.lu/s{n}.xml" for n in range(5)))
    for n in range(5):
        site[f"/s{n}.xml"] = urlset(f"https://a.lu/page{n}")
    result = sitemap_collect(fetcher=fetcher, url="https://a.lu/sitemap.xml", page_cap=100, max_sitemaps=3)
    assert result.urls == ("https://a.lu/page0", "https://a.lu/page1")
    assert not result.complete
    assert result.errors == ("stopped after 3 sitemaps; 3 more not read",)
