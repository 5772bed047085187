"""Bulk writes of the ingest hot path, one strategy per database.

A 500-event batch must become rows in a few round trips, with little Python
work per row. The portable way (SQLAlchemy Core ``executemany``, multi-row
``INSERT ... RETURNING``) is what SQLite gets; its driver is C all the way.
On PostgreSQL that way spent most of its time in psycopg splitting a
statement with ~8,500 placeholders, and array parameters (``unnest``) still
cost 10 ms a batch in psycopg's pure-Python array dumper. So PostgreSQL
gets each step as ONE statement with ONE parameter: the rows as a JSON
array (serialised by orjson, in C), expanded on the server by
``json_to_recordset``, which also converts each field to its column's type.
The SQL text is constant, so the server can cache its plan.

Parsing that JSON was about a third of PostgreSQL's work on a batch (it is
read twice: validated as ``json``, then taken apart), so the rows go over the
wire compact (:func:`_compact`): short keys (``c0``, ``c1``... in the
statement's column list) and no key for a null (a missing key reads as
NULL). A batch's event rows shrink from 170 to about 90 kB. Rows that need
no ``ON CONFLICT`` or join (the outbox's notifications) go by ``COPY``,
PostgreSQL's own bulk path, with no JSON around them at all.

Both strategies have the same contract, checked by the same tests on both
databases:

* :func:`insert_events` inserts rows, skipping ``event_id``\\ s that already
  exist (``ON CONFLICT DO NOTHING``), and returns the ids it inserted;
* :func:`update_parcels` writes new column values by parcel id;
* :func:`insert_rows` inserts plain rows into any table (the outbox's
  notifications: a batch of scans changes hundreds of statuses).

:func:`pipelined` lets the caller go on while the server runs what it was
sent: a write whose answer nobody reads (:func:`update_parcels`) need not
hold the request thread.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql

from tracker.core import partitions
from tracker.core.db import upsert
from tracker.core.models import Parcel, ScanEvent

#: The columns of an event row, in the order the caller gives their values.
EVENT_COLUMNS = (
    "event_id", "parcel_id", "type", "occurred_at", "facility_code", "courier_code", "lat", "lon",
    "accuracy_m", "temperature_c", "pod", "damage", "reason", "note", "content_hash",
)  # fmt: skip


@functools.cache
def _wire(table: Table, columns: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The short JSON key of each of ``columns``, and the matching ``json_to_recordset`` column list.

    Keys are ``c0``, ``c1``... in the order of ``columns`` (the statement names
    them back, see :func:`_select_as`); types as PostgreSQL spells the columns' own.
    """
    dialect = postgresql.dialect()
    keys = tuple(f"c{i}" for i in range(len(columns)))
    spec = ", ".join(
        f"{k} {table.c[c].type.compile(dialect=dialect)}" for k, c in zip(keys, columns, strict=True)
    )
    return keys, spec


def _select_as(keys: tuple[str, ...], columns: tuple[str, ...], source: str) -> str:
    """``r.c0 AS event_id, r.c1 AS parcel_id, ...``: the short keys under their columns' names."""
    return ", ".join(f"{source}.{k} AS {c}" for k, c in zip(keys, columns, strict=True))


