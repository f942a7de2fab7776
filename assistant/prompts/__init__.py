"""Prompt templates: versioned files per task and language, loaded by a function that fails loudly."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).parent
ANSWER_PROMPT_VERSION = "v3"


class PromptNotFound(LookupError):
    pass


@lru_cache(maxsize=64)
def load_prompt(task: str, language: str, version: str) -> str:
    path = PROMPTS_DIR / task / f"{language}.{version}.txt"
    if not path.is_file():
        raise PromptNotFound(f"no prompt template {path.relative_to(PROMPTS_DIR)} (task={task}, {language}, {version})")
    return path.read_text(encoding="utf-8").strip()
