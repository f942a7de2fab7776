"""Render an answer safely: escaped text, paragraphs and lists, ``[n]`` linked to its cited page."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()
_CITATION = re.compile(r"\[(\d{1,2})\]")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_BULLET = re.compile(r"^([-*]|\d+[.)])\s+")


def _inline(text: str, urls: dict[int, str]) -> str:
    html = _BOLD.sub(r"<strong>\1</strong>", str(escape(text)))

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number not in urls:
            return ""
        return str(format_html('<a class="cite" href="{}" rel="noopener">[{}]</a>', urls[number], number))

    return _CITATION.sub(link, html)


@register.filter
def render_answer(text: str, sources: list[dict[str, object]]) -> SafeString:
    urls = {int(str(s["number"])): str(s["url"]) for s in sources}
    blocks: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines and all(_BULLET.match(line) for line in lines):
            items = "".join(f"<li>{_inline(_BULLET.sub('', line), urls)}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        elif lines:
            blocks.append(f"<p>{'<br>'.join(_inline(line, urls) for line in lines)}</p>")
    return mark_safe("".join(blocks))  # noqa: S308 - every piece above is escaped or built by format_html
