"""Structured logs: every line of a workflow task or an activity names its workflow id, run
id, correlation id and attempt (:class:`TaskContextFilter`); :class:`JsonFormatter` writes
one JSON object per line. ``turnout worker --log-format json`` sets both up."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from turnout.observability._hooks import LOG_FIELDS, TaskContextFilter

__all__ = ["JsonFormatter", "TaskContextFilter", "TextFormatter", "configure_logging"]

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "task_queue", *LOG_FIELDS}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the task's fields
    (workflow_id, run_id, correlation_id, attempt, task_queue), any ``extra`` and the
    exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in (*LOG_FIELDS, "task_queue"):
            value = getattr(record, name, "")
            if value not in ("", None):
                line[name] = value
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in line and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger: message [workflow_id run_id correlation_id attempt]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if getattr(record, "run_id", ""):
            fields = " ".join(f"{name}={getattr(record, name, '')}" for name in LOG_FIELDS)
            text += f" [{fields}]"
        return text


def configure_logging(
    fmt: str = "text", level: int | str = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Log turnout's records (and the root logger's) to ``stream`` (stderr) as ``fmt``
    ("text" or "json"), each with its task's fields. Returns the handler installed."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format {fmt!r}: choose 'text' or 'json'")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(TaskContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
