"""The steps of an answer. Each reads and writes the context and may stop the pipeline."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import yaml
from django.conf import settings
from django.utils import translation

from assistant import replies
from assistant.circuit import circuit_breaker
from assistant.embedder import Embedder
from assistant.excerpt import best_excerpt
from assistant.grounding import (
    CITATION,
    NO_ANSWER,
    format_placeholders_removed,
    no_answer_fragments_removed,
    unsourced_contacts_removed,
    unsourced_numbers,
    written_language,
)
from assistant.injection import injections_strip, looks_like_injection
from assistant.language import detect_language
from assistant.lexical import fold
from assistant.llm import LLM, ChatMessage, LLMUnavailable
from assistant.pii import pii_redact, placeholders_removed
from assistant.pipeline.context import AnswerContext
from assistant.prompts import answer_prompt_version, load_prompt, prompt_canary, with_canary
from assistant.retrieval import RetrievalConfig, number_sources, retrieve
from assistant.types import ScoredChunk, StreamEvent
from assistant.vector_index import EdgeIndex, IndexUnavailable

# The name of the index's circuit breaker, the same as its readiness check's.
INDEX_BREAKER = "index"


class Step(Protocol):
    name: str

    def __call__(self, ctx: AnswerContext) -> None: ...


def _translated(language: str, message: object, **params: object) -> str:
    with translation.override(language):
        text = str(message)
    return text % params if params else text


def _listing(language: str, kinds: tuple[str, ...]) -> str:
    with translation.override(language):
        return ", ".join(str(replies.PII_KIND_LABELS[kind]) for kind in kinds)


@dataclass
class CheckInput:
    """Empty, too long, or holding personal data: refused before anything reads the question."""

    name: str = "input"

    def __call__(self, ctx: AnswerContext) -> None:
        ctx.question = ctx.question.strip()
        limit = settings.QUESTION_MAX_CHARS
        if not ctx.question:
            ctx.abort(status="rejected", reason="empty", reply=_translated(ctx.ui_language, replies.EMPTY_QUESTION))
            return
        if len(ctx.question) > limit:
            reply = _translated(ctx.ui_language, replies.QUESTION_TOO_LONG, limit=limit)
            ctx.abort(status="rejected", reason="too_long", reply=reply)
            return
        redacted = pii_redact(ctx.question)
        if not redacted.found:
            return
        # From here on only the redacted text exists in the context; metrics keep counts, never values.
        ctx.question = redacted.text
        ctx.metrics.setdefault(self.name, {})["personal_data"] = dict(redacted.counts)
        language, _confidence = detect_language(placeholders_removed(redacted.text), fallback=ctx.ui_language)
        ctx.language = language
        reply = _translated(language, replies.PERSONAL_DATA, kinds=_listing(language, redacted.kinds))
        ctx.abort(status="rejected", reason="personal_data", reply=reply)


@lru_cache(maxsize=1)
def _routes() -> dict[str, re.Pattern[str]]:
    raw = yaml.safe_load((Path(__file__).parents[1] / "data" / "routes.yaml").read_text(encoding="utf-8"))
    return {
        route: re.compile(r"\b(?:" + "|".join(re.escape(fold(p)) for p in patterns) + r")\b")
        for route, patterns in raw.items()
    }


@dataclass
class Route:
    """Crisis, greetings and thanks get a fixed reply; everything else goes on to retrieval."""

    short_words: int = 4
    name: str = "route"

    def __call__(self, ctx: AnswerContext) -> None:
        text = fold(ctx.question)
        routes = _routes()
        if routes["crisis"].search(text):
            route, reply = "crisis", replies.CRISIS
        elif len(text.split()) <= self.short_words and routes["thanks"].search(text):
            route, reply = "thanks", replies.THANKS
        elif len(text.split()) <= self.short_words and routes["greeting"].search(text):
            route, reply = "greeting", replies.GREETING
        else:
            return
        ctx.metrics.setdefault(self.name, {})["route"] = route
        ctx.emit(StreamEvent("sources", {"sources": []}))
        ctx.abort(status="routed", reason=route, reply=_translated(ctx.language, reply))


@dataclass
class DetectLanguage:
    name: str = "language"

    def __call__(self, ctx: AnswerContext) -> None:
        ctx.language, confidence = detect_language(ctx.question, fallback=ctx.ui_language)
        ctx.metrics.setdefault(self.name, {})["confidence"] = round(confidence, 3)


_VARIANT_LINE = re.compile(r"^\s*(en|fr|de)\s*:\s*(.+?)\s*$", re.MULTILINE)


@dataclass
class Rephrase:
    """Make the question standalone (follow-ups) and translate it, so that pages in any language match."""

    llm: LLM
    only_followups: bool = False
    # Also translate first questions in a language the model answers in a fallback language
    # (ANSWER_LANGUAGE_FALLBACKS): the model is then given the question in the language it writes.
    for_fallback_languages: bool = False
    max_tokens: int = 160
    name: str = "rephrase"

    def messages(self, ctx: AnswerContext) -> list[ChatMessage]:
        history = "".join(f"Earlier question: {q}\nEarlier answer: {a[:300]}\n" for q, a in ctx.history[-2:])
        user = load_prompt("rephrase_user", "all", "v1").format(history=history, question=ctx.question)
        return [ChatMessage("system", load_prompt("rephrase", "all", "v1")), ChatMessage("user", user)]

    def __call__(self, ctx: AnswerContext) -> None:
        fallback = self.for_fallback_languages and ctx.language in settings.ANSWER_LANGUAGE_FALLBACKS
        if self.only_followups and not ctx.history and not fallback:
            return
        try:
            output = "".join(self.llm.stream(self.messages(ctx), max_tokens=self.max_tokens, temperature=0.0))
        except LLMUnavailable:
            ctx.metrics.setdefault(self.name, {})["skipped"] = "llm_unavailable"
            return  # retrieval still works on the question as typed
        ctx.search_variants = {
            lang: text[:500] for lang, text in _VARIANT_LINE.findall(output) if text and text != ctx.question
        }
        ctx.metrics.setdefault(self.name, {})["variants"] = dict(ctx.search_variants)


@dataclass
class Retrieve:
    index: EdgeIndex | None = None
    embedder: Embedder | None = None
    config: RetrievalConfig | None = None
    name: str = "retrieval"

    def __call__(self, ctx: AnswerContext) -> None:
        try:
            # An index that keeps failing (broken shard, Qdrant down) is not tried again for a while.
            with circuit_breaker(INDEX_BREAKER).attempt(IndexUnavailable):
                result = retrieve(
                    question=ctx.question,
                    language=ctx.language,
                    variants=ctx.search_variants,
                    index=self.index,
                    embedder=self.embedder,
                    config=self.config,
                )
        except IndexUnavailable:
            ctx.emit(StreamEvent("sources", {"sources": []}))
            reply = _translated(ctx.language, replies.INDEX_UNAVAILABLE)
            ctx.abort(status="failed", reason="index_unavailable", reply=reply)
            return
        ctx.retrieval = result
        # When nothing is relevant enough, the closest pages are still shown (not given to a model).
        ctx.sources = number_sources(result.kept or _closest_pages(result.rejected))
        ctx.metrics.setdefault(self.name, {}).update(
            {
                "kept": len(result.kept),
                "rejected": len(result.rejected),
                "reason": result.reason,
                # What reviewers see for a doubtful answer: every chunk considered, with its scores.
                "chunks": [_chunk_summary(c, kept=True) for c in result.kept]
                + [_chunk_summary(c, kept=False) for c in sorted(result.rejected, key=lambda c: c.rank)[:10]],
            }
        )
        # Sources reach the citizen before the first token.
        ctx.emit(StreamEvent("sources", {"sources": [s.public() for s in ctx.sources]}))
        if not result.kept:
            ctx.abort(status="declined", reason=result.reason, reply=_translated(ctx.language, replies.NOT_FOUND))


def _chunk_summary(chunk: ScoredChunk, *, kept: bool) -> dict[str, object]:
    return {
        "document": chunk.document_key,
        "section": chunk.heading_path[:200],
        "rank": chunk.rank,
        "score": round(chunk.fused_score, 4),
        "dense": round(chunk.dense_score, 4),
        "kept": kept,
    }


def _closest_pages(rejected: tuple[ScoredChunk, ...], limit: int = 3) -> tuple[ScoredChunk, ...]:
    by_document = {c.document_key: c for c in reversed(rejected)}  # best chunk of each page
    return tuple(sorted(by_document.values(), key=lambda c: c.rank)[:limit])


def _source_block(ctx: AnswerContext, budget: int, limit: int | None = None) -> str:
    """Sources as numbered blocks; sentences addressed to the model are removed (documents are data).

    ``limit`` keeps only the first (best) sources, which then share the whole budget."""
    sources = ctx.sources[:limit]
    per_source = max(200, budget // max(1, len(sources)))
    blocks, removed = [], 0
    for s in sources:
        text, dropped = injections_strip(s.text)
        removed += dropped
        blocks.append(f"[{s.number}] {s.heading_path}:\n{text[:per_source]}")
    if removed:
        ctx.metrics.setdefault("generation", {})["injections_removed"] = removed
    return "\n\n".join(blocks)


class _MarkerFilter:
    """Holds back streamed text while it could still be the NO_ANSWER marker, and drops the marker."""

    def __init__(self) -> None:
        self._held = ""
        self._suppressed = False
        self._decided = False

    def feed(self, piece: str) -> str:
        if self._suppressed:
            return ""
        if self._decided:
            return piece
        self._held += piece
        candidate = self._held.strip()
        if NO_ANSWER.startswith(candidate):
            return ""
        self._decided = True
        if candidate.startswith(NO_ANSWER):
            self._suppressed = True
            return ""
        text, self._held = self._held, ""
        return text

    def flush(self) -> str:
        text, self._held = ("" if self._suppressed or self._held.strip() == NO_ANSWER else self._held), ""
        return text


def _answer_language_choose(ctx: AnswerContext) -> None:
    """The model answers in the question's language, or in its fallback with a notice saying so."""
    ctx.answer_language = settings.ANSWER_LANGUAGE_FALLBACKS.get(ctx.language, ctx.language)
    if ctx.answer_language != ctx.language:
        name = dict(settings.LANGUAGES)[ctx.answer_language]
        with translation.override(ctx.language):
            ctx.notice = str(replies.ANSWER_IN_OTHER_LANGUAGE) % {"language": str(name)}


