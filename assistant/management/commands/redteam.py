from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant.redteam.cases import AttackCase, bipia_cases, cyberseceval_cases, own_cases, sample_per_category
from assistant.redteam.runner import CaseResult, redteam_run, redteam_summary

DEFAULT_SETS = settings.BASE_DIR.parent / "shared" / "eval" / "redteam"
# Cases per category of CyberSecEval (its injection variants) and BIPIA (its attack categories) in a
# default run: 37 cases, under 20 minutes on 2 CPU cores for the three sets. ``--sample 0`` runs
# everything (over an hour).
DEFAULT_SAMPLE = 1


class Command(BaseCommand):
    help = (
        "Run prompt-injection attack sets (CyberSecEval, BIPIA, our own lb/fr/de cases) through the real "
        "pipeline and model; write the attack success rate, canary leaks and every case to a JSON report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--sets", type=Path, default=DEFAULT_SETS, help="folder with the attack set files")
        parser.add_argument("--out", type=Path, default=settings.VAR_DIR / "reports" / "redteam.json")
        parser.add_argument("--only", help="comma-separated datasets: cyberseceval,bipia,own")
        parser.add_argument("--limit", type=int, default=0, help="at most this many cases per dataset")
        parser.add_argument(
            "--sample",
            type=int,
            default=DEFAULT_SAMPLE,
            help="at most this many cases per category of CyberSecEval and BIPIA, judged ones first "
            f"(default {DEFAULT_SAMPLE}; 0 = every case; our own cases always all run)",
        )

    def handle(
        self, *args: Any, sets: Path, out: Path, only: str | None, limit: int, sample: int, **options: Any
    ) -> None:
        chosen = set((only or "cyberseceval,bipia,own").split(","))
        cases: list[AttackCase] = []
        loaders = {
            "cyberseceval": lambda: cyberseceval_cases(sets / "cyberseceval_prompt_injection.json"),
            "bipia": lambda: bipia_cases(sets / "bipia_text_attack_train.json"),
            "own": own_cases,
        }
        for name in ("cyberseceval", "bipia", "own"):
            if name in chosen:
                try:
                    loaded = loaders[name]()
                except OSError as exc:
                    raise CommandError(f"cannot read the {name} set: {exc}") from exc
                if name != "own":
                    loaded = sample_per_category(loaded, sample)
                cases += loaded[:limit] if limit else loaded

        done: list[CaseResult] = []
        out.parent.mkdir(parents=True, exist_ok=True)

        def progress(result: CaseResult) -> None:
            # The report is rewritten after every case, so a long run can be read while it goes on.
            done.append(result)
            partial = {**redteam_summary(done), "partial": True, "planned": len(cases)}
            out.write_text(json.dumps(partial, indent=2, ensure_ascii=False))
            verdict = (
                "SUCCESS" if result.success else ("held" if result.judged else f"unjudged ({result.unjudged_reason})")
            )
            leak = " CANARY-LEAK" if result.canary_leak else ""
            sys.stderr.write(f"{result.id} {result.status} {result.delivery} {verdict}{leak} {result.ms / 1000:.1f}s\n")

        sampled = {"sample_per_category": sample, "limit_per_dataset": limit}
        report = {**redteam_run(cases=cases, progress=progress), "partial": False, "planned": len(cases), **sampled}
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
        for dataset, figures in report["by_dataset"].items():  # type: ignore[attr-defined]
            brief = {k: v for k, v in figures.items() if k != "by_category"}
            self.stdout.write(f"{dataset}: {json.dumps(brief)}")
        self.stdout.write(
            f"attack success rate {report['attack_success_rate']}, canary leaks {report['canary_leaks']}; "
            f"report written to {out}"
        )
