"""A local web site for fetcher and crawler tests, plus in-memory PDF and DOCX builders.

The server listens on 127.0.0.1 only (the test network guard allows loopback), on an ephemeral port,
in a daemon thread. Routes can be changed while it runs.
"""

from __future__ import annotations

import hashlib
import io
import sys
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

LAST_MODIFIED = "Mon, 06 Jan 2025 10:00:00 GMT"
_CHUNK = 64 * 1024


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # sleep before answering, so a client with a shorter read timeout gives up
    huge_bytes: int = 0  # when set, stream this many b"x" in 64 KiB chunks instead of body
    send_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    etag: str | None = None  # None: a quoted sha1 of body; "": no ETag header at all


def _etag(route: Route) -> str:
    if route.etag is None:
        return '"' + hashlib.sha1(route.body).hexdigest() + '"'
    return route.etag


def _not_modified(route: Route, headers: Any) -> bool:
    etag = _etag(route)
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        return bool(etag) and etag in {tag.strip() for tag in if_none_match.split(",")}
    if_modified_since = headers.get("If-Modified-Since")
    if if_modified_since:
        try:
            return parsedate_to_datetime(if_modified_since) >= parsedate_to_datetime(LAST_MODIFIED)
        except (TypeError, ValueError):
            return False
    return False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: TestSite

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (timeout, size cap) is what several tests provoke on purpose.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 30  # a stuck client must not pin a server thread forever

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keeps pytest output clean

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        site = self.server.site
        site._begin(self.path, self.command)
        try:
            self._respond(site, send_body=send_body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the client went away first
        finally:
            site._end()

    def _respond(self, site: TestSite, *, send_body: bool) -> None:
        route = site.route_for(self.path)
        if route is None:
            route = Route(body=b"not found", status=404, content_type="text/plain")
        if route.delay_s:
            time.sleep(route.delay_s)
        etag = _etag(route)
        if route.status == 200 and _not_modified(route, self.headers):
            self.send_response(304)
            if etag:
                self.send_header("ETag", etag)
            self.send_header("Last-Modified", LAST_MODIFIED)
            self.end_headers()
            return
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        if etag:
            self.send_header("ETag", etag)
        self.send_header("Last-Modified", LAST_MODIFIED)
        length = route.huge_bytes or len(route.body)
        if route.send_length:
            self.send_header("Content-Length", str(length))
        for name, value in route.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not send_body:
            return
        if route.huge_bytes:
            chunk = b"x" * _CHUNK
            left = route.huge_bytes
            while left > 0:
                piece = chunk[: min(left, _CHUNK)]
                self.wfile.write(piece)
                site._count(self.path, len(piece))
                left -= len(piece)
        else:
            self.wfile.write(route.body)
            site._count(self.path, len(route.body))


class TestSite:
    """A threaded HTTP server on 127.0.0.1 serving ``routes`` by path; unknown paths are 404."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, routes: dict[str, Route] | None = None) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.hits: list[tuple[str, str]] = []  # (path, method), in arrival order
        self.sent: dict[str, int] = {}  # body bytes actually written per path
        self._lock = threading.Condition()
        self._active = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> TestSite:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.site = self
        self._server = server
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TestSite:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def set(self, path: str, route: Route) -> None:
        with self._lock:
            self.routes[path] = route

    def remove(self, path: str) -> None:
        with self._lock:
            self.routes.pop(path, None)

    def route_for(self, path: str) -> Route | None:
        """The route for a request path: an exact match (query included) first, then the path alone."""
        with self._lock:
            return self.routes.get(path) or self.routes.get(path.split("?", 1)[0])

    def paths_hit(self, method: str = "GET") -> list[str]:
        with self._lock:
            return [path for path, m in self.hits if m == method]

    def wait_idle(self, timeout_s: float = 5.0) -> bool:
        """Wait until no request is being answered (e.g. a huge body the client abandoned); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._active == 0, timeout=timeout_s)

    def _begin(self, path: str, method: str) -> None:
        with self._lock:
            self.hits.append((path, method))
            self._active += 1

    def _end(self) -> None:
        with self._lock:
            self._active -= 1
            self._lock.notify_all()

    def _count(self, path: str, size: int) -> None:
        with self._lock:
            self.sent[path] = self.sent.get(path, 0) + size


def _pdf_text(text: str) -> bytes:
    """A PDF literal string in WinAnsi (cp1252), escaping what the syntax needs."""
    out = bytearray(b"(")
    for byte in text.encode("cp1252", errors="replace"):
        if byte in b"()\\":
            out += b"\\" + bytes([byte])
        elif byte < 32 or byte > 126:
            out += f"\\{byte:03o}".encode()
        else:
            out.append(byte)
    return bytes(out + b")")


def make_pdf(title: str, lines: list[str]) -> bytes:
    """A minimal valid PDF: Helvetica text, one line per entry; a line that is exactly "\\f" starts a new page.

    ``title`` goes into the document information dictionary (omitted when empty).
    """
    pages: list[list[str]] = [[]]
    for line in lines:
        if line == "\f":
            pages.append([])
        else:
            pages[-1].append(line)
    objects: list[bytes] = []  # object n is objects[n - 1]
    font_id, pages_id = 1, 2
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    objects.append(b"")  # the page tree, filled in once the kids are known
    kids: list[int] = []
    for page_lines in pages:
        stream = b"BT /F1 12 Tf 14 TL 72 770 Td\n" + b"".join(_pdf_text(line) + b" Tj T*\n" for line in page_lines)
        stream += b"ET"
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (pages_id, font_id, content_id)
        )
        kids.append(len(objects))
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % kid for kid in kids),
        len(kids),
    )
    objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    catalog_id = len(objects)
    info = b""
    if title:
        objects.append(b"<< /Title <FEFF" + title.encode("utf-16-be").hex().upper().encode() + b"> >>")
        info = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog_id,
        info,
        xref,
    )
    return bytes(out)


def make_docx(
    title: str,
    paragraphs: list[tuple[str, str]],
    *,
    tables: list[list[list[str]]] | None = None,
    language: str = "",
) -> bytes:
    """A DOCX with ``title`` in its properties and as a "Title" paragraph, then (style, text) paragraphs.

    ``tables`` (rows of cells) are appended after the paragraphs; ``language`` sets the core property.
    """
    import docx

    document = docx.Document()
    document.core_properties.title = title
    if language:
        document.core_properties.language = language
    if title:
        document.add_paragraph(title, style="Title")
    for style, text in paragraphs:
        document.add_paragraph(text, style=style or None)
    for rows in tables or []:
        table = document.add_table(rows=len(rows), cols=max(len(row) for row in rows))
        for row, cells in zip(table.rows, rows, strict=False):
            for cell, text in zip(row.cells, cells, strict=False):
                cell.text = text
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
