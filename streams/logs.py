"""The worker's log format (ENGAGEMENT_LOG_FORMAT): Faust's text lines, or one JSON object per line for
a log pipeline (Loki, Elasticsearch, Cloud Logging) to index without parsing text.

A JSON line holds time (UTC, ISO 8601), level, logger and message, the traceback when there is one,
and the fields the engine passes in ``extra=``: ``partitions`` (the input partitions a line is about)
and ``commit`` (per partition, the sequence number of the latest journal entry its state holds: the
one a commit wrote, or the one a restore replayed up to; a snapshot records the same number).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

FIELDS = ("partitions", "commit")  # what engine lines pass in extra=


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((name, getattr(record, name)) for name in FIELDS if hasattr(record, name))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def faust_logging_config(log_format: str) -> dict | None:
    """Faust's ``logging_config`` setting for the format: None keeps Faust's own text handler; json
    replaces it (``merge``: the rest of Faust's configuration stays) with one that writes JSON lines
    to stderr, where Faust's handler writes."""
    if log_format == "text":
        return None
    return {
        "merge": True,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json"}},
    }
