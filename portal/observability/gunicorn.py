"""Gunicorn hooks for multi-process metrics: ``gunicorn -c python:portal.observability.gunicorn ...``.

With ``PROMETHEUS_MULTIPROC_DIR`` set, every worker process writes its metrics to files in that folder
and ``/metrics`` sums them. The master empties the folder when it starts (figures of a previous run
are not this run's), and when a worker exits its live gauges (answers in progress, queue depth)
stop counting. Give each web container its own folder (a tmpfs), not shared with other services.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def on_starting(server: Any) -> None:
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for stale in Path(folder).glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
