"""Bulk writes of the ingest hot path, one strategy per database.

A 500-event batch must become rows in a few round trips, with little Python
work per row. The portable way (SQLAlchemy Core ``executemany``, multi-row
``INSERT ... RETURNING``) is what SQLite gets; its driver is C all the way.
On PostgreSQL that way spent most of its time in psycopg splitting a
statement with ~8,500 placeholders, and array parameters (``unnest``) still
cost 10 ms a batch in psycopg's pure-Python array dumper. So PostgreSQL
gets each step as ONE statement with ONE parameter: the rows as a JSON
array (serialised by orjson, in C), expanded on the server by
``json_populate_recordset`` against the table's own row type, which also
converts each field to its column's type. The SQL text is constant, so the
server can cache its plan.

Both strategies have the same contract, checked by the same tests on both
databases:

* :func:`insert_events` inserts rows, skipping ``event_id``\\ s that already
  exist (``ON CONFLICT DO NOTHING``), and returns the ids it inserted;
* :func:`update_parcels` writes new column values by parcel id;
* :func:`insert_rows` inserts plain rows into any table (the outbox's
  notifications: a batch of scans changes hundreds of statuses).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql

from tracker.core import partitions
from tracker.core.db import upsert
from tracker.core.models import Parcel, ScanEvent

#: Columns of an event row as the caller builds it.
EVENT_COLUMNS = (
    "event_id", "parcel_id", "type", "occurred_at", "facility_code", "courier_code", "lat", "lon",
    "accuracy_m", "temperature_c", "pod", "damage", "reason", "note", "content_hash",
)  # fmt: skip


@functools.cache
def _record_columns(table: Table, columns: tuple[str, ...]) -> str:
    """``name type, ...`` of ``columns`` as PostgreSQL spells their types, for ``json_to_recordset``."""
    dialect = postgresql.dialect()
    return ", ".join(f"{c} {table.c[c].type.compile(dialect=dialect)}" for c in columns)


_PG_INSERT_EVENTS = f"""
INSERT INTO scan_events ({", ".join(EVENT_COLUMNS)}, received_at, source)
SELECT {", ".join(f"u.{c}" for c in EVENT_COLUMNS)}, %(received_at)s, %(source)s
FROM json_to_recordset(%(rows)s::json) AS u({_record_columns(ScanEvent.__table__, EVENT_COLUMNS)})
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

#: The same on a partitioned ``scan_events`` (tracker.core.partitions): ``event_id`` is
#: unique through the ledger, written in the same statement. A batch naming one id
#: twice keeps its first row, as ``ON CONFLICT DO NOTHING`` does on the plain table.
_PG_INSERT_EVENTS_PARTITIONED = f"""
WITH u AS MATERIALIZED (
    SELECT DISTINCT ON (r.event_id) r.*
    FROM json_populate_recordset(NULL::scan_events, %(rows)s::json) WITH ORDINALITY AS r
    ORDER BY r.event_id, r.ordinality
), fresh AS (
    INSERT INTO scan_event_ids (event_id, received_at)
    SELECT event_id, %(received_at)s FROM u
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
)
INSERT INTO scan_events ({", ".join(EVENT_COLUMNS)}, received_at, source)
SELECT {", ".join(f"u.{c}" for c in EVENT_COLUMNS)}, %(received_at)s, %(source)s
FROM u JOIN fresh ON fresh.event_id = u.event_id
ORDER BY u.ordinality
RETURNING event_id
"""


def insert_events(
    conn: Connection, rows: list[dict[str, Any]], *, received_at: datetime, source: str
) -> set[str]:
    """Insert new events (in the order given); the ``event_id``\\ s inserted."""
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        params = {"rows": _json(rows), "received_at": received_at, "source": source}
        statement = _PG_INSERT_EVENTS_PARTITIONED if _partitioned(conn) else _PG_INSERT_EVENTS
        with _cursor(conn) as cur:
            cur.execute(statement, params)
            return {row[0] for row in cur.fetchall()}
    statement = (
        upsert(conn, ScanEvent)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(ScanEvent.event_id)
    )
    full = [{**r, "received_at": received_at, "source": source} for r in rows]
    return set(conn.scalars(statement, full))


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (every one naming the same columns) in one statement, in the order given.

    On PostgreSQL one JSON parameter instead of an ``executemany``: 250
    notifications of a scan batch took 30 ms as single-row inserts, and JSON
    columns were serialised one by one by the standard library.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    columns = tuple(rows[0])
    names = ", ".join(columns)
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT {names} "
        f"FROM json_to_recordset(%(rows)s::json) AS u({_record_columns(table, columns)})"
    )
    with _cursor(conn) as cur:
        cur.execute(sql, {"rows": _json(rows)})