def _compact(keys: tuple[str, ...], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Each row's values (in the order of ``keys``) under their short keys, nulls left out."""
    return [{k: v for k, v in zip(keys, row) if v is not None} for row in rows]


def _values(columns: tuple[str, ...]) -> Any:
    """A function from a row (a dict) to the tuple of its ``columns``' values, one column too."""
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (row[column],)
    return itemgetter(*columns)


_EVENT_KEYS, _EVENT_SPEC = _wire(ScanEvent.__table__, EVENT_COLUMNS)

#: The rows of a batch, deduplicated by ``event_id`` (the first of each id
#: kept) and in ``event_id`` order, so that concurrent batches sharing event
#: ids take the unique index's locks in the same order.
_PG_ROWS = f"""
WITH u AS MATERIALIZED (
    SELECT DISTINCT ON (event_id) {_select_as(_EVENT_KEYS, EVENT_COLUMNS, "r")}, r.ordinality
    FROM ROWS FROM (json_to_recordset(%(rows)s::json) AS ({_EVENT_SPEC})) WITH ORDINALITY AS r
    ORDER BY event_id, r.ordinality
)"""

#: The events' and the ledger's inserts from ``u``, which each statement below completes.
_EVENTS_FROM_U = f"""INSERT INTO scan_events ({", ".join(EVENT_COLUMNS)}, received_at, source)
SELECT {", ".join(f"u.{c}" for c in EVENT_COLUMNS)}, %(received_at)s, %(source)s
FROM u"""
_LEDGER_FROM_U = """INSERT INTO scan_event_ids (event_id, received_at)
    SELECT event_id, %(received_at)s FROM u"""

_PG_INSERT_EVENTS = f"""{_PG_ROWS}
{_EVENTS_FROM_U}
{{conflict}}
RETURNING event_id
"""

#: The same on a partitioned ``scan_events`` (tracker.core.partitions): ``event_id`` is
#: unique through the ledger, written in the same statement.
_PG_INSERT_EVENTS_PARTITIONED = f"""{_PG_ROWS}, fresh AS (
    {_LEDGER_FROM_U}
    {{conflict}}
    RETURNING event_id
)
{_EVENTS_FROM_U} JOIN fresh ON fresh.event_id = u.event_id
ORDER BY u.ordinality
RETURNING event_id
"""

#: The plain inserts (see :func:`insert_events`): when one succeeds, every row of ``u`` was
#: inserted, so nothing is returned (500 ids a batch, each a row for the driver to build) and
#: the ledger's insert needs no join to the events'. A data-modifying ``WITH`` runs whether or
#: not the statement reads it.
_PG_PLAIN_INSERT_EVENTS = f"""{_PG_ROWS}
{_EVENTS_FROM_U}
"""
_PG_PLAIN_INSERT_EVENTS_PARTITIONED = f"""{_PG_ROWS}, ledger AS (
    {_LEDGER_FROM_U}
)
{_EVENTS_FROM_U}
ORDER BY u.ordinality
"""

#: Each statement as a plain insert, and with ``ON CONFLICT (event_id) DO NOTHING`` (see
#: :func:`insert_events`), by whether ``scan_events`` is partitioned.
_PG_EVENT_STATEMENTS = {
    partitioned: (plain, sql.format(conflict="ON CONFLICT (event_id) DO NOTHING"))
    for partitioned, plain, sql in (
        (False, _PG_PLAIN_INSERT_EVENTS, _PG_INSERT_EVENTS),
        (True, _PG_PLAIN_INSERT_EVENTS_PARTITIONED, _PG_INSERT_EVENTS_PARTITIONED),
    )
}


def insert_events(
    conn: Connection, rows: list[tuple[Any, ...]], *, received_at: datetime, source: str
) -> set[str]:
    """Insert new events (in the order given); the ``event_id``\\ s inserted.

    Each row holds the values of :data:`EVENT_COLUMNS`, in that order (a tuple:
    built in half the time of a dict, and sent without renaming).

    On PostgreSQL, first as a plain ``INSERT`` inside a savepoint: nearly every
    batch is all new, and ``ON CONFLICT`` made the ledger's insert a speculative
    one, about a third dearer (2.9 against 2.0 ms for 500 ids). An id stored
    already (a client's retry, or a concurrent batch sharing ids, once it
    commits) fails that statement with a unique violation; the batch then
    goes back to the savepoint and is inserted again with ``ON CONFLICT DO
    NOTHING``, which skips the stored ids, the answer it always had.
    """
    if not rows:
        return set()
    if len(rows[0]) != len(EVENT_COLUMNS):
        # Positional rows: a missing value would shift every column after it.
        raise ValueError(f"an event row holds {len(rows[0])} values for {len(EVENT_COLUMNS)} columns")
    if conn.dialect.name == "postgresql":
        from psycopg import errors

        params = {
            "rows": _json(_compact(_EVENT_KEYS, rows)),
            "received_at": received_at,
            "source": source,
        }
        plain, skipping_stored = _PG_EVENT_STATEMENTS[_partitioned(conn)]
        with _cursor(conn) as cur:
            cur.execute("SAVEPOINT insert_events")
            try:
                cur.execute(plain, params)
            except errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT insert_events")
                cur.execute(skipping_stored, params)
                return {row[0] for row in cur.fetchall()}
            return {row[0] for row in rows}
    statement = (
        upsert(conn, ScanEvent)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(ScanEvent.event_id)
    )
    full = [dict(zip(EVENT_COLUMNS, r, strict=True), received_at=received_at, source=source) for r in rows]
    return set(conn.scalars(statement, full))


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (every one naming the same columns) in one statement, in the order given.

    On PostgreSQL by ``COPY``: 250 notifications of a scan batch took 30 ms
    as single-row inserts; as one JSON parameter (orjson, one call) 3.0 ms of
    the database's and the driver's time together, the payloads parsed three
    times (validated as ``json``, taken apart, read as ``jsonb``); by COPY 2.3
    ms, each payload parsed once.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), rows)
        return
    from psycopg.types.json import Jsonb

    columns = tuple(rows[0])
    values = _values(columns)
    # The driver adapts a dict only when told what it is; orjson writes it (in C).
    json_at = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    with _cursor(conn) as cur, cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            fields = list(values(row))
            for i in json_at:
                if fields[i] is not None:
                    fields[i] = Jsonb(fields[i], dumps=orjson.dumps)
            copy.write_row(fields)


