"""Resident memory of the web process and the Celery worker at idle, once their models are loaded.

The processes are the ones ``manage.py runstack`` starts (uvicorn, and a Celery worker with one
pool process), on the bench's isolated database, index, cache and broker. The web process answers
one question first (that loads the embedder and the llama.cpp model); the worker runs one index
refresh first (that loads the embedder). Then both sit idle for a few seconds and ``/proc`` is read.

RSS counts every page the process has in memory, shared ones included: the web process's figure
holds the GGUF file's pages that llama.cpp maps (file-backed, shared with any other process mapping
the same file, and reclaimable); ``_anon_`` figures are the process's own heap (RssAnon). The
worker's figure is the sum over its processes (the main process and its pool child).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.generation import ROOT, demo_kb_ingest, process_stop, product_ask, product_env, web_server


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _with_children(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            children = (task / "children").read_text().split()
            todo += [int(child) for child in children]
    return pids


def resident_mb(pid: int, *, field: str = "VmRSS", children: bool = False) -> float:
    """``field`` of /proc/PID/status in MB, summed over the process's descendants when ``children``."""
    pids = _with_children(pid) if children else [pid]
    return round(sum(_status_kb(p, field) for p in pids) / 1024, 1)


def _worker_refresh(work: Path, *, timeout_s: float) -> None:
    """One index refresh on the worker, through the bench's broker, waited for."""
    from celery import Celery

    env = product_env(work, max_tokens=16)
    client = Celery(broker=env["CELERY_BROKER_URL"], backend=env["CELERY_RESULT_BACKEND"])
    result = client.send_task("ingestion.tasks.index_refresh")
    result.get(timeout=timeout_s)


def bench_memory(*, work: Path, settle_s: float = 5.0, timeout_s: float = 300.0) -> dict[str, float]:
    import httpx

    demo_kb_ingest()
    log = open(work / "worker.log", "wb")  # noqa: SIM115  # closed below, after the process
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--concurrency=1", "--loglevel=INFO"],
        cwd=ROOT,
        env=product_env(work, max_tokens=16),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with web_server(work, max_tokens=16) as (base, web):
            with httpx.Client(timeout=timeout_s, trust_env=False) as client:
                product_ask(client, base, question="How do I register a birth?", ui_language="en")
            _worker_refresh(work, timeout_s=timeout_s)
            time.sleep(settle_s)
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited ({worker.returncode}); see {work / 'worker.log'}")
            return {
                "memory_web_idle_mb": resident_mb(web.pid),
                "memory_web_idle_anon_mb": resident_mb(web.pid, field="RssAnon"),
                "memory_worker_idle_mb": resident_mb(worker.pid, children=True),
                "memory_worker_idle_anon_mb": resident_mb(worker.pid, field="RssAnon", children=True),
                "memory_worker_processes": len(_with_children(worker.pid)),
            }
    finally:
        process_stop(worker, timeout_s=30)
        log.close()
