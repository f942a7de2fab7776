"""Turn fetched bytes or a file (HTML, PDF, DOCX, Markdown, plain text) into a title, a language and sections.

Every format is reduced to the same shape: a list of blocks (headings with a level, paragraphs, list items,
table rows), from which both the heading-path sections and a Markdown-ish full text are built.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import docx
import pypdf
from docx.table import Table
from docx.text.paragraph import Paragraph
from selectolax.lexbor import LexborHTMLParser, LexborNode

from assistant.language import detect_language
from assistant.types import LANGUAGES
from ingestion.loaders import DocumentError, Section, front_matter, markdown_sections

DETECTION_SAMPLE_CHARS = 5_000
MIN_DETECTION_WORDS = 5  # below this a guess is noise: the language is left for the caller to decide
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_PDF_TYPES = frozenset({"application/pdf"})
_DOCX_TYPES = frozenset({"application/vnd.openxmlformats-officedocument.wordprocessingml.document"})
_TEXT_TYPES = frozenset({"text/markdown", "text/x-markdown", "text/plain"})
_SUFFIXES = {
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".md": "text",
    ".markdown": "text",
    ".txt": "text",
}
_ISO639_2 = {"ltz": "lb", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "eng": "en"}
_SPACES = re.compile(r"[^\S\n]+")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class ExtractionError(DocumentError):
    """A document whose text cannot be extracted; the message names the document and says why."""


@dataclass(frozen=True)
class Extracted:
    title: str
    language: str  # lb/fr/de/en, declared by the document or detected; "" when the text is too short to tell
    sections: tuple[Section, ...]
    text: str  # the whole text as Markdown-ish plain text (headings as '#' lines), for versions and diffs
    canonical_url: str = ""
    alternates: tuple[tuple[str, str], ...] = ()  # (hreflang, absolute URL), x-default left out
    meta: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Block:
    text: str
    level: int = 0  # 1-6 for a heading, 0 for body text
    group: str = ""  # "list" or "table": consecutive items of one group sit on consecutive lines, one paragraph


@dataclass(frozen=True)
class _Parts:
    """What a format reader found, before sections, text and language are derived."""

    title: str
    blocks: list[_Block]
    language: str = ""
    canonical_url: str = ""
    alternates: tuple[tuple[str, str], ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)


def extract(content: bytes, *, content_type: str, name: str, base_url: str = "") -> Extracted:
    """Extract ``content`` by its media type (parameters such as charset allowed), else by ``name``'s suffix.

    ``name`` (a path or URL) is used in error messages; ``base_url`` makes canonical and alternate links absolute.
    Raises ``ExtractionError`` for unsupported, corrupt, encrypted or empty documents.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    kind = _kind(media_type, name)
    if kind == "text":
        return _extract_text(content, content_type=content_type, name=name)
    if kind == "html":
        parts = _html_parts(_decode_html(content, content_type), base_url=base_url)
        what = "HTML page"
    elif kind == "pdf":
        parts = _pdf_parts(content, name)
        what = "PDF"
    elif kind == "docx":
        parts = _docx_parts(content, name)
        what = "DOCX document"
    else:
        shown = media_type or "none"
        raise ExtractionError(f"{name}: unsupported content type {shown!r} (and no known file suffix)")
    return _assemble(parts, name=name, what=what)


def _kind(media_type: str, name: str) -> str:
    if media_type in _HTML_TYPES:
        return "html"
    if media_type in _PDF_TYPES:
        return "pdf"
    if media_type in _DOCX_TYPES:
        return "docx"
    if media_type in _TEXT_TYPES:
        return "text"
    # Servers often label downloads generically (application/octet-stream); the suffix then decides.
    return _SUFFIXES.get(PurePosixPath(urlsplit(name).path).suffix.lower(), "")


def language_code(value: str) -> str:
    """One of our four language codes from a declared tag ("fr-LU", "ltz", "de_DE"), or "" for anything else."""
    primary = re.split(r"[-_]", value.strip().lower(), maxsplit=1)[0]
    primary = _ISO639_2.get(primary, primary)
    return primary if primary in LANGUAGES else ""


