"""Runs the answer steps in order, times each one, and stops at the first that aborts."""

from __future__ import annotations

import time
from collections.abc import Sequence

from assistant.pipeline.context import AnswerContext
from assistant.pipeline.steps import Step


def pipeline_run(*, ctx: AnswerContext, steps: Sequence[Step]) -> AnswerContext:
    for step in steps:
        started = time.perf_counter()
        step(ctx)
        ctx.metrics.setdefault(step.name, {})["ms"] = round((time.perf_counter() - started) * 1000, 1)
        if ctx.aborted:
            ctx.metrics[step.name]["stopped"] = ctx.reason
            break
    return ctx
