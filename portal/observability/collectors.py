"""Metrics read from the database at scrape time: ingestion runs and what they did.

Ingestion runs in the Celery worker, nightly or on an editor's request, and the worker is another
process (in production another container) than the web process Prometheus scrapes. Every run is
recorded in ``IngestionRun`` with its counts per outcome, so the database, not a process's memory,
is where these figures live: one grouped query per scrape, whatever process ran them and however
often it restarted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import DatabaseError
from django.db.models import Count, Max, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

OUTCOMES = ("added", "changed", "unchanged", "removed", "failed")


def _families() -> tuple[CounterMetricFamily, CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily]:
    return (
        CounterMetricFamily(
            "guichet_ingestion_runs", "Finished ingestion runs by trigger and status.", labels=["trigger", "status"]
        ),
        CounterMetricFamily(
            "guichet_ingestion_documents",
            "Documents seen by finished ingestion runs, by outcome (added, changed, unchanged, removed, failed).",
            labels=["outcome"],
        ),
        CounterMetricFamily("guichet_ingestion_chunks_embedded", "Chunks embedded by finished ingestion runs."),
        GaugeMetricFamily(
            "guichet_ingestion_last_finished_timestamp_seconds",
            "When the last ingestion run with this status finished (Unix time).",
            labels=["status"],
        ),
    )


class IngestionCollector(Collector):
    def describe(self) -> Iterable[Metric]:
        return _families()  # names only: registering must not touch the database

    def collect(self) -> Iterator[Metric]:
        from ingestion.models import IngestionRun

        runs, documents, embedded, last = _families()
        try:
            rows: list[dict[str, Any]] = [
                dict(row)
                for row in IngestionRun.objects.exclude(status=IngestionRun.Status.RUNNING)
                .values("trigger", "status")
                .annotate(
                    n=Count("id"),
                    last=Max("finished_at"),
                    embedded=Sum("embedded"),
                    **{outcome: Sum(outcome) for outcome in OUTCOMES},
                )
                .order_by()
            ]
        except DatabaseError as exc:
            # The rest of /metrics must not fail with the database; readiness reports it.
            logger.warning("ingestion metrics skipped: database unavailable (%s)", type(exc).__name__)
            return
        latest: dict[str, float] = {}
        for row in rows:
            runs.add_metric([row["trigger"], row["status"]], row["n"])
            if row["last"] is not None:
                latest[row["status"]] = max(latest.get(row["status"], 0.0), row["last"].timestamp())
        for outcome in OUTCOMES:
            documents.add_metric([outcome], sum(row[outcome] or 0 for row in rows))
        embedded.add_metric([], sum(row["embedded"] or 0 for row in rows))
        for status, when in sorted(latest.items()):
            last.add_metric([status], when)
        yield from (runs, documents, embedded, last)