def clean_text(text: str) -> str:
    """Collapse runs of spaces (keeping line breaks), strip every line and drop the empty ones."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def _fallback_title(name: str) -> str:
    return PurePosixPath(urlsplit(name).path).stem or name


def _is_title(heading: str, title: str) -> bool:
    """Whether a heading just repeats the title, also when the title adds a site name ("Page - Guichet.lu")."""
    heading, title = heading.casefold().strip(), title.casefold().strip()
    if heading == title:
        return True
    return bool(heading) and any(title.startswith(heading + sep) for sep in (" - ", " | ", " – ", " — ", " : "))


def _join(blocks: Iterable[_Block]) -> str:
    out: list[str] = []
    previous: _Block | None = None
    for block in blocks:
        if previous is not None:
            out.append("\n" if previous.group and previous.group == block.group else "\n\n")
        out.append(block.text)
        previous = block
    return "".join(out)


def _sections(blocks: list[_Block], title: str) -> tuple[Section, ...]:
    """Heading-path sections, as ``markdown_sections`` builds them, without re-parsing our own text."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[_Block] = []

    def flush() -> None:
        text = _join(body).strip()
        if text:
            sections.append(Section(headings=tuple(heading for _, heading in stack), text=text))
        body.clear()

    for block in blocks:
        if not block.level:
            body.append(block)
            continue
        flush()
        if block.level == 1 and _is_title(block.text, title):
            continue
        while stack and stack[-1][0] >= block.level:
            stack.pop()
        stack.append((block.level, block.text))
    flush()
    return tuple(sections)


def _detected_language(text: str) -> str:
    if len(text.split()) < MIN_DETECTION_WORDS:
        return ""
    language, _ = detect_language(text[:DETECTION_SAMPLE_CHARS], fallback="")
    return language_code(language)


def _assemble(parts: _Parts, *, name: str, what: str) -> Extracted:
    title = parts.title or next((b.text for b in parts.blocks if b.level == 1), "") or _fallback_title(name)
    sections = _sections(parts.blocks, title)
    if not sections:
        raise ExtractionError(f"{name}: no text found in the {what}")
    text = _join(_Block("#" * b.level + " " + b.text) if b.level else b for b in parts.blocks)
    plain = "\n\n".join(section.text for section in sections)
    return Extracted(
        title=title,
        language=language_code(parts.language) or _detected_language(plain),
        sections=sections,
        text=text,
        canonical_url=parts.canonical_url,
        alternates=parts.alternates,
        meta=dict(parts.meta),
    )


def _codec(charset: str) -> str:
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return ""


