"""Structured logs: one JSON object a line (or plain text for people).

Fields passed as ``extra={"fields": {...}}`` become keys of the object, so a
log shipper can index ``event=scans_ingested accepted=500`` without parsing
prose.

The database driver's own warnings (psycopg logs one when a connection dies
under a pipelined statement) go through the same handler, so that an outage
leaves only formatted lines, never the bare text Python prints for a logger
nobody configured.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def configure(level: str, fmt: str) -> None:
    """Send tracker's logs to stderr in the chosen format (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tracker")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    driver = logging.getLogger("psycopg")
    driver.handlers[:] = [handler]
    # Its warnings and errors only: its debug output is about every query.
    driver.setLevel(max(logger.level, logging.WARNING))
    driver.propagate = False
