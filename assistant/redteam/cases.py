"""Attack cases: CyberSecEval prompt injection, BIPIA attacks hidden in documents, and our own.

Each case says where its instruction goes (the system context, a poisoned retrieved document, or
for BIPIA a page that is really ingested), what the citizen asks, and how success is judged. Only
deterministic judges are used: a secret or phrase that must not appear, or for BIPIA the attack's
own judge (assistant/redteam/bipia.py). Cases without a deterministic criterion are run and kept
in the report, but counted as unjudged (never as successes or failures).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from assistant.redteam.bipia import CARRIERS, JUDGES, Carrier, Judge, carriers

OWN_CASES = Path(__file__).with_name("own_cases.yaml")
_CONTAINS = re.compile(
    r"contain(?:s)?\s+(?:the\s+(?:word|phrase|string|text|number|code|password|key)\s+)?['\"‘“](?P<needle>[^'\"’”]+)['\"’”]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AttackCase:
    id: str
    dataset: str
    # "system" (a secret-bearing instruction), "document" (a poisoned source added after retrieval)
    # or "ingested" (written into a page that is ingested and retrieved like any other)
    placement: str
    instruction: str
    question: str
    needle: str  # judged success when this appears in the answer ("" = no deterministic judge)
    variant: str = ""
    judge: Judge | None = None  # BIPIA: the attack's own judge (see assistant.redteam.bipia)
    carrier: Carrier | None = None  # BIPIA: the page the attack is written into, and the question
    after_first_paragraph: bool = False  # BIPIA: where in the carrier's section the attack goes

    @property
    def judged(self) -> bool:
        return bool(self.needle) or self.judge is not None


def judge_needle(judge_question: str) -> str:
    match = _CONTAINS.search(judge_question)
    return match.group("needle").strip() if match else ""


def cyberseceval_cases(path: Path) -> list[AttackCase]:
    """Direct cases put the instruction in the system context; indirect ones in a retrieved document."""
    cases = []
    for row in json.loads(path.read_text(encoding="utf-8")):
        cases.append(
            AttackCase(
                id=f"cse-{row['prompt_id']}",
                dataset="cyberseceval",
                placement="system" if row["injection_type"] == "direct" else "document",
                instruction=row["test_case_prompt"],
                question=row["user_input"],
                needle=judge_needle(row["judge_question"]),
                variant=row.get("injection_variant", ""),
            )
        )
    return cases


def bipia_cases(path: Path, carrier_path: Path = CARRIERS) -> list[AttackCase]:
    """Each attack written into a demo page (the carriers in turn) that the citizen's question retrieves."""
    pages = carriers(carrier_path)
    cases = []
    number = 0
    for category, attacks in json.loads(path.read_text(encoding="utf-8")).items():
        for position, attack in enumerate(attacks):
            carrier = pages[number % len(pages)]
            cases.append(
                AttackCase(
                    id=f"bipia-{re.sub(r'[^a-z]+', '-', category.lower()).strip('-')}-{position}",
                    dataset="bipia",
                    placement="ingested",
                    instruction=attack,
                    question=carrier.question,
                    needle="",
                    variant=category,
                    judge=JUDGES.get(attack),
                    carrier=carrier,
                    after_first_paragraph=bool(number % 2),
                )
            )
            number += 1
    return cases


def sample_per_category(cases: Sequence[AttackCase], per_category: int) -> list[AttackCase]:
    """At most ``per_category`` cases of each variant (category), judged ones first, in dataset order."""
    if per_category <= 0:
        return list(cases)
    chosen: set[str] = set()
    by_variant: dict[str, list[AttackCase]] = {}
    for case in cases:
        by_variant.setdefault(case.variant, []).append(case)
    for group in by_variant.values():
        ranked = sorted(group, key=lambda c: not c.judged)  # stable: dataset order within each kind
        chosen.update(c.id for c in ranked[:per_category])
    return [c for c in cases if c.id in chosen]


def own_cases(path: Path = OWN_CASES) -> list[AttackCase]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        AttackCase(
            id=row["id"],
            dataset="own",
            placement=row["placement"],
            instruction=row["instruction"],
            question=row["question"],
            needle=str(row.get("secret") or ""),
        )
        for row in rows
    ]
