"""Runs the answer steps in order, times each one, and stops at the first that aborts.

Each run is also counted for operators (``portal.observability.metrics``): the time of every step,
the final status and reason (refusals by reason), the token events streamed, and one log line,
none of which holds the question.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from assistant.pipeline.context import AnswerContext
from assistant.pipeline.steps import Step
from assistant.types import StreamEvent
from portal.observability import metrics

logger = logging.getLogger(__name__)


def pipeline_run(*, ctx: AnswerContext, steps: Sequence[Step], observe: bool = True) -> AnswerContext:
    """``observe=False`` keeps a run out of the metrics (evaluations, the admin's "Try a question")."""
    if not observe:
        return _steps_run(ctx=ctx, steps=steps, observe=False)
    started = time.perf_counter()
    emit = ctx.emit
    tokens = 0

    def counted(event: StreamEvent) -> None:
        nonlocal tokens
        if event.kind == "token":
            tokens += 1
        emit(event)

    ctx.emit = counted
    status, reason = "failed", "internal_error"  # unless the steps end normally
    try:
        with metrics.answer_in_progress():
            _steps_run(ctx=ctx, steps=steps, observe=True)
        status, reason = ctx.status, ctx.reason
    finally:
        ctx.emit = emit
        if tokens:
            metrics.tokens_record(ctx.language, tokens)
        metrics.answer_record(status=status, reason=reason, first_token_ms=ctx.first_token_ms)
        metrics.queue_depth_sample()
        logger.info(
            "answer %s%s: language %s, %d tokens, %.0fms (%s)",
            status,
            f" ({reason})" if reason else "",
            ctx.language or "-",
            tokens,
            (time.perf_counter() - started) * 1000,
            ", ".join(f"{name} {values.get('ms')}ms" for name, values in ctx.metrics.items() if "ms" in values),
        )
    return ctx


def _steps_run(*, ctx: AnswerContext, steps: Sequence[Step], observe: bool) -> AnswerContext:
    record: Callable[[str, float], None] = metrics.step_record if observe else (lambda step, seconds: None)
    for step in steps:
        started = time.perf_counter()
        try:
            step(ctx)
        finally:
            seconds = time.perf_counter() - started
            record(step.name, seconds)
            if observe:
                metrics.queue_depth_sample()  # cheap: a lock and a read; keeps the gauge fresh between scrapes
        ctx.metrics.setdefault(step.name, {})["ms"] = round(seconds * 1000, 1)
        if ctx.aborted:
            ctx.metrics[step.name]["stopped"] = ctx.reason
            break
    return ctx
