"""Read XML sitemaps (plain or gzipped, nested through sitemap indexes) into a list of page URLs."""

from __future__ import annotations

import zlib
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from ingestion.fetching import Fetcher, FetchOutcome

MAX_UNCOMPRESSED_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one uncompressed sitemap
_GZIP_MAGIC = b"\x1f\x8b"


class SitemapError(ValueError):
    """A sitemap that cannot be read; the message says why."""


@dataclass(frozen=True)
class SitemapResult:
    urls: tuple[str, ...]
    errors: tuple[str, ...]
    complete: bool  # False when a sitemap in the tree failed or a cap cut the list short


def _gunzip(content: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(content, MAX_UNCOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise SitemapError(f"sitemap is not valid gzip ({exc})") from exc
    if len(data) > MAX_UNCOMPRESSED_BYTES:
        raise SitemapError(f"gzipped sitemap inflates past the {MAX_UNCOMPRESSED_BYTES} byte limit")
    return data


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _locs(root: Element, entry: str) -> list[str]:
    urls: list[str] = []
    for child in root:
        if _local(child.tag) != entry:
            continue
        for field in child:
            if _local(field.tag) == "loc" and field.text:
                url = field.text.strip()
                if urlsplit(url).scheme.lower() in {"http", "https"}:
                    urls.append(url)
    return urls


def parse_sitemap(content: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, child sitemap URLs) of a ``<urlset>`` or ``<sitemapindex>``, gzipped or not.

    Any XML namespace is accepted; entries that are not http(s) URLs are skipped. Raises ``SitemapError``
    for gzip or XML that cannot be read, for DTD entity tricks (billion laughs, external entities) and for
    a document that is not a sitemap.
    """
    if content.startswith(_GZIP_MAGIC):
        content = _gunzip(content)
    try:
        root = SafeET.fromstring(content)
    except DefusedXmlException as exc:
        raise SitemapError(
            f"sitemap rejected: it declares XML entities or a DTD, which sitemaps never need ({exc})"
        ) from exc
    except ParseError as exc:
        raise SitemapError(f"sitemap is not well-formed XML ({exc})") from exc
    kind = _local(root.tag)
    if kind == "urlset":
        return _locs(root, "url"), []
    if kind == "sitemapindex":
        return [], _locs(root, "sitemap")
    raise SitemapError(f"not a sitemap: the root element is <{kind}>, not <urlset> or <sitemapindex>")


def sitemap_collect(*, fetcher: Fetcher, url: str, page_cap: int, max_sitemaps: int = 50) -> SitemapResult:
    """Page URLs from the sitemap at ``url`` and every sitemap it indexes, breadth-first, deduplicated, in order.

    Stops at ``page_cap`` URLs or after ``max_sitemaps`` sitemaps; the result is then marked incomplete, as it is
    when any sitemap fails, so a caller never treats a partial list as the whole site.
    """
    urls: dict[str, None] = {}  # an ordered set
    errors: list[str] = []
    queue: deque[str] = deque([url])
    seen = {url}
    fetched = 0
    while queue:
        if len(urls) >= page_cap:
            # Unread sitemaps may hold more pages: the list can only be called complete if all were read.
            errors.append(f"stopped at the cap of {page_cap} pages; {len(queue)} sitemaps not read")
            break
        if fetched >= max_sitemaps:
            errors.append(f"stopped after {max_sitemaps} sitemaps; {len(queue)} more not read")
            break
        sitemap_url = queue.popleft()
        fetched += 1
        result = fetcher.fetch(sitemap_url)
        if result.outcome is not FetchOutcome.OK:
            errors.append(f"{sitemap_url}: {result.error or result.outcome.value}")
            continue
        try:
            pages, children = parse_sitemap(result.content)
        except SitemapError as exc:
            errors.append(f"{sitemap_url}: {exc}")
            continue
        for child in children:
            if child not in seen:
                seen.add(child)
                queue.append(child)
        for page in pages:
            if page in urls:
                continue
            if len(urls) >= page_cap:
                errors.append(f"stopped at the cap of {page_cap} pages")
                return SitemapResult(urls=tuple(urls), errors=tuple(errors), complete=False)
            urls[page] = None
    return SitemapResult(urls=tuple(urls), errors=tuple(errors), complete=not errors)
