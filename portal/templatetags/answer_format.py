"""Render an answer safely: escaped text, paragraphs, lists and bold; ``[n]`` linked to its source.

The model's text is never trusted as HTML and never supplies a link: the only links are citations,
built here from the numbered sources retrieval returned. ``static/portal/chat.js`` renders streamed
answers with the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

register = template.Library()
_CITATION = re.compile(r"\[(\d{1,2})\]")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_BULLET = re.compile(r"^([-*•]|\d+[.)])\s+")
_NUMBERED = re.compile(r"^\d+[.)]\s+")


def _inline(text: str, links: Mapping[int, str], spoken_label: str) -> str:
    html = _BOLD.sub(r"<strong>\1</strong>", str(escape(text)))

    def link(match: re.Match[str]) -> str:
        number = int(match.group(1))
        if number not in links:
            return ""
        if spoken_label:
            return str(
                format_html(
                    '<a class="cite" href="{}" aria-label="{} [{}]">[{}]</a>',
                    links[number],
                    spoken_label,
                    number,
                    number,
                )
            )
        return str(format_html('<a class="cite" href="{}" rel="noopener">[{}]</a>', links[number], number))

    return _CITATION.sub(link, html)


def answer_markup(text: str, links: Mapping[int, str], spoken_label: str = "", lead_language: str = "") -> SafeString:
    """``lead_language``: the language of the first paragraph when it differs from the rest (a notice)."""
    blocks: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines and all(_BULLET.match(line) for line in lines):
            tag = "ol" if all(_NUMBERED.match(line) for line in lines) else "ul"
            items = "".join(f"<li>{_inline(_BULLET.sub('', line), links, spoken_label)}</li>" for line in lines)
            blocks.append(f"<{tag}>{items}</{tag}>")
        elif lines:
            lang = str(format_html(' lang="{}"', lead_language)) if lead_language and not blocks else ""
            blocks.append(f"<p{lang}>{'<br>'.join(_inline(line, links, spoken_label) for line in lines)}</p>")
    return mark_safe("".join(blocks))  # noqa: S308 - every piece above is escaped or built by format_html


@register.filter
def render_answer(text: str, sources: list[dict[str, object]]) -> SafeString:
    """``[n]`` linked straight to the cited page (for contexts without a sources panel)."""
    return answer_markup(text, {int(str(s["number"])): str(s["url"]) for s in sources})


@register.simple_tag
def answer_with_citations(
    text: str, sources: list[dict[str, object]], turn_id: object, lead_language: str = ""
) -> SafeString:
    """``[n]`` linked to source n in this turn's sources panel, where its page, language and date are."""
    links = {int(str(s["number"])): f"#source-{turn_id}-{s['number']}" for s in sources}
    return answer_markup(text, links, spoken_label=_("Source"), lead_language=lead_language)
