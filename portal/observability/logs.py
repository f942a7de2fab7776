"""Log formats: one JSON object per line (``LOG_FORMAT=json``, for a log collector) or one text line.

Both carry the request id. A record's message is whatever the code logged: nothing here adds
request data (bodies, query strings, headers), and the code never logs a question (tested).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from portal.observability.request_id import request_id_get, task_get

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def _request_id(record: logging.LogRecord) -> str:
    return str(getattr(record, "request_id", "") or request_id_get() or "-")


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id"}``, plus ``task_id``/``task_name`` in a Celery
    task and ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _request_id(record),
        }
        task = (getattr(record, "task_id", None), getattr(record, "task_name", None))
        if task[0] is None and (current := task_get()) is not None:
            task = current
        if task[0] is not None:
            entry["task_id"], entry["task_name"] = task
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message``; works on records that no filter has seen too."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt or TEXT_FORMAT, datefmt)

    def format(self, record: logging.LogRecord) -> str:
        if not getattr(record, "request_id", None):
            record.request_id = _request_id(record)
        return super().format(record)


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()