@dataclass
class Compose:
    llm: LLM
    context_chars: int = 4200
    sources_limit: int | None = None  # give the model only the best n sources (the second look)
    name: str = "generation"

    def messages(self, ctx: AnswerContext) -> list[ChatMessage]:
        language, version = ctx.answer_language or ctx.language, answer_prompt_version()
        system = with_canary(load_prompt("answer", language, version))
        template = load_prompt("answer_user", language, version)
        # A fallback-language answer gets the question translated by the rephrase step, when it ran.
        question = ctx.search_variants.get(language, ctx.question) if language != ctx.language else ctx.question
        user = template.format(sources=_source_block(ctx, self.context_chars, self.sources_limit), question=question)
        return [ChatMessage("system", system), ChatMessage("user", user)]

    def __call__(self, ctx: AnswerContext) -> None:
        started = time.perf_counter()
        pieces: list[str] = []
        emitted: list[str] = []
        shown = _MarkerFilter()
        _answer_language_choose(ctx)
        stream = self.llm.stream(
            self.messages(ctx), max_tokens=settings.LLM_MAX_TOKENS, temperature=settings.LLM_TEMPERATURE
        )
        try:
            for piece in stream:
                if ctx.first_token_ms is None:
                    ctx.first_token_ms = (time.perf_counter() - started) * 1000
                pieces.append(piece)
                if text := shown.feed(piece):
                    if not emitted and ctx.notice:
                        text = f"{ctx.notice}\n\n{text.lstrip()}"
                    emitted.append(text)
                    ctx.emit(StreamEvent("token", {"text": text}))
                if ctx.cancelled():
                    ctx.raw_output = "".join(pieces)
                    ctx.abort(status="cancelled", reason="client_cancelled", reply=ctx.raw_output)
                    return
                if time.monotonic() > ctx.deadline:
                    # Keep what the citizen already read, say it was cut short, free the model for others.
                    ctx.raw_output = "".join(pieces)
                    note = _translated(ctx.language, replies.ANSWER_TIMED_OUT)
                    partial = "".join(emitted).strip()
                    ctx.metrics.setdefault(self.name, {})["chars"] = len(ctx.raw_output)
                    ctx.abort(status="timed_out", reason="answer_timeout", reply=f"{partial}\n\n{note}".strip())
                    return
        except LLMUnavailable:
            ctx.raw_output = "".join(pieces)
            reply = _translated(ctx.language, replies.MODEL_UNAVAILABLE)
            ctx.abort(status="failed", reason="llm_unavailable", reply=reply)
            return
        finally:
            # Closing the generator ends llama.cpp's generation and releases its place in the queue now.
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if text := shown.flush():
            if not emitted and ctx.notice:
                text = f"{ctx.notice}\n\n{text.lstrip()}"
            ctx.emit(StreamEvent("token", {"text": text}))
        ctx.raw_output = "".join(pieces)
        ctx.metrics.setdefault(self.name, {}).update(
            {
                "first_token_ms": round(ctx.first_token_ms or 0.0, 1),
                "chars": len(ctx.raw_output),
                "prompt": answer_prompt_version(),
                "answer_language": ctx.answer_language,
            }
        )


