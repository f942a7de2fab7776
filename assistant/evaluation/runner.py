"""Run golden questions through the chat's own pipeline against an isolated index."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from django.db import transaction

from assistant.embedder import Embedder, get_embedder
from assistant.evaluation import metrics
from assistant.evaluation.dataset import EvalQuestion
from assistant.grounding import CITATION
from assistant.language import detect_language
from assistant.llm import LLM
from assistant.pipeline.context import AnswerContext
from assistant.pipeline.runner import pipeline_run
from assistant.pipeline.steps import second_looked
from assistant.services import answer_steps
from assistant.types import LANGUAGES
from assistant.vector_index import EdgeIndex
from ingestion.indexing import index_rebuild
from ingestion.models import Document
from ingestion.services import ingest_folder

REFUSED_STATUSES = {"declined", "rejected", "routed"}


@dataclass(frozen=True)
class QuestionResult:
    id: str
    language: str
    cross_lingual: bool
    answerable: bool
    retrieved_docs: list[str]
    rank: int | None
    best_dense_score: float | None
    refused: bool
    status: str
    answer: str
    raw_output: str
    citations: list[str]
    citations_valid: bool  # every [n] of the answer the citizen sees points to a retrieved source
    raw_citations_valid: bool  # the same, on the model's raw output (before the output check)
    answer_language: str
    fact_coverage: float | None
    fact_coverage_loose: float | None
    latency_ms: dict[str, float | None]
    reason: str = ""  # why the pipeline stopped (model_found_no_answer, no_valid_citation, unsourced_number, ...)
    second_look: bool = False  # the model declined, then read the best source again


def isolated_index_build(*, docs_dir: Path, index_root: Path, embedder: Embedder) -> dict[str, str]:
    """Ingest ``docs_dir`` into a throw-away index; the database changes are rolled back at once.

    Returns document key -> file name, to report documents as the golden set names them.
    """
    root = docs_dir.resolve()
    with transaction.atomic():
        report = ingest_folder(path=root, rebuild=False)
        if report.failed:
            raise ValueError(f"{report.failed} evaluation documents could not be read: {report.errors}")
        documents = Document.objects.filter(origin__startswith=str(root))
        files = {d.key: Path(d.origin).name for d in documents}
        index_rebuild(index=EdgeIndex(index_root), embedder=embedder, documents=documents)
        transaction.set_rollback(True)
    return files


# The list of pages that ends a replaced reply ("- [2] Title"): page titles, in each page's language.
_LISTED_PAGE = re.compile(r"^- \[\d{1,2}\] .*$", re.MULTILINE)


def reply_language(answer: str, *, status: str) -> str:
    """The language of what the assistant wrote. A replaced reply ends with the titles of the pages it
    lists: names of official pages, in their own language, not text written for the citizen; they
    are left out (otherwise a German reply listing French pages reads as French)."""
    if status == "replaced":
        answer = _LISTED_PAGE.sub("", answer)
    text = CITATION.sub("", answer)
    return detect_language(text, fallback="")[0] if text.strip() else ""


def _ranked_documents(ctx: AnswerContext, files: dict[str, str]) -> list[str]:
    if ctx.retrieval is None:
        return []
    ordered = [*ctx.retrieval.kept, *sorted(ctx.retrieval.rejected, key=lambda c: c.rank)]
    return list(dict.fromkeys(files.get(c.document_key, c.document_key) for c in ordered))


def question_run(
    *, question: EvalQuestion, steps: Sequence[Callable[[AnswerContext], None]], files: dict[str, str]
) -> QuestionResult:
    started = time.perf_counter()
    ctx = AnswerContext(question=question.question, ui_language=question.language)
    pipeline_run(ctx=ctx, steps=steps, observe=False)  # type: ignore[arg-type]
    total = (time.perf_counter() - started) * 1000
    numbers = {s.number: s for s in ctx.sources}
    raw_citations = [int(n) for n in CITATION.findall(ctx.raw_output)]
    generated = bool(ctx.raw_output)
    retrieved = _ranked_documents(ctx, files)
    return QuestionResult(
        id=question.id,
        language=question.language,
        cross_lingual=question.cross_lingual,
        answerable=question.answerable,
        retrieved_docs=retrieved,
        rank=metrics.rank_of(retrieved, question.acceptable_docs),
        best_dense_score=_best_score(ctx),
        refused=ctx.status in REFUSED_STATUSES,
        status=ctx.status,
        answer=ctx.answer,
        raw_output=ctx.raw_output,
        citations=[files.get(numbers[n].document_key, numbers[n].document_key) for n in ctx.citations if n in numbers],
        citations_valid=all(n in numbers for n in (int(m) for m in CITATION.findall(ctx.answer))),
        raw_citations_valid=all(n in numbers for n in raw_citations),
        answer_language=reply_language(ctx.answer, status=ctx.status),
        fact_coverage=metrics.coverage(question.answer_facts, ctx.answer, loose=False) if generated else None,
        fact_coverage_loose=metrics.coverage(question.answer_facts, ctx.answer, loose=True) if generated else None,
        latency_ms={
            "rephrase": _ms(ctx, "rephrase"),
            "retrieval": _ms(ctx, "retrieval"),
            "first_token": round(ctx.first_token_ms, 1) if ctx.first_token_ms is not None else None,
            "total": round(total, 1),
        },
        reason=ctx.reason,
        second_look=second_looked(ctx),
    )


def _best_score(ctx: AnswerContext) -> float | None:
    if ctx.retrieval is None:
        return None
    scores = [c.dense_score for c in (*ctx.retrieval.kept, *ctx.retrieval.rejected)]
    return max(scores, default=None)


def _ms(ctx: AnswerContext, step: str) -> float | None:
    value = ctx.metrics.get(step, {}).get("ms")
    return float(value) if isinstance(value, (int, float)) else None


def summarise(results: Sequence[QuestionResult], *, generated: bool) -> dict[str, dict[str, object]]:
    groups: dict[str, list[QuestionResult]] = {lang: [r for r in results if r.language == lang] for lang in LANGUAGES}
    groups["overall"] = list(results)
    return {name: _summary(group, generated=generated) for name, group in groups.items() if group}


def _recall(results: Sequence[QuestionResult], k: int) -> float | None:
    answerable = [r for r in results if r.answerable]
    if not answerable:
        return None
    return round(sum(r.rank is not None and r.rank <= k for r in answerable) / len(answerable), 3)


def _summary(results: Sequence[QuestionResult], *, generated: bool) -> dict[str, object]:
    answerable = [r for r in results if r.answerable]
    answered = [r for r in results if not r.refused and r.answer]
    summary: dict[str, object] = {
        "questions": len(results),
        "recall@1": _recall(results, 1),
        "recall@5": _recall(results, 5),
        "recall@5_same_language": _recall([r for r in results if not r.cross_lingual], 5),
        "recall@5_cross_lingual": _recall([r for r in results if r.cross_lingual], 5),
        "mrr": metrics.mean([1 / r.rank if r.rank else 0.0 for r in answerable]),
        "refusal_accuracy": metrics.mean([float(r.refused == (not r.answerable)) for r in results]),
        "latency_rephrase_p50_ms": metrics.percentile([r.latency_ms["rephrase"] for r in results], 0.5),
        "latency_retrieval_p50_ms": metrics.percentile([r.latency_ms["retrieval"] for r in results], 0.5),
        "latency_retrieval_p95_ms": metrics.percentile([r.latency_ms["retrieval"] for r in results], 0.95),
    }
    if generated:
        summary |= {
            "citation_validity": metrics.mean([float(r.citations_valid) for r in answered]),
            "raw_citation_validity": metrics.mean([float(r.raw_citations_valid) for r in answered]),
            "answer_language_match": metrics.mean([float(r.answer_language == r.language) for r in answered]),
            "fact_coverage": metrics.mean([r.fact_coverage for r in answerable]),
            "fact_coverage_loose": metrics.mean([r.fact_coverage_loose for r in answerable]),
            "second_looks": sum(r.second_look for r in results),
            "latency_first_token_p50_ms": metrics.percentile([r.latency_ms["first_token"] for r in results], 0.5),
            "latency_first_token_p95_ms": metrics.percentile([r.latency_ms["first_token"] for r in results], 0.95),
            "latency_total_p50_ms": metrics.percentile([r.latency_ms["total"] for r in results], 0.5),
            "latency_total_p95_ms": metrics.percentile([r.latency_ms["total"] for r in results], 0.95),
        }
    return summary


def evaluate(
    *,
    docs_dir: Path,
    questions: Sequence[EvalQuestion],
    generate: bool,
    llm: LLM | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[QuestionResult], None] | None = None,
) -> dict[str, object]:
    embedder = embedder or get_embedder()
    with tempfile.TemporaryDirectory(prefix="guichet-eval-") as tmp:
        index = EdgeIndex(Path(tmp))
        files = isolated_index_build(docs_dir=docs_dir, index_root=Path(tmp), embedder=embedder)
        steps = list(answer_steps(llm=llm, index=index, embedder=embedder, generate=generate, verified=False))
        results = []
        for question in questions:
            result = question_run(question=question, steps=steps, files=files)
            results.append(result)
            if progress:
                progress(result)
        index.close()
    return {
        "summary": summarise(results, generated=generate),
        "questions": [asdict(r) for r in results],
        "documents": len(files),
        "generated": generate,
    }


def rescore(report: dict[str, object]) -> dict[str, object]:
    """A saved report's figures computed again from its answers, without running anything (after a
    change to how a figure is measured; retrieval and fact coverage are taken as they were stored)."""
    questions = report.get("questions")
    if not isinstance(questions, list):
        raise ValueError("not an evaluation report: no 'questions' list")
    try:
        results = [QuestionResult(**q) for q in questions]
    except TypeError as exc:
        raise ValueError(f"not an evaluation report of this version: {exc}") from exc
    results = [replace(r, answer_language=reply_language(r.answer, status=r.status)) for r in results]
    generated = bool(report.get("generated", True))
    return {**report, "summary": summarise(results, generated=generated), "questions": [asdict(r) for r in results]}


def format_table(summary: dict[str, dict[str, object]]) -> str:
    columns = [
        ("questions", "n"), ("recall@1", "R@1"), ("recall@5", "R@5"), ("recall@5_same_language", "R@5 same"),
        ("recall@5_cross_lingual", "R@5 cross"), ("mrr", "MRR"), ("refusal_accuracy", "refusal"),
        ("citation_validity", "cit.valid"), ("raw_citation_validity", "raw cit."),
        ("answer_language_match", "lang"), ("fact_coverage", "facts"),
        ("fact_coverage_loose", "facts~"), ("second_looks", "2nd"), ("latency_rephrase_p50_ms", "reph p50"),
        ("latency_retrieval_p50_ms", "ret p50"),
        ("latency_retrieval_p95_ms", "ret p95"), ("latency_first_token_p50_ms", "1st p50"),
        ("latency_first_token_p95_ms", "1st p95"), ("latency_total_p50_ms", "tot p50"),
        ("latency_total_p95_ms", "tot p95"),
    ]  # fmt: skip
    present = [(key, label) for key, label in columns if any(key in row for row in summary.values())]
    header = "| lang | " + " | ".join(label for _, label in present) + " |"
    lines = [header, re.sub(r"[^|]", "-", header)]
    for name, row in summary.items():
        cells = ["" if row.get(key) is None else str(row.get(key)) for key, _ in present]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
