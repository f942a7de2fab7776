"""`manage.py export_golden --out FILE`: golden cases in the questions format of `manage.py evaluate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from review.models import GoldenCase
from review.services import golden_case_rows


class Command(BaseCommand):
    help = "Write the golden evaluation cases (made from the review queue) as JSONL for `manage.py evaluate`."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", type=Path, required=True, help="the questions file to write (JSONL)")
        parser.add_argument("--language", choices=["lb", "fr", "de", "en"], help="only cases in this language")

    def handle(self, *args: Any, **options: Any) -> None:
        cases = GoldenCase.objects.select_related("expected_document").order_by("pk")
        if options["language"]:
            cases = cases.filter(language=options["language"])
        rows = golden_case_rows(cases)
        out: Path = options["out"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
        self.stdout.write(f"{len(rows)} golden case(s) written to {out}")
