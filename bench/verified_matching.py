"""How often would a verified answer be served for a question it does not answer?

Verified answers (bench/verified_cases.yaml) are written for questions the evaluation set does not ask;
every evaluation question is then matched against all of them, as the chat's ServeVerified step does
(same normalisation, same embedder, best cosine over question and paraphrases). A score at or above
the threshold is a false match. Held-out paraphrases of the verified questions measure the other side:
how many right matches the threshold keeps. No language filter is applied, which can only add matches.

Usage: python -m bench.verified_matching [--questions ../shared/eval/questions.jsonl] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).with_name("verified_cases.yaml")
DEFAULT_QUESTIONS = ROOT.parent / "shared" / "eval" / "questions.jsonl"
THRESHOLDS = (0.70, 0.75, 0.80, 0.82, 0.84, 0.86, 0.88, 0.90, 0.92)


def bench_verified_matching(*, questions_path: Path = DEFAULT_QUESTIONS, limit: int | None = None) -> dict[str, float]:
    from django.conf import settings

    from assistant.embedder import get_embedder
    from review.matching import best_similarity, normalised

    cases = yaml.safe_load(CASES.read_text(encoding="utf-8"))[:limit]
    lines = [line for line in questions_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [str(json.loads(line)["question"]) for line in lines][:limit]
    embedder = get_embedder()

    phrasings = [[c["question"], *c["paraphrases"]] for c in cases]
    vectors = [embedder.embed_documents([normalised(p) for p in group]) for group in phrasings]

    def best(question: str) -> tuple[float, int]:
        query = embedder.embed_query(normalised(question))
        scored = [(best_similarity(query, group)[0], i) for i, group in enumerate(vectors)]
        return max(scored)

    false_scores = [best(q)[0] for q in questions]
    held_out = [(text, i) for i, case in enumerate(cases) for text in case["held_out"]]
    true_hits = [(score, found == i) for text, i in held_out for score, found in [best(text)]]

    def rates(threshold: float) -> tuple[float, float]:
        false_rate = sum(s >= threshold for s in false_scores) / len(false_scores)
        true_rate = sum(s >= threshold and right for s, right in true_hits) / len(true_hits)
        return round(false_rate, 4), round(true_rate, 4)

    chosen = float(settings.VERIFIED_MATCH_THRESHOLD)
    false_rate, true_rate = rates(chosen)
    results: dict[str, float] = {
        "verified_threshold": chosen,
        "verified_false_match_rate": false_rate,
        "verified_true_match_rate": true_rate,
        "verified_eval_questions": len(false_scores),
        "verified_answers": len(cases),
        "verified_max_false_score": round(max(false_scores), 4),
    }
    for threshold in THRESHOLDS:
        sweep_false, sweep_true = rates(threshold)
        results[f"verified_false_at_{threshold:.2f}"] = sweep_false
        results[f"verified_true_at_{threshold:.2f}"] = sweep_true
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args(argv)
    import os
    import sys

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    for key, value in bench_verified_matching(questions_path=args.questions, limit=args.limit).items():
        print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
