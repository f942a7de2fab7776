"""`make bench`: run the benchmarks in a throw-away database and index, print a table, write the report.

Usage: python -m bench.run [--documents N] [--out var/reports/bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "reports" / "bench.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="guichet-bench-") as tmp:
        work = Path(tmp)
        # Isolated from the live product: its own SQLite database and index root.
        os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
        os.environ["INDEX_DIR"] = str(work / "live-index")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        sys.path.insert(0, str(ROOT))
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", verbosity=0)
        from bench.reingest import bench_reingest

        results = bench_reingest(work=work, documents=args.documents)
    report = json.loads(args.out.read_text()) if args.out.exists() else {}
    report.update(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
