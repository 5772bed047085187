"""Bulk writes of the ingest hot path, one strategy per database.

A 500-event batch must become rows in a few round trips. The portable way
(SQLAlchemy Core ``executemany``, multi-row ``INSERT ... RETURNING``) is
what SQLite gets; its driver parses SQL in C. On PostgreSQL that way spends
most of its time in psycopg splitting a statement with ~8,500 placeholders
(measured: 2.3 s of 8.5 s for 10,000 events), so PostgreSQL gets the
idiomatic alternative: one statement per step whose parameters are arrays,
expanded by ``unnest`` on the server. The SQL text is constant, so the
server can cache its plan, and the parameters travel in binary.

Both strategies have the same contract, checked by the same tests on both
databases:

* :func:`insert_events` inserts rows, skipping ``event_id``\\ s that already
  exist (``ON CONFLICT DO NOTHING``), and returns the ids it inserted;
* :func:`update_parcels` writes new column values by parcel id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, update

from tracker.db import upsert
from tracker.models import Parcel, ScanEvent

#: Columns of an event row, in the order the PostgreSQL statement takes them.
EVENT_COLUMNS = (
    "event_id", "parcel_id", "type", "occurred_at", "facility_code", "courier_code", "lat", "lon",
    "accuracy_m", "temperature_c", "pod", "damage", "reason", "note", "content_hash",
)  # fmt: skip
_EVENT_TYPES = (
    "varchar", "int8", "varchar", "timestamptz", "varchar", "varchar", "float8", "float8",
    "float8", "float8", "text", "text", "varchar", "text", "varchar",
)  # fmt: skip
_JSON_COLUMNS = {"pod", "damage"}

_PG_INSERT_EVENTS = f"""
INSERT INTO scan_events ({", ".join(EVENT_COLUMNS)}, received_at, source)
SELECT {", ".join(f"u.{c}::jsonb" if c in _JSON_COLUMNS else f"u.{c}" for c in EVENT_COLUMNS)},
       %(received_at)s, %(source)s
FROM unnest({", ".join(f"%({c})b::{t}[]" for c, t in zip(EVENT_COLUMNS, _EVENT_TYPES))})
     AS u({", ".join(EVENT_COLUMNS)})
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""


def insert_events(
    conn: Connection, rows: list[dict[str, Any]], *, received_at: datetime, source: str
) -> set[str]:
    """Insert new events (in the order given); the ``event_id``\\ s inserted."""
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        params: dict[str, Any] = {c: [r[c] for r in rows] for c in EVENT_COLUMNS}
        for c in _JSON_COLUMNS:
            params[c] = [None if v is None else orjson.dumps(v).decode() for v in params[c]]
        params.update(received_at=received_at, source=source)
        with _cursor(conn) as cur:
            cur.execute(_PG_INSERT_EVENTS, params)
            return {row[0] for row in cur.fetchall()}
    statement = (
        upsert(conn, ScanEvent)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(ScanEvent.event_id)
    )
    full = [{**r, "received_at": received_at, "source": source} for r in rows]
    return set(conn.scalars(statement, full))


_PG_TYPES = {
    "status": "varchar", "event_count": "int4", "status_event_id": "varchar",
    "status_event_type": "varchar", "status_event_at": "timestamptz", "last_event_id": "varchar",
    "last_event_type": "varchar", "last_event_at": "timestamptz", "last_facility": "varchar",
    "last_lat": "float8", "last_lon": "float8", "first_event_at": "timestamptz",
    "outbound_at": "timestamptz", "delivered_at": "timestamptz", "ready_for_pickup_at": "timestamptz",
    "promised_by": "timestamptz", "eta_start": "timestamptz", "eta_end": "timestamptz",
    "next_check_at": "timestamptz",
    "eta_source": "varchar",
}  # fmt: skip


def update_parcels(conn: Connection, updates: dict[int, dict[str, Any]], *, updated_at: datetime) -> None:
    """Set new values on parcels by id; every entry names the same columns."""
    if not updates:
        return
    ids = list(updates)
    columns = list(updates[ids[0]])
    if conn.dialect.name == "postgresql":
        sets = ", ".join(f"{c} = u.{c}" for c in columns)
        arrays = ", ".join(f"%({c})b::{_PG_TYPES[c]}[]" for c in columns)
        sql = (
            f"UPDATE parcels AS p SET {sets}, updated_at = %(updated_at)s "
            f"FROM unnest(%(id)b::int8[], {arrays}) AS u(id, {', '.join(columns)}) WHERE p.id = u.id"
        )
        params: dict[str, Any] = {c: [_plain(updates[i][c]) for i in ids] for c in columns}
        params.update(id=ids, updated_at=updated_at)
        with _cursor(conn) as cur:
            cur.execute(sql, params)
        return
    table = Parcel.__table__
    # Bind names may not equal column names in an executemany UPDATE.
    values = {c: bindparam(f"v_{c}") for c in columns}
    values["updated_at"] = bindparam("v_updated_at")
    rows = [
        {"b_id": i, "v_updated_at": updated_at, **{f"v_{c}": v for c, v in updates[i].items()}} for i in ids
    ]
    conn.execute(update(table).where(table.c.id == bindparam("b_id")).values(values), rows)


def _plain(value: Any) -> Any:
    # Enums travel as their values; psycopg adapts str, not StrEnum subclasses, to varchar[].
    return value.value if hasattr(value, "value") else value


def _cursor(conn: Connection) -> Any:
    # The driver's own cursor, on the connection (and transaction) SQLAlchemy holds.
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
