"""Read Markdown (with YAML front matter) and HTML files into parsed documents with sections."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import yaml

SUPPORTED_SUFFIXES = (".md", ".markdown", ".html", ".htm")
MAX_FILE_BYTES = 2_000_000
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


class DocumentError(ValueError):
    """A file that cannot become a document; the message says why."""


@dataclass(frozen=True)
class Section:
    headings: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ParsedDocument:
    key: str
    title: str
    url: str
    language: str
    procedure: str
    sections: tuple[Section, ...]
    content_hash: str
    origin: str


def front_matter(raw: str, path: Path | str) -> tuple[dict[str, object], str]:
    """Split YAML front matter from a Markdown body; ``path`` (a file or a name) is used in error messages."""
    name = path.name if isinstance(path, Path) else path
    if not raw.startswith("---"):
        return {}, raw
    end = raw.find("\n---", 3)
    if end == -1:
        raise DocumentError(f"{name}: front matter is not closed with '---'")
    try:
        meta = yaml.safe_load(raw[3:end]) or {}
    except yaml.YAMLError as exc:
        raise DocumentError(f"{name}: front matter is not valid YAML ({exc})") from exc
    if not isinstance(meta, dict):
        raise DocumentError(f"{name}: front matter must be a mapping")
    return meta, raw[end + 4 :].lstrip("\n")


def markdown_sections(body: str, title: str) -> tuple[Section, ...]:
    """Split on headings, keeping the path of headings above each block of text."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []

    def flush() -> None:
        text = "\n".join(lines).strip()
        if text:
            sections.append(Section(headings=tuple(h for _, h in stack), text=text))
        lines.clear()

    for line in body.splitlines():
        match = _HEADING.match(line)
        if match:
            flush()
            level, heading = len(match.group(1)), match.group(2).strip()
            if level == 1 and heading == title:
                continue
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading))
        else:
            lines.append(line)
    flush()
    return tuple(sections)


class _HtmlToMarkdown(HTMLParser):
    """Keeps headings and text of an HTML page's main content; drops scripts, navigation, chrome."""

    _SKIP = {"script", "style", "nav", "header", "footer", "aside", "noscript", "form"}
    _BLOCK = {"p", "li", "div", "section", "article", "br", "tr", "table", "ul", "ol", "main"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title = ""
        self.lang = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.lang = (dict(attrs).get("lang") or "")[:2].lower()
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self._BLOCK:
            self.out.append("\n- " if tag == "li" else "\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag):
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()
        elif not self._skip:
            self.out.append(re.sub(r"\s+", " ", data))


def _read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DocumentError(f"{path.name}: {size} bytes is over the {MAX_FILE_BYTES} byte limit")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc


def load_document(path: Path, *, default_language: str = "") -> ParsedDocument:
    raw = _read_text(path)
    meta, body = front_matter(raw, path)
    html_lang = ""
    if path.suffix.lower() in {".html", ".htm"}:
        parser = _HtmlToMarkdown()
        parser.feed(body)
        body = "".join(parser.out)
        meta.setdefault("title", parser.title)
        html_lang = parser.lang
    title = str(meta.get("title") or "").strip()
    url = str(meta.get("source_url") or meta.get("url") or "").strip()
    language = str(meta.get("language") or html_lang or default_language).strip().lower()
    procedure = str(meta.get("procedure") or path.stem.split(".")[0]).strip()
    missing = [name for name, value in (("title", title), ("source_url", url), ("language", language)) if not value]
    if missing:
        raise DocumentError(f"{path.name}: missing {', '.join(missing)}")
    if not url.startswith(("https://", "http://")):
        raise DocumentError(f"{path.name}: source_url must be an http(s) URL")
    sections = markdown_sections(body, title)
    if not sections:
        raise DocumentError(f"{path.name}: no text")
    digest = hashlib.sha256("\n".join([title, url, language, procedure, body]).encode("utf-8")).hexdigest()
    return ParsedDocument(
        key=path.stem,
        title=title,
        url=url,
        language=language,
        procedure=procedure,
        sections=sections,
        content_hash=digest,
        origin=str(path),
    )


def iter_document_paths(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DocumentError(f"{root}: no such file or folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
