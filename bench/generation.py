"""Generation through the product against raw llama-cpp-python on the same prompt, model and parameters.

Measured (product): the real web app served by uvicorn in its own process on loopback, exactly as
``manage.py runstack`` starts it, with the demo knowledge base ingested into the bench's isolated
database and index. Each question is one HTTP POST to ``/ask/`` asking for server-sent events;
the clock starts just before the request is sent and stops when an event's bytes reach the client.
So the product side includes: HTTP, middleware, session and conversation, admission (rate limit,
queue), the stored Answer row, language detection, the injection guard, routing, retrieval (query
embedding, hybrid index search, fusion), prompt building, the model's queue, llama.cpp's prompt
evaluation and decoding, the marker filter, the event queue and the SSE response.

Baseline (raw): in this process, ``Llama.create_chat_completion(stream=True)`` with the messages the
product built for that question (``Compose.messages`` on a context that the product's own steps
filled with the same index; the stored Answer's sources and language are checked to be the same,
so the prompt is the same text), the same GGUF file, loaded by the product's ``LlamaCppLLM`` (same
``n_ctx``, ``n_threads``, ``n_gpu_layers``), the same ``max_tokens`` and temperature. The clock
runs from the call to the first non-empty text piece, then to the last one.

Both sides run one after the other (never at once), alternating which goes first, and each keeps
its own llama.cpp context: before every question both contexts hold the previous question's
prompt, so both reuse the same cached prefix. Tokens/s on each side: the streamed text re-tokenised
with the model's tokenizer, (tokens - 1) / (last piece - first piece).

Prefix (KV) reuse on a follow-up, on the raw model with the product's prompts: the follow-up's
time to first token with the first answer's prompt still in the context (warm), after a reset
(cold), and in the order the product runs (first answer, then the rephrase call for the follow-up,
then the follow-up's answer).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from assistant.llm import ChatMessage, LlamaCppLLM, prompt_state_cache

ROOT = Path(__file__).resolve().parent.parent
# Questions the demo knowledge base answers, in the product's languages (the chat page's starters).
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("fr", "Comment échanger mon permis de conduire étranger ?"),
    ("en", "How do I register a birth?"),
    ("de", "Wie melde ich mich bei der Gemeinde an?"),
    ("fr", "Comment déclarer la naissance d'un enfant ?"),
    ("en", "How do I exchange a foreign driving licence?"),
    ("de", "Wie tausche ich meinen ausländischen Führerschein um?"),
    ("fr", "Qui a droit aux allocations familiales ?"),
    ("en", "How do I register as a jobseeker with ADEM?"),
)
WARMUP: tuple[str, str] = ("en", "How do I get an extract from the criminal record?")
# A first question and a follow-up that only makes sense after it (the product rephrases it).
FOLLOWUP: tuple[tuple[str, str], tuple[str, str]] = (
    ("fr", "Comment déclarer la naissance d'un enfant ?"),
    ("fr", "Et quels documents faut-il apporter ?"),
)


@dataclass(frozen=True)
class Timed:
    """One streamed answer: milliseconds from the start to each milestone, and the text shown."""

    first_ms: float | None
    last_ms: float | None
    text: str
    sources_ms: float | None = None
    answer_id: str = ""
    conversation: str = ""
    status: str = ""


@dataclass
class _Series:
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, value: float | None) -> None:
        if value is not None:
            self.values.setdefault(key, []).append(value)

    def p50(self, key: str) -> float | None:
        found = self.values.get(key)
        return round(statistics.median(found), 1) if found else None


# --- the product, over HTTP -------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def product_env(work: Path, *, max_tokens: int) -> dict[str, str]:
    """The environment the bench's product processes run with: the bench's database, index and cache."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "CACHE_URL": f"file://{work / 'cache'}",
            "CELERY_BROKER_URL": f"sqla+sqlite:///{work / 'broker.sqlite3'}",
            "CELERY_RESULT_BACKEND": f"db+sqlite:///{work / 'results.sqlite3'}",
            "LLM_MAX_TOKENS": str(max_tokens),
            # One generation per question, like the raw side: the second look (another generation
            # after a NO_ANSWER) is a different workload, measured by `manage.py evaluate`.
            "ANSWER_SECOND_LOOK_SOURCES": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def process_stop(process: subprocess.Popen[bytes] | subprocess.Popen[str], *, timeout_s: float) -> None:
    """Ask a server process to stop; kill it when it does not within ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def web_server(
    work: Path, *, max_tokens: int, timeout_s: float = 120.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The product's web process (the command ``runstack`` runs), on a free loopback port."""
    import httpx

    port = _free_port()
    log = open(work / "web.log", "wb")  # noqa: SIM115  # closed below, after the process
    command = [sys.executable, "-m", "uvicorn", "portal.asgi:application", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=ROOT, env=product_env(work, max_tokens=max_tokens), stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the web server exited ({process.returncode}); see {work / 'web.log'}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2.0, trust_env=False).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the web server did not start in {timeout_s:.0f} s; see {work / 'web.log'}")
            time.sleep(0.2)
        yield base, process
    except BaseException:
        log.flush()
        sys.stderr.write("--- web server log (tail) ---\n" + (work / "web.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        process_stop(process, timeout_s=20)
        log.close()


def _sse_events(chunks: Iterator[bytes], started: float) -> Iterator[tuple[float, str, dict[str, Any]]]:
    buffer = b""
    for chunk in chunks:
        at_ms = (time.perf_counter() - started) * 1000
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            lines = dict(line.split(": ", 1) for line in block.decode().splitlines() if ": " in line)
            if "event" in lines:
                yield at_ms, lines["event"], json.loads(lines.get("data", "{}"))


def product_ask(client: Any, base: str, *, question: str, ui_language: str, conversation: str = "") -> Timed:
    """POST one question to the chat endpoint as the chat script does; time the events as they arrive."""
    if "csrftoken" not in client.cookies:
        client.get(f"{base}/").raise_for_status()  # the chat page sets the CSRF cookie
    data = {"question": question, "ui_language": ui_language, "conversation": conversation}
    headers = {"Accept": "text/event-stream", "X-CSRFToken": client.cookies["csrftoken"]}
    sources_ms = first_ms = last_ms = None
    pieces: list[str] = []
    done: dict[str, Any] = {}
    started = time.perf_counter()
    with client.stream("POST", f"{base}/ask/", data=data, headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"/ask/ answered {response.status_code}: {response.read()[:300]!r}")
        for at_ms, kind, payload in _sse_events(response.iter_raw(), started):
            if kind == "sources" and sources_ms is None:
                sources_ms = at_ms
            elif kind == "token":
                first_ms = at_ms if first_ms is None else first_ms
                last_ms = at_ms
                pieces.append(str(payload.get("text", "")))
            elif kind == "done":
                done = payload
            elif kind == "error":
                raise RuntimeError(f"the product answered with an error event: {payload}")
    return Timed(
        first_ms=first_ms,
        last_ms=last_ms,
        text="".join(pieces),
        sources_ms=sources_ms,
        answer_id=str(done.get("answer_id", "")),
        conversation=str(done.get("conversation", "")),
        status=str(done.get("status", "")),
    )


def prompt_build(
    *,
    question: str,
    ui_language: str,
    history: tuple[tuple[str, str], ...] = (),
    variants: dict[str, str] | None = None,
) -> tuple[list[ChatMessage], Any]:
    """The answer messages the product builds for a question: its own steps, then ``Compose.messages``.

    Retrieval is deterministic on an unchanged index, so the same steps on the same question (with
    the product's rephrase variants and history, for a follow-up) give the product's sources;
    ``prompt_check`` compares them with the stored Answer, so the prompt compared is the product's own.
    """
    from assistant.pipeline.context import AnswerContext
    from assistant.pipeline.runner import pipeline_run
    from assistant.pipeline.steps import Compose
    from assistant.retrieval import retrieval_config
    from assistant.services import answer_steps

    # The product's own steps up to retrieval; the rephrase step is replaced by its stored output.
    steps = [step for step in answer_steps(llm=_NoLLM(), generate=False) if step.name != "rephrase"]
    ctx = AnswerContext(question=question, ui_language=ui_language, history=history)
    ctx.search_variants = dict(variants or {})
    pipeline_run(ctx=ctx, steps=steps)
    if ctx.aborted:
        raise RuntimeError(f"{question!r} does not reach the model ({ctx.status}: {ctx.reason})")
    return Compose(llm=_NoLLM(), context_chars=retrieval_config().context_chars).messages(ctx), ctx


def prompt_check(*, answer_id: str, ctx: Any) -> None:
    """The stored answer had the same language and sources as ``ctx``: the prompts were the same text."""
    from assistant.models import Answer

    answer = Answer.objects.get(pk=answer_id)
    rebuilt = [s.public() for s in ctx.sources]
    stored = [{key: source.get(key) for key in public} for source, public in zip(answer.sources, rebuilt, strict=False)]
    if stored != rebuilt or len(answer.sources) != len(rebuilt) or ctx.language != answer.language:
        raise RuntimeError(f"answer {answer_id}: the rebuilt prompt's sources differ: {rebuilt} != {answer.sources}")


def _followup_context(answer_id: str) -> tuple[tuple[tuple[str, str], ...], dict[str, str]]:
    """The history and rephrase variants the product used for a stored follow-up answer."""
    from assistant.models import Answer

    answer = Answer.objects.get(pk=answer_id)
    earlier = answer.conversation.answers.filter(status=Answer.Status.ANSWERED, created_at__lt=answer.created_at)
    history = tuple((a.question, a.text) for a in reversed(earlier.order_by("-created_at")[:2]))
    rephrased = answer.metrics.get("rephrase", {})
    variants = rephrased.get("variants", {}) if isinstance(rephrased, dict) else {}
    return history, {str(k): str(v) for k, v in variants.items()}


class _NoLLM:
    name = "none"

    def stream(self, messages: list[ChatMessage], *, max_tokens: int, temperature: float) -> Iterator[str]:
        raise AssertionError("only the prompt is built here")


# --- the same prompt on raw llama-cpp-python --------------------------------------------


def raw_stream(llama: Any, messages: list[ChatMessage], *, max_tokens: int, first_only: bool = False) -> Timed:
    """``create_chat_completion`` with the product's parameters; ``first_only`` stops at the first piece."""
    first_ms = last_ms = None
    pieces: list[str] = []
    started = time.perf_counter()
    chunks = llama.create_chat_completion(
        messages=[{"role": m.role, "content": m.content} for m in messages],
        max_tokens=max_tokens,
        temperature=settings.LLM_TEMPERATURE,
        stream=True,
    )
    try:
        for chunk in chunks:
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                last_ms = (time.perf_counter() - started) * 1000
                first_ms = last_ms if first_ms is None else first_ms
                pieces.append(piece)
                if first_only:
                    break
    finally:
        chunks.close()
    return Timed(first_ms=first_ms, last_ms=last_ms, text="".join(pieces))


def prompt_tokens(llama: Any, messages: list[ChatMessage]) -> list[int]:
    """The tokens llama-cpp-python evaluates for these messages (the GGUF's chat template)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    formatter = Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"],
        eos_token=llama._model.token_get_text(llama.token_eos()),
        bos_token=llama._model.token_get_text(llama.token_bos()),
    )
    chat: list[Any] = [{"role": m.role, "content": m.content} for m in messages]
    result = formatter(messages=chat)
    # As llama-cpp-python's chat handler tokenises the formatted prompt.
    return list(llama.tokenize(result.prompt.encode(), add_bos=not result.added_special, special=True))


def _shared_prefix(a: list[int], b: list[int]) -> int:
    shared = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        shared += 1
    return shared


def tokens_per_s(llama: Any, timed: Timed) -> float | None:
    if timed.first_ms is None or timed.last_ms is None or timed.last_ms <= timed.first_ms:
        return None
    tokens = len(llama.tokenize(timed.text.encode(), add_bos=False, special=False))
    return (tokens - 1) / ((timed.last_ms - timed.first_ms) / 1000) if tokens > 1 else None


def raw_model() -> Any:
    """The product's adapter loads the model, so the raw side gets exactly the product's parameters."""
    if settings.LLM_BASE_URL:
        raise RuntimeError("LLM_BASE_URL is set: this benchmark compares the in-process llama.cpp model")
    adapter = LlamaCppLLM(
        settings.LLM_MODEL_PATH,
        n_ctx=settings.LLM_N_CTX,
        n_threads=settings.LLM_N_THREADS,
        n_gpu_layers=settings.LLM_N_GPU_LAYERS,
    )
    return adapter._llama()


# --- the benchmark ----------------------------------------------------------------------


def demo_kb_ingest() -> None:
    """The demo knowledge base in the bench's database and index (a no-op when it is already there)."""
    from assistant.vector_index import get_index
    from ingestion.services import ingest_folder

    report = ingest_folder(path=settings.DEMO_KB_DIR)
    if report.failed or get_index().current_generation() is None:
        raise RuntimeError(f"the demo knowledge base did not ingest: {report.as_dict()}")


def _step_ms(answer_id: str) -> dict[str, float]:
    """Per-step milliseconds the product recorded for one answer (Answer.metrics)."""
    from assistant.models import Answer

    metrics = Answer.objects.get(pk=answer_id).metrics
    steps = {name: float(m["ms"]) for name, m in metrics.items() if isinstance(m, dict) and "ms" in m}
    generation = metrics.get("generation", {})
    if isinstance(generation, dict) and "first_token_ms" in generation:
        steps["llm_first_token"] = float(generation["first_token_ms"])
    return steps


def _kv_followup(llama: Any, base: str, *, max_tokens: int, repeats: int) -> dict[str, float | None]:
    import httpx

    from assistant.pipeline.steps import Rephrase

    (lang1, q1), (lang2, q2) = FOLLOWUP
    m1, ctx1 = prompt_build(question=q1, ui_language=lang1)
    with httpx.Client(timeout=600, trust_env=False) as client:
        first = product_ask(client, base, question=q1, ui_language=lang1)
        follow = product_ask(client, base, question=q2, ui_language=lang2, conversation=first.conversation)
    prompt_check(answer_id=first.answer_id, ctx=ctx1)
    history, variants = _followup_context(follow.answer_id)
    m2, ctx2 = prompt_build(question=q2, ui_language=lang2, history=history, variants=variants)
    prompt_check(answer_id=follow.answer_id, ctx=ctx2)
    rephrase = Rephrase(llm=_NoLLM())
    # The product rephrases a question only when the conversation has an answered question before it.
    from assistant.models import Answer

    rephrase_metrics = Answer.objects.get(pk=follow.answer_id).metrics.get("rephrase", {})
    rephrased = isinstance(rephrase_metrics, dict) and "variants" in rephrase_metrics
    t1, t2 = prompt_tokens(llama, m1), prompt_tokens(llama, m2)
    series = _Series()
    for _ in range(repeats):
        llama.reset()
        series.add("cold", raw_stream(llama, m2, max_tokens=max_tokens, first_only=True).first_ms)
        llama.reset()
        raw_stream(llama, m1, max_tokens=max_tokens)
        series.add("warm", raw_stream(llama, m2, max_tokens=max_tokens, first_only=True).first_ms)
        if rephrased:
            llama.reset()
            raw_stream(llama, m1, max_tokens=max_tokens)
            raw_stream(llama, rephrase.messages(ctx2), max_tokens=rephrase.max_tokens)
            series.add("product_order", raw_stream(llama, m2, max_tokens=max_tokens, first_only=True).first_ms)
            # The same order with the product's prompt cache (LLM_PROMPT_CACHE_MB), fresh for each repeat.
            llama.reset()
            llama.set_cache(prompt_state_cache(max(settings.LLM_PROMPT_CACHE_MB, 256)))
            try:
                raw_stream(llama, m1, max_tokens=max_tokens)
                raw_stream(llama, rephrase.messages(ctx2), max_tokens=rephrase.max_tokens)
                cached = raw_stream(llama, m2, max_tokens=max_tokens, first_only=True)
                series.add("product_order_cached", cached.first_ms)
            finally:
                llama.set_cache(None)
    return {
        "kv_followup_prompt_tokens": len(t2),
        "kv_shared_prefix_tokens": _shared_prefix(t1, t2),
        "kv_reuse_followup_ttft_ms": series.p50("warm"),
        "kv_cold_followup_ttft_ms": series.p50("cold"),
        "kv_after_rephrase_followup_ttft_ms": series.p50("product_order"),
        "kv_after_rephrase_cached_followup_ttft_ms": series.p50("product_order_cached"),
        "product_followup_ttft_ms": round(follow.first_ms, 1) if follow.first_ms is not None else None,
        "product_followup_rephrase_ms": _step_ms(follow.answer_id).get("rephrase") if rephrased else None,
    }


def bench_generation(
    *, work: Path, questions: int = 6, max_tokens: int | None = None, kv_repeats: int = 2
) -> dict[str, float]:
    """``questions`` questions through the product and on the raw model, alternately; p50s and ratios."""
    import httpx

    max_tokens = max_tokens or settings.LLM_MAX_TOKENS
    chosen = [QUESTIONS[n % len(QUESTIONS)] for n in range(questions)]
    demo_kb_ingest()
    llama = raw_model()
    series = _Series()
    without_tokens = 0
    with web_server(work, max_tokens=max_tokens) as (base, _process):
        # Warm-up, both sides: the web process loads the embedder and the model on its first question.
        language, question = WARMUP
        messages, _ = prompt_build(question=question, ui_language=language)
        with httpx.Client(timeout=600, trust_env=False) as client:
            product_ask(client, base, question=question, ui_language=language)
        raw_stream(llama, messages, max_tokens=max_tokens)
        for number, (language, question) in enumerate(chosen):
            messages, ctx = prompt_build(question=question, ui_language=language)
            with httpx.Client(timeout=600, trust_env=False) as client:
                if number % 2:  # alternate which side goes first
                    raw = raw_stream(llama, messages, max_tokens=max_tokens)
                    product = product_ask(client, base, question=question, ui_language=language)
                else:
                    product = product_ask(client, base, question=question, ui_language=language)
                    raw = raw_stream(llama, messages, max_tokens=max_tokens)
            prompt_check(answer_id=product.answer_id, ctx=ctx)
            series.add("sources", product.sources_ms)
            for name, ms in _step_ms(product.answer_id).items():
                series.add(f"step_{name}", ms)
            if product.first_ms is None or raw.first_ms is None:
                without_tokens += 1  # NO_ANSWER: the product shows the sources and no token
                continue
            series.add("product_ttft", product.first_ms)
            series.add("raw_ttft", raw.first_ms)
            series.add("ttft_overhead", product.first_ms - raw.first_ms)
            product_rate, raw_rate = tokens_per_s(llama, product), tokens_per_s(llama, raw)
            series.add("product_tps", product_rate)
            series.add("raw_tps", raw_rate)
            if product_rate and raw_rate:
                series.add("tps_ratio", product_rate / raw_rate)
        kv = _kv_followup(llama, base, max_tokens=max_tokens, repeats=kv_repeats)

    after_llm = {"step_generation", "step_second_look", "step_output", "step_llm_first_token"}
    before_llm = [series.p50(key) for key in series.values if key.startswith("step_") and key not in after_llm]
    ratio = series.values.get("tps_ratio")
    results: dict[str, float | None] = {
        "generation_questions": questions,
        "generation_questions_without_tokens": without_tokens,
        "generation_max_tokens": max_tokens,
        "ttft_overhead_ms": series.p50("ttft_overhead"),
        "tokens_per_s_ratio": round(statistics.median(ratio), 3) if ratio else None,
        "sources_event_p50_ms": series.p50("sources"),
        "product_ttft_p50_ms": series.p50("product_ttft"),
        "raw_ttft_p50_ms": series.p50("raw_ttft"),
        "product_tokens_per_s_p50": series.p50("product_tps"),
        "raw_tokens_per_s_p50": series.p50("raw_tps"),
        "product_steps_before_llm_p50_ms": round(sum(v or 0.0 for v in before_llm), 1),
        "product_retrieval_step_p50_ms": series.p50("step_retrieval"),
        "product_llm_first_token_p50_ms": series.p50("step_llm_first_token"),
        **kv,
    }
    return {key: value for key, value in results.items() if value is not None}
