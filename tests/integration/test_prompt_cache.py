"""The in-process model's prompt-state cache (LLM_PROMPT_CACHE_MB), on the real llama.cpp model.

A follow-up's answer prompt shares its beginning with the previous answer's prompt, but the rephrase
call runs in between and replaces llama.cpp's KV cache. The cache restores the earlier state, so only
the new tokens are evaluated, and the answer is the same as without it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from assistant.llm import ChatMessage, LlamaCppLLM

pytestmark = pytest.mark.skipif(not settings.LLM_MODEL_PATH.is_file(), reason="run `make model` first")

SOURCES = " ".join(
    f"Rule {n}: a new resident registers at the commune within {n + 7} days and brings an identity document."
    for n in range(40)
)  # ~1,000 tokens: more than llama.cpp's batch of 512, like a real answer prompt
SYSTEM = f"Answer from these sources only, with [1] after each fact.\n[1] {SOURCES}"


def _answer(question: str) -> list[ChatMessage]:
    return [ChatMessage("system", SYSTEM), ChatMessage("user", question)]


REPHRASE = [
    ChatMessage("system", "Rewrite the question in French, German and English."),
    ChatMessage("user", "Et après ?"),
]


def _evaluated_tokens(llama: Any) -> list[int]:
    """Count what llama.cpp really decodes (the restored prefix is not decoded again)."""
    counts: list[int] = []
    original = llama.eval

    def counting(tokens: Any) -> None:
        counts.append(len(tokens))
        original(tokens)

    llama.eval = counting
    return counts


def test_a_followup_after_another_prompt_reuses_the_earlier_state_and_answers_the_same() -> None:
    adapter = LlamaCppLLM(settings.LLM_MODEL_PATH, n_ctx=4096, n_threads=0, n_gpu_layers=0, prompt_cache_mb=256)
    llama = adapter._llama()
    first, followup = _answer("How many days do I have?"), _answer("How many days do I have? And what do I bring?")

    def run(messages: list[ChatMessage]) -> str:
        return "".join(adapter.stream(messages, max_tokens=12, temperature=0.0))

    run(first)
    run(REPHRASE)  # replaces the KV cache, as the product's rephrase step does
    counts = _evaluated_tokens(llama)
    cached_answer = run(followup)
    decoded_with_cache = sum(counts)

    assert llama.cache is not None and len(llama.cache.cache_state) >= 2
    # Only the last row of logits is kept per state (a full copy is n_batch x n_vocab floats).
    assert all(state.scores.shape[0] == 1 for state in llama.cache.cache_state.values())

    llama.set_cache(None)
    llama.reset()
    counts.clear()
    fresh_answer = run(followup)
    decoded_cold = sum(counts)

    assert cached_answer == fresh_answer and cached_answer.strip()
    # The shared system prompt (~1,000 tokens) came from the cache: far fewer tokens were decoded.
    assert decoded_with_cache < decoded_cold - 800, (decoded_with_cache, decoded_cold)