def update_parcels(conn: Connection, updates: dict[int, dict[str, Any]], *, updated_at: datetime) -> None:
    """Set new values on parcels by id; every entry names the same columns."""
    if not updates:
        return
    ids = list(updates)
    columns = tuple(updates[ids[0]])
    if conn.dialect.name == "postgresql":
        keys, spec = _wire(Parcel.__table__, ("id", *columns))
        sets = ", ".join(f"{c} = u.{k}" for c, k in zip(columns, keys[1:], strict=True))
        sql = (
            f"UPDATE parcels AS p SET {sets}, updated_at = %(updated_at)s "
            f"FROM json_to_recordset(%(rows)s::json) AS u({spec}) WHERE p.id = u.{keys[0]}"
        )
        values = _values(columns)
        rows = _compact(keys, ((i, *values(updates[i])) for i in ids))
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
            sql = (
                "SELECT tracking_number, id FROM parcels "
                "WHERE tracking_number = ANY(string_to_array(%(numbers)s, ','))"
            )
            cur.execute(sql, {"numbers": _joined(numbers)})
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
            f"SELECT {', '.join(columns)} FROM parcels "
            "WHERE id = ANY(string_to_array(%(ids)s, ',')::bigint[]) ORDER BY id FOR NO KEY UPDATE"
        )
        with conn.connection.driver_connection.cursor(row_factory=namedtuple_row) as cur:  # type: ignore[union-attr]
            cur.execute(sql, {"ids": _joined(map(str, ids))})
            return cur.fetchall()
    table = Parcel.__table__
    query = select(*(table.c[c] for c in columns)).where(table.c.id.in_(ids))
    return list(conn.execute(query.order_by(table.c.id)).all())


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """Statements sent inside the block are not waited for before its end (PostgreSQL).

    PostgreSQL's pipeline mode: the driver sends each statement and returns
    at once; the server runs it meanwhile, and the block's end waits for every
    answer and raises the first error, as the statement itself would have.
    So Python work that needs none of those answers (ingest builds the outbox
    rows while the server writes the batch's parcels: 4.3 ms of the server's
    time for about 340 rows) runs beside the statement, not after it, and the
    batch's transaction, with its parcel locks, ends that much sooner. Only the
    driver's cursors may be used inside (as this module does); nothing there
    may read an answer, which would wait for it. Elsewhere the block changes nothing.
    """
    if conn.dialect.name != "postgresql":
        yield
        return
    with conn.connection.driver_connection.pipeline():  # type: ignore[union-attr]
        yield


def _partitioned(conn: Connection) -> bool:
    # Asked once per database connection (its info lives as long as it does): the
    # schema does not change under a running server, a migration restarts it.
    info = conn.connection.info
    known = info.get("scan_events_partitioned")
    if known is None:
        known = info["scan_events_partitioned"] = partitions.partitioned(conn)
    return bool(known)


def _joined(values: Iterable[str]) -> str:
    """``values`` as one comma-separated text, for ``string_to_array`` on the server.

    A list parameter goes through psycopg's array dumper, in Python, with a
    regular-expression search per element for the quoting it might need: 0.41
    to 0.52 ms of the client's CPU for a batch's ~340 ids or tracking numbers,
    against 0.17-0.18 joined, for -0.02 to 0.15 ms more on the server. Tracking numbers
    are letters, digits and dashes and ids digits (a comma would split a value
    in two; refused here rather than looked up wrong).
    """
    values = list(values)
    joined = ",".join(values)
    if joined.count(",") != max(len(values) - 1, 0):
        raise ValueError("a value to look up holds a comma")
    return joined


def _json(rows: list[dict[str, Any]]) -> Any:
    # orjson writes datetimes as RFC 3339 with their offset and enums as their
    # values: exactly what json_to_recordset parses back. Its bytes go
    # to the server as they are (a str would be decoded here and encoded again
    # by the driver: two copies of a batch's ~200 kB).
    from psycopg.types.json import Json

    return Json(rows, dumps=orjson.dumps)


def _cursor(conn: Connection) -> Any:
    # The driver's own cursor, on the connection (and transaction) SQLAlchemy holds.
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
