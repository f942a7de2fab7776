"""The generation benchmark runs end to end at a tiny size (`make bench` runs the full one).

It goes through `python -m bench.run`, as `make bench` does: the web server it starts needs the
benchmark's own database and index, which the test database of this process is not.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.memory import resident_mb

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.real_model


def test_generation_benchmark_reports_product_and_raw_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench.run", "--only", "generation", "--questions", "2", "--max-tokens", "16"]
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "INDEX_DIR"}}
    done = subprocess.run([*command, "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())

    assert report["generation_questions"] == 2 and report["generation_max_tokens"] == 16
    assert report["generation_questions_without_tokens"] < 2  # at least one answer streamed tokens
    for key in ("product_ttft_p50_ms", "raw_ttft_p50_ms", "product_tokens_per_s_p50", "raw_tokens_per_s_p50"):
        assert report[key] > 0, key
    # The product's first token cannot come before the sources event it sends first.
    assert report["sources_event_p50_ms"] > 0
    assert report["product_ttft_p50_ms"] > report["sources_event_p50_ms"]
    assert math.isfinite(report["ttft_overhead_ms"])  # may be negative: timings are noisy
    assert 0 < report["tokens_per_s_ratio"] < 10
    assert report["product_steps_before_llm_p50_ms"] > 0 and report["product_llm_first_token_p50_ms"] > 0
    # Prefix reuse on the follow-up: both timings, and the prefix the two prompts share.
    assert report["kv_reuse_followup_ttft_ms"] > 0 and report["kv_cold_followup_ttft_ms"] > 0
    assert 0 < report["kv_shared_prefix_tokens"] <= report["kv_followup_prompt_tokens"]


def test_resident_memory_of_this_process_is_read_from_proc() -> None:
    own = resident_mb(os.getpid())
    assert own > 10  # a Python process with Django loaded
    assert resident_mb(os.getpid(), field="RssAnon") <= own
    assert resident_mb(os.getpid(), children=True) >= own