def _decode(content: bytes, content_type: str, *, sniff_meta: bool = False) -> str:
    """Decode with the BOM, else the declared charset (header, then <meta> for HTML), else UTF-8 with replacement."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if content.startswith(bom):
            return content[len(bom) :].decode(encoding, errors="replace")
    declared = _CHARSET.search(content_type)
    encoding = _codec(declared.group(1)) if declared else ""
    if not encoding and sniff_meta:
        found = _META_CHARSET.search(content[:4096])
        encoding = _codec(found.group(1).decode("ascii")) if found else ""
    return content.decode(encoding or "utf-8", errors="replace")


def _decode_html(content: bytes, content_type: str) -> str:
    return _decode(content, content_type, sniff_meta=True)


def _extract_text(content: bytes, *, content_type: str, name: str) -> Extracted:
    raw = _decode(content, content_type)
    try:
        meta, body = front_matter(raw, name)
    except DocumentError as exc:
        raise ExtractionError(str(exc)) from exc
    title = str(meta.get("title") or "").strip()
    if not title:
        title = next((line[2:].strip() for line in body.splitlines() if line.startswith("# ")), "")
    title = title or _fallback_title(name)
    sections = markdown_sections(body, title)
    if not sections:
        raise ExtractionError(f"{name}: no text found in the text document")
    declared = str(meta.get("language") or meta.get("lang") or "")
    plain = "\n\n".join(section.text for section in sections)
    return Extracted(
        title=title,
        language=language_code(declared) or _detected_language(plain),
        sections=sections,
        text=body.strip(),
        meta={str(key): _meta_value(value) for key, value in meta.items()},
    )


def _meta_value(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)


_PDF_JUNK_TITLE = re.compile(r"^(untitled|microsoft word - .*|.*\.(docx?|pdf|odt|rtf))$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?:;]$")
_BULLET = re.compile(r"^[•▪●◦‣∙·*-]\s*")


def _pdf_page_blocks(text: str) -> list[_Block]:
    """A page's lines grouped into paragraphs, so long pages still split into chunks.

    PDF text has no paragraph marks: a line ending a sentence ends a paragraph, and a bullet starts a new one.
    """
    blocks: list[_Block] = []
    paragraph: list[str] = []
    for line in clean_text(text).split("\n"):
        bullet = _BULLET.match(line)
        if bullet and paragraph:
            blocks.append(_Block("\n".join(paragraph)))
            paragraph = []
        paragraph.append("- " + line[bullet.end() :] if bullet else line)
        if _SENTENCE_END.search(line):
            blocks.append(_Block("\n".join(paragraph)))
            paragraph = []
    if paragraph:
        blocks.append(_Block("\n".join(paragraph)))
    return [block for block in blocks if block.text]


def _pdf_parts(content: bytes, name: str) -> _Parts:
    try:
        reader = pypdf.PdfReader(io.BytesIO(content))
    except Exception as exc:  # pypdf raises many unrelated types on damaged input
        raise ExtractionError(f"{name}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    if reader.is_encrypted:
        try:
            # Many official PDFs are "encrypted" only to restrict editing, with an empty password to open them.
            opened = bool(reader.decrypt(""))
        except Exception as exc:  # unsupported cipher or missing crypto dependency
            raise ExtractionError(f"{name}: the PDF is encrypted and cannot be opened ({exc})") from exc
        if not opened:
            raise ExtractionError(f"{name}: the PDF is encrypted with a password")
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
        info_title = str((reader.metadata.title if reader.metadata else None) or "").strip()
        declared = str(reader.root_object.get("/Lang") or "")
    except Exception as exc:  # damage often only shows once pages are read
        raise ExtractionError(f"{name}: not a readable PDF ({type(exc).__name__}: {exc})") from exc
    blocks: list[_Block] = []
    for number, page_text in enumerate(pages, start=1):
        page_blocks = _pdf_page_blocks(page_text)
        if page_blocks and len(pages) > 1:
            # A page label as the heading lets a citation point at the page; "p." reads in all four languages.
            blocks.append(_Block(f"p. {number}", level=2))
        blocks.extend(page_blocks)
    if _PDF_JUNK_TITLE.match(info_title):
        info_title = ""
    first_line = next((b.text.split("\n", 1)[0] for b in blocks if not b.level), "")
    return _Parts(title=info_title or first_line.removeprefix("- "), blocks=blocks, language=declared)


_DOCX_HEADING = re.compile(r"^heading (\d)$", re.IGNORECASE)


def _docx_parts(content: bytes, name: str) -> _Parts:
    try:
        document = docx.Document(io.BytesIO(content))
        items = list(document.iter_inner_content())
        properties = document.core_properties
        info_title, declared = (properties.title or "").strip(), properties.language or ""
    except Exception as exc:  # python-docx raises zip, XML and key errors on damaged input
        raise ExtractionError(f"{name}: not a readable DOCX document ({type(exc).__name__}: {exc})") from exc
    blocks: list[_Block] = []
    title_paragraph = ""
    for item in items:
        if isinstance(item, Table):
            blocks.extend(_docx_table_rows(item))
            continue
        if not isinstance(item, Paragraph):
            continue
        text = clean_text(item.text).replace("\n", " ")
        if not text:
            continue
        style = (item.style.name if item.style is not None else "") or ""
        heading = _DOCX_HEADING.match(style)
        if style.lower() == "title":
            title_paragraph = title_paragraph or text
            blocks.append(_Block(text, level=1))
        elif heading:
            blocks.append(_Block(text, level=min(max(int(heading.group(1)), 1), 6)))
        elif style.lower().startswith("list"):
            blocks.append(_Block("- " + text, group="list"))
        else:
            blocks.append(_Block(text))
    return _Parts(title=info_title or title_paragraph, blocks=blocks, language=declared)


def _docx_table_rows(table: Table) -> list[_Block]:
    rows: list[_Block] = []
    for row in table.rows:
        cells: list[str] = []
        previous: object = None
        for cell in row.cells:
            # A merged cell is returned once per grid column it spans; keep it once.
            if cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(clean_text(cell.text).replace("\n", " "))
        if any(cells):
            rows.append(_Block(" | ".join(cells), group="table"))
    return rows


_HTML_SKIP = frozenset(
    {"script", "style", "nav", "footer", "aside", "form", "noscript", "template"}
    | {"svg", "iframe", "object", "canvas", "button", "select", "dialog"}
)
_HTML_SKIP_ROLES = frozenset({"navigation", "banner", "contentinfo", "complementary", "search"})
_HTML_BLOCK = frozenset(
    {"address", "article", "blockquote", "body", "caption", "dd", "details", "div", "dl", "dt", "fieldset"}
    | {"figcaption", "figure", "hr", "li", "main", "ol", "p", "section", "summary", "table", "td", "th", "ul"}
)
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_DISPLAY_NONE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)


def _one_line(text: str) -> str:
    return clean_text(text).replace("\n", " ")


def _html_skipped(node: LexborNode) -> bool:
    attrs = node.attributes
    if "hidden" in attrs or (attrs.get("aria-hidden") or "").strip().lower() == "true":
        return True
    if (attrs.get("role") or "").strip().lower() in _HTML_SKIP_ROLES or _DISPLAY_NONE.search(attrs.get("style") or ""):
        return True
    if node.tag == "header":
        # An article's own <header> often holds its <h1>; only a header without one is site chrome.
        return node.css_first("h1") is None
    return node.tag in _HTML_SKIP


class _HtmlWalker:
    """Walks an element tree in document order (iteratively: broken HTML can nest thousands deep)."""

    def __init__(self) -> None:
        self.blocks: list[_Block] = []
        self._inline: list[str] = []
        self._prefix = ""
        self._lists = 0

    def walk(self, root: LexborNode) -> list[_Block]:
        stack: list[tuple[LexborNode, bool]] = [(root, True)]
        while stack:
            node, entering = stack.pop()
            if entering:
                self._open(node, stack)
            else:
                self._close(node)
        self._flush()
        return self.blocks

    def _open(self, node: LexborNode, stack: list[tuple[LexborNode, bool]]) -> None:
        tag = node.tag or ""
        if tag == "-text":
            self._inline.append(node.text_content or "")
            return
        if not tag or tag.startswith("-") or _html_skipped(node):
            return
        if tag in _HTML_HEADINGS:
            self._flush()
            # An unclosed heading swallows the paragraphs after it ("<h2>Booking<p>..."): only its leading
            # inline content is the heading, the blocks inside are body text.
            children = list(node.iter(include_text=True))
            split = next((i for i, c in enumerate(children) if c.tag in _HTML_BLOCK | _HTML_HEADINGS.keys()), None)
            inline = children if split is None else children[:split]
            text = _one_line("".join((c.text_content or "") if c.tag == "-text" else c.text() for c in inline))
            if text:
                self.blocks.append(_Block(text, level=_HTML_HEADINGS[tag]))
            if split is not None:
                stack.extend((child, True) for child in reversed(children[split:]))
            return
        if tag == "tr" and self._row(node):
            return
        if tag == "pre":
            self._flush()
            text = "\n".join(line.rstrip() for line in node.text().strip("\n").splitlines())
            if text.strip():
                self.blocks.append(_Block(text))
            return
        if tag == "br":
            self._inline.append("\n")
            return
        if tag in {"ul", "ol"}:
            self._lists += 1
        if tag in _HTML_BLOCK:
            self._flush()
        if tag == "li":
            self._prefix = "  " * max(self._lists - 1, 0) + "- "
        stack.append((node, False))
        stack.extend((child, True) for child in reversed(list(node.iter(include_text=True))))

    def _close(self, node: LexborNode) -> None:
        if node.tag in {"ul", "ol"}:
            self._lists -= 1
        if node.tag in _HTML_BLOCK:
            self._flush()

    def _row(self, row: LexborNode) -> bool:
        """A data-table row as one "a | b" line; False for layout rows, whose cells are walked as blocks."""
        cells = [cell for cell in row.iter() if cell.tag in {"td", "th"} and not _html_skipped(cell)]
        if len(cells) < 2 or row.css_first("table, h1, h2, h3, h4, h5, h6") is not None:
            return False
        self._flush()
        texts = [_one_line(cell.text()) for cell in cells]
        if any(texts):
            self.blocks.append(_Block(" | ".join(texts), group="table"))
        return True

    def _flush(self) -> None:
        text = clean_text("".join(self._inline))
        self._inline.clear()
        if not text:
            return
        if self._prefix:
            self.blocks.append(_Block(self._prefix + text, group="list"))
            self._prefix = ""
        else:
            self.blocks.append(_Block(text))


def _html_main(tree: LexborHTMLParser) -> LexborNode | None:
    """The page's main content: <main>, then [role=main], then <article>, else the whole <body>."""
    for selector in ("main", "[role=main]", "article"):
        for node in tree.css(selector):
            if not _html_skipped(node) and node.text().strip():
                return node
    return tree.body or tree.root