def update_parcels(conn: Connection, updates: dict[int, dict[str, Any]], *, updated_at: datetime) -> None:
    """Set new values on parcels by id; every entry names the same columns."""
    if not updates:
        return
    ids = list(updates)
    columns = list(updates[ids[0]])
    if conn.dialect.name == "postgresql":
        sets = ", ".join(f"{c} = u.{c}" for c in columns)
        record = _record_columns(Parcel.__table__, ("id", *columns))
        sql = (
            f"UPDATE parcels AS p SET {sets}, updated_at = %(updated_at)s "
            f"FROM json_to_recordset(%(rows)s::json) AS u({record}) WHERE p.id = u.id"
        )
        rows = [{"id": i, **updates[i]} for i in ids]
        with _cursor(conn) as cur:
            cur.execute(sql, {"rows": _json(rows), "updated_at": updated_at})
        return
    table = Parcel.__table__
    # Bind names may not equal column names in an executemany UPDATE.
    values = {c: bindparam(f"v_{c}") for c in columns}
    values["updated_at"] = bindparam("v_updated_at")
    rows = [
        {"b_id": i, "v_updated_at": updated_at, **{f"v_{c}": v for c, v in updates[i].items()}} for i in ids
    ]
    conn.execute(update(table).where(table.c.id == bindparam("b_id")).values(values), rows)


def parcel_ids(conn: Connection, numbers: list[str]) -> dict[str, int]:
    """The ids of the parcels with these tracking numbers (those that exist), unlocked."""
    if conn.dialect.name == "postgresql":
        with _cursor(conn) as cur:
            sql = "SELECT tracking_number, id FROM parcels WHERE tracking_number = ANY(%(numbers)s)"
            cur.execute(sql, {"numbers": numbers})
            return dict(cur.fetchall())
    table = Parcel.__table__
    query = select(table.c.tracking_number, table.c.id).where(table.c.tracking_number.in_(numbers))
    return {number: parcel_id for number, parcel_id in conn.execute(query)}


def lock_parcels(conn: Connection, columns: list[str], ids: list[int]) -> list[Any]:
    """Rows of the parcels with these ids, locked, in id order.

    ``FOR NO KEY UPDATE``: enough to serialise writers of the same parcel,
    without blocking the foreign-key checks of rows that point at it. On
    PostgreSQL the driver's cursor returns plain named tuples: SQLAlchemy's
    per-value result processing cost ~8 ms for a batch's 500 rows.
    """
    if conn.dialect.name == "postgresql":
        # Imported here: psycopg is the [postgres] extra, absent on SQLite installs.
        from psycopg.rows import namedtuple_row

        sql = (
            f"SELECT {', '.join(columns)} FROM parcels WHERE id = ANY(%(ids)s) ORDER BY id FOR NO KEY UPDATE"
        )
        with conn.connection.driver_connection.cursor(row_factory=namedtuple_row) as cur:  # type: ignore[union-attr]
            cur.execute(sql, {"ids": ids})
            return cur.fetchall()
    table = Parcel.__table__
    query = select(*(table.c[c] for c in columns)).where(table.c.id.in_(ids))
    return list(conn.execute(query.order_by(table.c.id)).all())


def _partitioned(conn: Connection) -> bool:
    # Asked once per database connection (its info lives as long as it does): the
    # schema does not change under a running server, a migration restarts it.
    info = conn.connection.info
    known = info.get("scan_events_partitioned")
    if known is None:
        known = info["scan_events_partitioned"] = partitions.partitioned(conn)
    return bool(known)


def _json(rows: list[dict[str, Any]]) -> Any:
    # orjson writes datetimes as RFC 3339 with their offset and enums as their
    # values: exactly what json_populate_recordset parses back. Its bytes go
    # to the server as they are (a str would be decoded here and encoded again
    # by the driver: two copies of a batch's ~200 kB).
    from psycopg.types.json import Json

    return Json(rows, dumps=orjson.dumps)


def _cursor(conn: Connection) -> Any:
    # The driver's own cursor, on the connection (and transaction) SQLAlchemy holds.
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
