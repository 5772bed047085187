"""Small facts the service records about itself (``service_state`` rows).

The sweep writes when it last succeeded, route planning the objective of its
last plan; ``/metrics`` reads them back as gauges. One row per key, upserted.
Takes a connection; the caller owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from tracker.core.db import upsert
from tracker.core.models import ServiceState


def record_state(conn: Connection, key: str, at: datetime, value: float | None = None) -> None:
    statement = upsert(conn, ServiceState).values(key=key, at=at, value=value)
    conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"at": at, "value": value}))
