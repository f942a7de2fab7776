from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant.evaluation.dataset import DatasetError, questions_load
from assistant.evaluation.runner import QuestionResult, evaluate, format_table, rescore


class Command(BaseCommand):
    help = (
        "Run golden questions through the chat pipeline against an isolated index built from --docs; "
        "print per-language figures and optionally write a JSON report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--docs", type=Path, help="folder of documents to ingest")
        parser.add_argument("--questions", type=Path, help="questions.jsonl")
        parser.add_argument("--out", type=Path, help="write the JSON report here")
        parser.add_argument("--no-generate", action="store_true", help="retrieval and refusal only, no LLM")
        parser.add_argument("--only", help="comma-separated question ids to run")
        parser.add_argument(
            "--rescore", type=Path, metavar="REPORT", help="compute a saved report's figures again; runs nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["rescore"]:
            self._rescore(options["rescore"], options["out"])
            return
        if options["docs"] is None or options["questions"] is None:
            raise CommandError("--docs and --questions are required (or --rescore REPORT)")
        docs: Path = options["docs"]
        if not docs.is_dir():
            raise CommandError(f"--docs {docs} is not a folder")
        try:
            questions = questions_load(options["questions"])
        except (OSError, DatasetError) as exc:
            raise CommandError(str(exc)) from exc
        if options["only"]:
            wanted = set(options["only"].split(","))
            questions = [q for q in questions if q.id in wanted]

        def progress(result: QuestionResult) -> None:
            mark = "refused" if result.refused else f"rank={result.rank}"
            sys.stderr.write(f"{result.id} [{result.language}] {mark} status={result.status}\n")

        try:
            report = evaluate(
                docs_dir=docs, questions=questions, generate=not options["no_generate"], progress=progress
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self._report_write(report, options["out"])

    def _rescore(self, path: Path, out: Path | None) -> None:
        try:
            report = rescore(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
            raise CommandError(f"--rescore {path}: {exc}") from exc
        self._report_write(report, out)

    def _report_write(self, report: dict[str, Any], out: Path | None) -> None:
        self.stdout.write(format_table(report["summary"]))
        if out:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
            self.stdout.write(f"report written to {out}")
