"""`make bench`: run the benchmarks in a throw-away database and index, print a table, write the report.

Usage: python -m bench.run [--only reingest|retrieval|embedding|generation|memory ...] [--documents N]
       [--points 10000,100000] [--queries N] [--texts N] [--questions N] [--max-tokens N]
       [--out var/reports/bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("reingest", "retrieval", "embedding", "verified", "generation", "memory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only this one (repeatable)")
    parser.add_argument("--documents", type=int, default=1000, help="re-ingestion: documents")
    parser.add_argument("--points", default="10000,100000", help="retrieval: index sizes, comma-separated")
    parser.add_argument("--queries", type=int, default=200, help="retrieval: queries per size")
    parser.add_argument("--texts", type=int, default=500, help="embedding: chunk texts")
    parser.add_argument("--questions", type=int, default=6, help="generation: questions per side")
    parser.add_argument("--max-tokens", type=int, default=0, help="generation: max tokens (0: LLM_MAX_TOKENS)")
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
        chosen = args.only or list(BENCHMARKS)
        results: dict[str, float] = {}
        if "reingest" in chosen:
            from bench.reingest import bench_reingest

            results.update(bench_reingest(work=work, documents=args.documents))
        if "retrieval" in chosen:
            from bench.retrieval import bench_retrieval

            sizes = tuple(int(size) for size in args.points.split(","))
            results.update(bench_retrieval(work=work, sizes=sizes, queries=args.queries))
        if "embedding" in chosen:
            from bench.embedding import bench_embedding

            results.update(bench_embedding(texts=args.texts))
        if "verified" in chosen:
            from bench.verified_matching import bench_verified_matching

            results.update(bench_verified_matching())
        if "generation" in chosen:
            from bench.generation import bench_generation

            results.update(bench_generation(work=work, questions=args.questions, max_tokens=args.max_tokens or None))
        if "memory" in chosen:
            from bench.memory import bench_memory

            results.update(bench_memory(work=work))
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
