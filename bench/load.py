"""`make load`: concurrent citizens against the real embedded stack on loopback.

Usage: python -m bench.load [--users 20] [--duration 60] [--think 1-3] [--max-tokens N] [--form-users N]
       [--questions bench/load_questions.yaml] [--out var/reports/load.json] [--bench var/reports/bench.json]

What runs: ``manage.py runstack`` (uvicorn web with the in-process llama.cpp model, a Celery worker and
beat), on a free loopback port, with its own SQLite database, index, cache, broker and VAR_DIR in a
throw-away folder into which the demo knowledge base is ingested first: the live data under var/ is
never touched. The real model file is shared read-only.

What a citizen does (the chat script's protocol): GET the chat page of its language (session and
CSRF cookies, the form's token), POST ``/ask/`` with ``X-CSRFToken``, ``Accept: text/event-stream``
and the form's fields, read the server-sent events to ``done`` (``queue``, ``sources``, ``token``),
think 1-3 s, and ask the next question (a new conversation each time, so every question costs the
same pipeline). A "busy, try again" (503, or 429, with ``Retry-After``) is the bounded queue doing
its job: the citizen waits as told (never past the end of the run) and asks again; these are
counted apart from errors. A separate poller reads ``/healthz`` every 200 ms throughout.

The driver is our own bounded asyncio loop on httpx (already pinned), not locust: locust brings
gevent (whose monkey-patching cannot share a process with pytest or the project's asyncio/httpx
code), Flask, pyzmq and requests into the pins, and times whole responses, not the first streamed
token. After the run the database is read: every accepted question must have an Answer row in a
final status (``lost_questions`` counts those that do not).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = Path(__file__).with_name("load_questions.yaml")
DEMO_KB = ROOT / "ingestion" / "demo_kb"
LANG_PATHS = {"lb": "/lb/", "fr": "/", "de": "/de/", "en": "/en/"}
# Refusals that are the designed behaviour of the limits (never errors): status -> reason.
BUSY_STATUSES = {503: "busy", 429: "rate_limited", 409: "pending"}
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class Question:
    language: str
    text: str


@dataclass(frozen=True)
class LoadConfig:
    users: int = 20
    duration_s: float = 60.0
    think_s: tuple[float, float] = (1.0, 3.0)
    health_interval_s: float = 0.2
    seed: int = 6
    # Citizens without JavaScript: the plain form post, answered as a whole page (no stream).
    form_users: int = 0
    # How long the answers in flight (up to LLM_MAX_QUEUE waiting plus one generating) may take to end.
    drain_s: float = 900.0
    read_timeout_s: float = 300.0  # the longest silence of a stream (a queue position lasts one answer)


@dataclass
class Outcome:
    """One question as a citizen saw it; times in ms from sending the POST."""

    user: int
    language: str
    question: str
    sent_s: float  # seconds since the run started
    mode: str = "stream"  # "stream" (the chat script) or "form" (no JavaScript: a whole answer page)
    http_status: int = 0
    outcome: str = ""  # answered (a done event), busy, rate_limited, pending, stream_error, http_error, transport_error
    retry_after_s: int | None = None
    final_status: str = ""  # the done event's status
    answer_id: int | None = None
    queued: bool = False
    ahead: int | None = None  # questions ahead at the first queue event
    sources_ms: float | None = None
    first_token_ms: float | None = None
    total_ms: float | None = None
    detail: str = ""


@dataclass
class Stack:
    url: str
    db_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def pids(self) -> dict[str, list[int]]:
        """The web process, and the Celery worker with its pool children, by their command lines."""
        found: dict[str, list[int]] = {"web": [], "worker": []}
        for pid in _descendants(self.process.pid):
            command = _cmdline(pid)
            if "uvicorn" in command:
                found["web"].append(pid)
            elif "celery" in command and " worker" in command:
                found["worker"].append(pid)
        return found

    def rss_mb(self) -> dict[str, float]:
        return {name: round(sum(_rss_kb(p) for p in pids) / 1024, 1) for name, pids in self.pids().items()}


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            out += children
            stack += children
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def questions_load(path: Path = QUESTIONS) -> list[Question]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [Question(language, text) for language, texts in raw.items() for text in texts]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stack_env(work: Path, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an isolated stack: everything it writes lives under ``work``."""
    models = Path(os.environ.get("MODELS_DIR", ROOT / "var" / "models")).resolve()
    model = Path(os.environ.get("LLM_MODEL_PATH", models / "current.gguf")).resolve()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "VAR_DIR": str(work / "var"),
        "DJANGO_SECRET_KEY": "load-run-" + "x" * 50,
        "DATABASE_URL": f"sqlite:///{work / 'db.sqlite3'}",
        "INDEX_DIR": str(work / "index"),
        "MEDIA_ROOT": str(work / "media"),
        "CACHE_URL": f"file://{work / 'cache'}",
        "CELERY_BROKER_URL": f"sqla+sqlite:///{work / 'broker.sqlite3'}",
        "CELERY_RESULT_BACKEND": f"db+sqlite:///{work / 'results.sqlite3'}",
        # The installed models (GGUF, embedding exports) are shared read-only with the live product.
        "MODELS_DIR": str(models),
        "LLM_MODEL_PATH": str(model),
        "LLM_BASE_URL": "",
        "QDRANT_URL": "",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides or {})
    return env