@dataclass
class SecondLook:
    """When the model finds no answer in all the sources, it reads the best one(s) once more, alone.

    A small model given four sources of ~1,000 characters often answers NO_ANSWER although the best
    one holds the answer (on shared/eval, most of its wrong declines had the expected page among the
    sources). Asked again with only the best ``sources``, which then get the whole text budget, it
    may read them more closely. It is still the model's own judgement, under the same prompt and the
    same output checks, and only a checked, cited answer changes the outcome: an unusable second
    text leaves the decline (``CheckOutput._replace``). It costs one more generation, only after a
    decline and only with enough time left before the answer's deadline.

    Off by default (ANSWER_SECOND_LOOK_SOURCES=0): with the offline Qwen2.5-Coder-1.5B it gave no
    checked answer on shared/eval (its second texts were NO_ANSWER again, citation lists such as
    "[1] [1] [1]" or copied format placeholders) and cost ~15-25 s per decline. Kept for stronger
    models, to be switched on where `manage.py evaluate` shows that it helps.
    """

    compose: Compose
    sources: int = 1
    min_seconds_left: float = 30.0
    name: str = "second_look"

    def __call__(self, ctx: AnswerContext) -> None:
        if self.sources < 1 or len(ctx.sources) <= self.sources or not ctx.raw_output.strip().startswith(NO_ANSWER):
            return
        if ctx.deadline - time.monotonic() < self.min_seconds_left:
            ctx.metrics.setdefault(self.name, {})["skipped"] = "deadline"
            return
        first_pass_ms = ctx.metrics.get(self.compose.name, {}).get("ms", 0.0)
        ctx.metrics.setdefault(self.name, {})["first_output"] = ctx.raw_output[:200]
        ctx.emit(StreamEvent("status", {"message": _translated(ctx.language, replies.SECOND_LOOK)}))
        ctx.first_token_ms = None  # the first pass's tokens were the hidden marker; the citizen saw nothing
        replace(self.compose, sources_limit=self.sources, name=self.name)(ctx)
        if ctx.first_token_ms is not None:  # counted from when the question reached the first pass
            ctx.first_token_ms += float(first_pass_ms) if isinstance(first_pass_ms, int | float) else 0.0


