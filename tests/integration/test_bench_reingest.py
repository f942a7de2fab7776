"""The re-ingestion benchmark runs end to end (on a few documents; `make bench` runs 1,000)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.django_db
def test_reingest_benchmark_reports_a_ratio_below_one(tmp_path: Path) -> None:
    from bench.reingest import bench_reingest

    results = bench_reingest(work=tmp_path, documents=12)
    assert results["reingest_documents"] == 12 and results["reingest_chunks_embedded"] >= 12
    assert 0 < results["reingest_unchanged_ratio"] < 1