@contextmanager
def stack_running(work: Path, *, overrides: dict[str, str] | None = None, ready_s: float = 180) -> Iterator[Stack]:
    """Migrate, ingest the demo knowledge base, start ``manage.py runstack``; stop it afterwards."""
    env = stack_env(work, overrides)
    python = sys.executable
    for command in (["migrate", "--noinput", "-v0"], ["ingest", str(DEMO_KB)]):
        done = subprocess.run([python, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {command[0]} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    port = _free_port()
    log_path = work / "stack.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [python, "manage.py", "runstack", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stack = Stack(url=f"http://127.0.0.1:{port}", db_path=work / "db.sqlite3", process=process, log_path=log_path)
    try:
        deadline = time.monotonic() + ready_s
        while True:
            try:
                if httpx.get(stack.url + "/healthz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.3)
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # runstack stops web, worker and beat
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _sse_events(lines: Sequence[str]) -> tuple[str, dict[str, object]] | None:
    kind, data = "", ""
    for line in lines:
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
    if not kind:
        return None
    try:
        payload = json.loads(data) if data else {}
    except ValueError:
        payload = {"unreadable": data[:200]}
    return kind, payload if isinstance(payload, dict) else {"value": payload}


async def ask(client: httpx.AsyncClient, *, base: str, outcome: Outcome, read_timeout_s: float) -> Outcome:
    """One question through the chat's protocol: the page (cookies, CSRF token), then the stream."""
    page = await client.get(base + LANG_PATHS[outcome.language])
    if page.status_code != 200:
        outcome.http_status, outcome.outcome = page.status_code, "http_error"
        outcome.detail = f"chat page answered {page.status_code}"
        return outcome
    token = _CSRF_INPUT.search(page.text)
    fields = {
        "csrfmiddlewaretoken": token.group(1) if token else "",
        "ui_language": outcome.language,
        "conversation": "",
        "question": outcome.question,
    }
    headers = {
        "Accept": "text/event-stream" if outcome.mode == "stream" else "text/html",
        "X-CSRFToken": client.cookies.get("csrftoken") or fields["csrfmiddlewaretoken"],
        "Origin": base,
        "Referer": base + LANG_PATHS[outcome.language],
    }
    started = time.perf_counter()

    def now_ms() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    timeout = httpx.Timeout(30.0, read=read_timeout_s)
    async with client.stream("POST", base + "/ask/", data=fields, headers=headers, timeout=timeout) as response:
        outcome.http_status = response.status_code
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            retry = response.headers.get("Retry-After")
            outcome.retry_after_s = int(retry) if retry and retry.isdigit() else None
            reason = BUSY_STATUSES.get(response.status_code)
            # The stream says why in its error event; the page for a form post says it in words.
            if reason and (outcome.mode == "form" or f'"reason": "{reason}"' in body):
                outcome.outcome = reason
            else:
                outcome.outcome, outcome.detail = "http_error", body[:300]
            outcome.total_ms = now_ms()
            return outcome
        if outcome.mode == "form":
            await response.aread()
            outcome.outcome, outcome.total_ms = "answered", now_ms()
            return outcome
        block: list[str] = []
        async for line in response.aiter_lines():
            if line:
                block.append(line)
                continue
            event = _sse_events(block)
            block = []
            if event is None:
                continue
            kind, payload = event
            if kind == "queue":
                outcome.queued = True
                if outcome.ahead is None and isinstance(payload.get("ahead"), int):
                    outcome.ahead = int(payload["ahead"])  # type: ignore[call-overload]
            elif kind == "sources" and outcome.sources_ms is None:
                outcome.sources_ms = now_ms()
            elif kind == "token" and outcome.first_token_ms is None:
                outcome.first_token_ms = now_ms()
            elif kind == "done":
                outcome.outcome = "answered"
                outcome.final_status = str(payload.get("status", ""))
                answer_id = payload.get("answer_id")
                outcome.answer_id = answer_id if isinstance(answer_id, int) else None
            elif kind == "error":
                outcome.outcome, outcome.detail = "stream_error", str(payload.get("message", ""))[:300]
        outcome.total_ms = now_ms()
        if not outcome.outcome:
            outcome.outcome, outcome.detail = "stream_error", "the stream ended without a done event"
    return outcome


async def ask_recorded(client: httpx.AsyncClient, *, base: str, outcome: Outcome, read_timeout_s: float) -> Outcome:
    """``ask``, with a connection refused or cut (the server died, say) recorded rather than raised."""
    try:
        return await ask(client, base=base, outcome=outcome, read_timeout_s=read_timeout_s)
    except httpx.HTTPError as exc:
        outcome.outcome, outcome.detail = "transport_error", repr(exc)[:300]
        return outcome


def _client() -> httpx.AsyncClient:
    # trust_env=False: loopback only, never through a proxy from the environment.
    return httpx.AsyncClient(trust_env=False, follow_redirects=True, timeout=httpx.Timeout(30.0))


async def _citizen(
    user: int,
    *,
    base: str,
    questions: Sequence[Question],
    config: LoadConfig,
    t0: float,
    rng: random.Random,
    outcomes: list[Outcome],
    read_timeout_s: float,
) -> None:
    end = t0 + config.duration_s
    async with _client() as client:
        while time.monotonic() < end:
            question = rng.choice(questions)
            outcome = Outcome(user=user, language=question.language, question=question.text, sent_s=0.0)
            outcome.mode = "form" if user < config.form_users else "stream"
            outcome.sent_s = round(time.monotonic() - t0, 3)
            outcomes.append(outcome)
            await ask_recorded(client, base=base, outcome=outcome, read_timeout_s=read_timeout_s)
            if outcome.outcome in BUSY_STATUSES.values():
                wait = float(outcome.retry_after_s or 5)
            else:
                wait = rng.uniform(*config.think_s)
            await asyncio.sleep(max(0.0, min(wait, end - time.monotonic())))


async def _health_poller(base: str, *, stop: asyncio.Event, interval_s: float, out: list[tuple[float, int]]) -> None:
    async with _client() as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                status = (await client.get(base + "/healthz", timeout=5.0)).status_code
            except httpx.HTTPError:
                status = 0
            out.append((round((time.perf_counter() - started) * 1000, 2), status))
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)


async def _memory_sampler(stack: Stack, *, stop: asyncio.Event, out: list[dict[str, float]]) -> None:
    while not stop.is_set():
        out.append(stack.rss_mb())
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


@dataclass
class RunData:
    outcomes: list[Outcome] = field(default_factory=list)
    health: list[tuple[float, int]] = field(default_factory=list)
    memory: list[dict[str, float]] = field(default_factory=list)
    window_s: float = 0.0
    drained_s: float = 0.0


async def load_drive(stack: Stack, *, questions: Sequence[Question], config: LoadConfig) -> RunData:
    """``config.users`` citizens for ``config.duration_s``; in-flight answers may then end (bounded)."""
    data = RunData()
    stop = asyncio.Event()
    rng = random.Random(config.seed)
    t0 = time.monotonic()
    poller = asyncio.create_task(
        _health_poller(stack.url, stop=stop, interval_s=config.health_interval_s, out=data.health)
    )
    sampler = asyncio.create_task(_memory_sampler(stack, stop=stop, out=data.memory))
    citizens = [
        asyncio.create_task(
            _citizen(
                user,
                base=stack.url,
                questions=questions,
                config=config,
                t0=t0,
                rng=random.Random(rng.random()),
                outcomes=data.outcomes,
                read_timeout_s=config.read_timeout_s,
            )
        )
        for user in range(config.users)
    ]
    done, pending = await asyncio.wait(citizens, timeout=config.duration_s + config.drain_s)
    for task in pending:
        task.cancel()
    data.window_s = config.duration_s
    data.drained_s = round(time.monotonic() - t0 - config.duration_s, 1)
    stop.set()
    await asyncio.gather(poller, sampler, *pending, return_exceptions=True)
    for task in done:
        task.result()  # a bug in the driver itself must not pass silently
    return data


def stored_answers(db_path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(db_path) as db:
        return [(int(pk), str(status)) for pk, status in db.execute("SELECT id, status FROM assistant_answer")]


def _percentile(values: Sequence[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 1)


def load_report(
    data: RunData,
    *,
    answers: Sequence[tuple[int, str]],
    warmup_ids: set[int],
    idle: dict[str, object],
    config: LoadConfig,
) -> dict[str, object]:
    outcomes = data.outcomes
    accepted = [o for o in outcomes if o.http_status == 200]
    answered = [o for o in outcomes if o.outcome == "answered"]
    answered_form = [o for o in answered if o.mode == "form"]
    in_window = [o for o in answered if o.sent_s + (o.total_ms or 0) / 1000 <= data.window_s]
    busy = Counter(o.outcome for o in outcomes if o.outcome in BUSY_STATUSES.values())
    # A 5xx is an error unless it is the bounded queue's "busy, try again" (503 with Retry-After).
    server_errors = [o for o in outcomes if o.http_status >= 500 and not (o.outcome == "busy" and o.retry_after_s)]
    errors = [o for o in outcomes if o.outcome in {"stream_error", "http_error", "transport_error"}]
    run_rows = [(pk, status) for pk, status in answers if pk not in warmup_ids]
    final_rows = [pk for pk, status in run_rows if status != "pending"]
    by_id = dict(run_rows)
    mismatched = [o.answer_id for o in answered if o.answer_id is not None and by_id.get(o.answer_id) != o.final_status]
    lost = max(0, len(accepted) - len(final_rows)) + sum(1 for _, status in run_rows if status == "pending")
    ttft = [o.first_token_ms for o in answered if o.first_token_ms is not None]
    # The queue is invisible from outside once a question's turn comes; its wait is estimated as the
    # time from sources to the first token beyond what it takes on an idle model (prompt evaluation).
    idle_gap = idle.get("sources_to_first_token_ms")
    gaps = [
        o.first_token_ms - o.sources_ms for o in answered if o.first_token_ms is not None and o.sources_ms is not None
    ]
    waits = [max(0.0, g - float(idle_gap)) for g in gaps] if isinstance(idle_gap, (int, float)) else []
    health_ms = [ms for ms, _ in data.health]
    memory_peak = {
        name: max((sample.get(name, 0.0) for sample in data.memory), default=0.0) for name in ("web", "worker")
    }
    statuses = Counter(o.final_status for o in answered if o.mode == "stream")
    return {
        "config": {**asdict(config), "think_s": list(config.think_s)},
        "questions_sent": len(outcomes),
        "accepted": len(accepted),
        "answers_completed": len(answered),
        "answers_in_window": len(in_window),
        "answers_per_min": round(len(in_window) / (data.window_s / 60), 2) if data.window_s else None,
        "final_statuses": dict(statuses),
        "answers_without_javascript": len(answered_form),
        "busy": dict(busy),
        "busy_total": sum(busy.values()),
        "errors": len(errors),
        "error_details": [f"{o.outcome}: {o.http_status} {o.detail}" for o in errors][:20],
        "http_5xx": len(server_errors),
        "lost_questions": lost,
        "db_answers": {
            "rows": len(run_rows),
            "final": len(final_rows),
            "by_status": dict(Counter(status for _, status in run_rows)),
            "done_events_not_matching_row": len(mismatched),
        },
        "ttft_ms": {"p50": _percentile(ttft, 0.5), "p95": _percentile(ttft, 0.95), "max": _percentile(ttft, 1.0)},
        "sources_ms": {
            "p50": _percentile([o.sources_ms for o in answered if o.sources_ms is not None], 0.5),
            "p95": _percentile([o.sources_ms for o in answered if o.sources_ms is not None], 0.95),
        },
        "queue": {
            "queued_share": round(sum(o.queued for o in answered) / len(answered), 3) if answered else None,
            "ahead_p50": _percentile([o.ahead for o in answered if o.ahead is not None], 0.5),
            "ahead_max": _percentile([o.ahead for o in answered if o.ahead is not None], 1.0),
            "wait_estimate_ms": {"p50": _percentile(waits, 0.5), "p95": _percentile(waits, 0.95)},
        },
        "total_ms": {
            "p50": _percentile([o.total_ms for o in answered if o.total_ms is not None], 0.5),
            "p95": _percentile([o.total_ms for o in answered if o.total_ms is not None], 0.95),
        },
        "healthz": {
            "polls": len(data.health),
            "non_200": sum(1 for _, status in data.health if status != 200),
            "p50_ms": _percentile(health_ms, 0.5),
            "p99_ms": _percentile(health_ms, 0.99),
            "max_ms": _percentile(health_ms, 1.0),
        },
        "memory_mb": {
            "web_idle": idle.get("web_mb"),
            "worker_idle": idle.get("worker_mb"),
            "web_load_peak": memory_peak["web"],
            "worker_load_peak": memory_peak["worker"],
        },
        "idle": idle,
        "drained_s": data.drained_s,
        "questions": [asdict(o) for o in outcomes],
    }


def bench_keys(report: dict[str, object]) -> dict[str, object]:
    """The headline figures merged into var/reports/bench.json."""

    def sub(key: str, inner: str) -> object:
        value = report.get(key)
        return value.get(inner) if isinstance(value, dict) else None

    queue = report.get("queue")
    waits = queue.get("wait_estimate_ms") if isinstance(queue, dict) else None
    return {
        "load_users": sub("config", "users"),
        "load_answers_per_min": report["answers_per_min"],
        "load_ttft_p50_ms": sub("ttft_ms", "p50"),
        "load_ttft_p95_ms": sub("ttft_ms", "p95"),
        "load_queue_wait_p50_ms": waits.get("p50") if isinstance(waits, dict) else None,
        "load_queue_wait_p95_ms": waits.get("p95") if isinstance(waits, dict) else None,
        "load_busy": report["busy_total"],
        "load_errors": report["errors"],
        "load_5xx": report["http_5xx"],
        "load_lost_questions": report["lost_questions"],
        "healthz_p50_ms": sub("healthz", "p50_ms"),
        "healthz_p99_ms": sub("healthz", "p99_ms"),
        "memory_web_idle_mb": sub("memory_mb", "web_idle"),
        "memory_web_load_mb": sub("memory_mb", "web_load_peak"),
        "memory_worker_idle_mb": sub("memory_mb", "worker_idle"),
        "memory_worker_load_mb": sub("memory_mb", "worker_load_peak"),
    }


async def _warm_up(stack: Stack, questions: Sequence[Question], count: int) -> tuple[dict[str, object], set[int]]:
    """A few questions one at a time: the model and embedder load, and the idle latencies are measured."""
    outcomes = []
    async with _client() as client:
        for question in [q for q in questions if q.language == "en"][:count]:
            outcome = Outcome(user=-1, language=question.language, question=question.text, sent_s=0.0)
            outcomes.append(await ask_recorded(client, base=stack.url, outcome=outcome, read_timeout_s=600))
    measured = outcomes[1:] or outcomes  # the first one also loads the model
    gaps = [o.first_token_ms - o.sources_ms for o in measured if o.first_token_ms and o.sources_ms]
    idle: dict[str, object] = {
        "warm_up_outcomes": [o.outcome for o in outcomes],
        "ttft_ms": _percentile([o.first_token_ms for o in measured if o.first_token_ms], 0.5),
        "sources_to_first_token_ms": _percentile(gaps, 0.5),
        **{f"{name}_mb": mb for name, mb in stack.rss_mb().items()},
    }
    return idle, {o.answer_id for o in outcomes if o.answer_id is not None}


def load_run(
    *,
    work: Path,
    config: LoadConfig,
    questions: Sequence[Question],
    overrides: dict[str, str] | None = None,
    warm_up: int = 2,
) -> dict[str, object]:
    """The whole run: an isolated stack, a warm-up, the load, the database check."""
    with stack_running(work, overrides=overrides) as stack:
        idle, warmup_ids = asyncio.run(_warm_up(stack, questions, warm_up))
        data = asyncio.run(load_drive(stack, questions=questions, config=config))
    # Read after the stack stopped: every write it was going to make has been made.
    report = load_report(data, answers=stored_answers(stack.db_path), warmup_ids=warmup_ids, idle=idle, config=config)
    log = stack.log_path.read_text(errors="replace")
    report["server_log_tracebacks"] = log.count("Traceback (most recent call last)")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds during which questions are asked")
    parser.add_argument("--think", default="1-3", help="seconds between an answer and the next question (a-b)")
    parser.add_argument("--max-tokens", type=int, default=0, help="LLM_MAX_TOKENS of the stack (0: its default)")
    parser.add_argument("--form-users", type=int, default=0, help="of the citizens, how many post without JavaScript")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "reports" / "load.json")
    parser.add_argument("--bench", type=Path, default=ROOT / "var" / "reports" / "bench.json")
    args = parser.parse_args(argv)
    low, high = (float(x) for x in args.think.split("-"))
    config = LoadConfig(users=args.users, duration_s=args.duration, think_s=(low, high), form_users=args.form_users)
    overrides = {"LLM_MAX_TOKENS": str(args.max_tokens)} if args.max_tokens else {}
    with tempfile.TemporaryDirectory(prefix="guichet-load-") as tmp:
        report = load_run(work=Path(tmp), config=config, questions=questions_load(args.questions), overrides=overrides)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    headline = bench_keys(report)
    bench = json.loads(args.bench.read_text()) if args.bench.exists() else {}
    bench.update(headline)
    args.bench.write_text(json.dumps(bench, indent=2) + "\n")
    for key, value in headline.items():
        print(f"{key:<24}  {value}")
    print(f"written: {args.out} (headline merged into {args.bench})")
    return 0 if report["http_5xx"] == 0 and report["lost_questions"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