def second_looked(ctx: AnswerContext) -> bool:
    """The model declined, then read the best source(s) again (``SecondLook`` ran its generation)."""
    return "first_output" in ctx.metrics.get(SecondLook.name, {})


@dataclass
class CheckOutput:
    name: str = "output"

    def __call__(self, ctx: AnswerContext) -> None:
        if ctx.raw_output.strip().startswith(NO_ANSWER):
            reply = _translated(ctx.language, replies.NOT_FOUND)
            ctx.abort(status="declined", reason="model_found_no_answer", reply=reply)
            return
        if prompt_canary().lower() in ctx.raw_output.lower():
            # The model repeated its instructions (an injection succeeded): nothing of it is shown.
            self._replace(ctx, reason="prompt_leak")
            return
        numbers = {s.number for s in ctx.sources}
        output = no_answer_fragments_removed(ctx.raw_output)
        cited = [int(n) for n in CITATION.findall(output)]
        valid = tuple(dict.fromkeys(n for n in cited if n in numbers))
        text = CITATION.sub(lambda m: m.group(0) if int(m.group(1)) in numbers else "", output)
        sources_text = "\n".join(f"{s.url}\n{s.text}" for s in ctx.sources)
        text = format_placeholders_removed(unsourced_contacts_removed(text, sources_text))
        ctx.metrics.setdefault(self.name, {}).update({"cited": len(cited), "valid": len(valid)})
        prose = CITATION.sub("", text)
        # No citation, or citations without words ("[1] [n]"); a short answer ("8 days [1]") is text.
        if not valid or len(re.findall(r"\w+", prose)) < 2:
            self._replace(ctx, reason="no_valid_citation" if not valid else "no_text")
            return
        if invented := unsourced_numbers(prose, sources_text):
            # An amount, age or deadline that no source holds: the model made it up; none of it is shown.
            ctx.metrics[self.name]["unsourced_numbers"] = len(invented)
            self._replace(ctx, reason="unsourced_number")
            return
        if (written := written_language(prose)) and written not in {ctx.language, ctx.answer_language}:
            # A page copied in another language (a French question answered with a Luxembourgish page).
            ctx.metrics[self.name]["written_language"] = written
            self._replace(ctx, reason="wrong_language")
            return
        if ctx.notice and written == ctx.language != ctx.answer_language:
            # Asked for the fallback, the model wrote the citizen's own language (quoting a Luxembourgish
            # page): the notice "answered in German" would be wrong, and the page marks the body lb.
            ctx.metrics[self.name]["written_language"] = written
            ctx.notice, ctx.answer_language = "", ctx.language
        answer = f"{ctx.notice}\n\n{text.strip()}" if ctx.notice else text.strip()
        ctx.answer, ctx.citations, ctx.status = answer, valid, "answered"

    @staticmethod
    def _replace(ctx: AnswerContext, *, reason: str) -> None:
        """The model's text is not shown; the citizen gets the sources with a short apology, led by
        the passage of a page in their language that matches the question best, when one does.

        After a second look, an unusable text is no evidence that the pages hold the answer (the
        model's first reading found none): the reply stays the decline. A prompt leak is always
        reported as such.
        """
        if reason != "prompt_leak" and second_looked(ctx):
            ctx.metrics[SecondLook.name]["unusable"] = reason
            reply = _translated(ctx.language, replies.NOT_FOUND)
            ctx.abort(status="declined", reason="model_found_no_answer", reply=reply)
            return
        listing = "\n".join(f"- [{s.number}] {s.title}" for s in ctx.sources)
        question = ctx.search_variants.get(ctx.language) or ctx.question
        excerpt = best_excerpt(question, ctx.sources, language=ctx.language)
        if excerpt is None:
            reply = f"{_translated(ctx.language, replies.CITATIONS_FAILED)}\n{listing}"
        else:
            ctx.metrics.setdefault("output", {})["excerpt_terms"] = excerpt.matched
            intro = _translated(ctx.language, replies.EXCERPT_INSTEAD)
            others = _translated(ctx.language, replies.EXCERPT_OTHER_PAGES)
            reply = f"{intro}\n\n“{excerpt.text}” [{excerpt.number}]\n\n{others}\n{listing}"
        ctx.citations = tuple(s.number for s in ctx.sources)
        ctx.abort(status="replaced", reason=reason, reply=reply)


@dataclass
class GuardInjection:
    """A question that tries to change the assistant's rules is not given to any model."""

    name: str = "injection"

    def __call__(self, ctx: AnswerContext) -> None:
        if looks_like_injection(ctx.question):
            ctx.metrics.setdefault(self.name, {})["blocked"] = True
            ctx.abort(status="rejected", reason="injection", reply=_translated(ctx.language, replies.NOT_FOUND))