def _html_links(tree: LexborHTMLParser, base_url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    base_tag = tree.css_first("base[href]")
    base = urljoin(base_url, (base_tag.attributes.get("href") or "").strip()) if base_tag is not None else base_url
    canonical = ""
    alternates: list[tuple[str, str]] = []
    for link in tree.css("link[rel][href]"):
        rels = set((link.attributes.get("rel") or "").lower().split())
        href = urljoin(base, (link.attributes.get("href") or "").strip())
        hreflang = (link.attributes.get("hreflang") or "").strip()
        if "canonical" in rels and not canonical:
            canonical = href
        if "alternate" in rels and hreflang and hreflang.lower() != "x-default" and (hreflang, href) not in alternates:
            alternates.append((hreflang, href))
    return canonical, tuple(alternates)


def _html_language(tree: LexborHTMLParser) -> str:
    root = tree.root
    declared = [root.attributes.get("lang") or root.attributes.get("xml:lang") or ""] if root is not None else []
    for meta in tree.css("meta[content]"):
        key = (meta.attributes.get("http-equiv") or meta.attributes.get("name") or "").lower()
        if key in {"content-language", "language", "dc.language"}:
            declared.append(meta.attributes.get("content") or "")
    return next((code for code in map(language_code, declared) if code), "")


def _html_parts(html: str, *, base_url: str) -> _Parts:
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("head title") or tree.css_first("title")
    meta: dict[str, str] = {}
    for node in tree.css("meta[name][content]"):
        key = (node.attributes.get("name") or "").strip().lower()
        if key.startswith("guichet:") and key != "guichet:":
            meta[key.removeprefix("guichet:")] = (node.attributes.get("content") or "").strip()
    main = _html_main(tree)
    blocks = _HtmlWalker().walk(main) if main is not None else []
    if not any(not block.level for block in blocks) and tree.body is not None and main is not tree.body:
        blocks = _HtmlWalker().walk(tree.body)
    canonical, alternates = _html_links(tree, base_url)
    return _Parts(
        title=_one_line(title_node.text()) if title_node is not None else "",
        blocks=blocks,
        language=_html_language(tree),
        canonical_url=canonical,
        alternates=alternates,
        meta=meta,
    )
