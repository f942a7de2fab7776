"""Golden questions in the format of shared/eval/README.md (one JSON object per line)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    language: str
    expected_doc: str | None
    also_acceptable_docs: tuple[str, ...]
    answer_facts: tuple[str, ...]
    cross_lingual: bool

    @property
    def answerable(self) -> bool:
        return self.expected_doc is not None

    @property
    def acceptable_docs(self) -> frozenset[str]:
        return frozenset(d for d in (self.expected_doc, *self.also_acceptable_docs) if d)


def questions_load(path: Path) -> list[EvalQuestion]:
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            questions.append(
                EvalQuestion(
                    id=str(raw["id"]),
                    question=str(raw["question"]),
                    language=str(raw["language"]),
                    expected_doc=raw.get("expected_doc"),
                    also_acceptable_docs=tuple(raw.get("also_acceptable_docs") or ()),
                    answer_facts=tuple(raw.get("answer_facts") or ()),
                    cross_lingual=bool(raw.get("cross_lingual", False)),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path.name}, line {number}: {exc}") from exc
    return questions
