from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant.evaluation.dataset import DatasetError, questions_load
from assistant.evaluation.runner import QuestionResult, evaluate, format_table


class Command(BaseCommand):
    help = (
        "Run golden questions through the chat pipeline against an isolated index built from --docs; "
        "print per-language figures and optionally write a JSON report."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--docs", type=Path, required=True, help="folder of documents to ingest")
        parser.add_argument("--questions", type=Path, required=True, help="questions.jsonl")
        parser.add_argument("--out", type=Path, help="write the JSON report here")
        parser.add_argument("--no-generate", action="store_true", help="retrieval and refusal only, no LLM")
        parser.add_argument("--only", help="comma-separated question ids to run")

    def handle(self, *args: Any, **options: Any) -> None:
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
        self.stdout.write(format_table(report["summary"]))  # type: ignore[arg-type]
        if options["out"]:
            options["out"].parent.mkdir(parents=True, exist_ok=True)
            options["out"].write_text(json.dumps(report, indent=2, ensure_ascii=False))
            self.stdout.write(f"report written to {options['out']}")
