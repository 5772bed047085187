"""Monthly partitions of ``scan_events`` on PostgreSQL: made ahead, dropped whole.

``scan_events`` only grows (a carrier of 10 million parcels a day writes 100
million scans), so on PostgreSQL it is a table partitioned by RANGE of
``received_at`` (migration 0015), one partition a month
(``scan_events_p202612``: December 2026, UTC) and a DEFAULT partition
(``scan_events_default``) that takes whatever no monthly one covers, so an
insert never fails for want of a partition. SQLite keeps one plain table.

**Why ``received_at``.** It is the server's clock, so inserts always land in
this month's partition (hot pages, cache-friendly), an event that happened
long ago but arrives today (a phone offline for a week, a carrier's backfill:
the API takes ``occurred_at`` back to 2000) does not fall into the default
partition or resurrect a dropped month, and retention ("forget what we were
told more than N months ago") drops whole months.

**Idempotency across partitions.** PostgreSQL wants the partition key in
every unique constraint, so ``event_id`` alone cannot be unique on the
partitioned table (its primary key is ``(event_id, received_at)``). The
ledger ``scan_event_ids`` (``event_id`` primary key, ``received_at``) is
written in the same statement as the events (:mod:`tracker.core.bulk`): an
event id the ledger already holds is not inserted again, whichever partition
holds the first copy. It costs one narrow insert per event, measured by
``scripts/bench_ingest.py --compare-partitioned``. Retention deletes the
ledger's rows with the partitions (:func:`drop_before`): an event replayed
after its month was dropped is stored again, as new.

**Making partitions** (:func:`ensure`, ``tracker db partitions ensure``; the
migration makes the months its data needs and the next two): a month whose
rows already sit in the default partition (nobody made it in time, even a
past month) is made, and its rows are moved in the same transaction: the
new table is filled from the default, the rows are deleted there, and the
table is attached. Nothing is lost and nothing is seen twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text

TABLE = "scan_events"
DEFAULT = f"{TABLE}_default"
LEDGER = "scan_event_ids"
_MONTHLY = re.compile(rf"^{TABLE}_p(\d{{4}})(\d{{2}})$")


@dataclass(frozen=True)
class Partition:
    name: str
    #: First day of the month (UTC), inclusive; None for the default partition.
    start: date | None
    #: First day of the next month, exclusive.
    end: date | None
    rows: int


def partitioned(conn: Connection) -> bool:
    """Whether ``scan_events`` is a partitioned table here (PostgreSQL after migration 0015)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.scalar(text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": TABLE})
    return kind == "p"


def month_name(month: date) -> str:
    return f"{TABLE}_p{month.year:04d}{month.month:02d}"


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def first_of_month(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def partitions(conn: Connection) -> list[Partition]:
    """Every partition of ``scan_events``: months in order, the default last (rows: an estimate)."""
    found = conn.execute(
        text(
            "SELECT c.relname, c.reltuples FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:t)"
        ),
        {"t": TABLE},
    ).all()
    months, default = [], None
    for name, tuples in found:
        rows = max(0, int(tuples))
        match = _MONTHLY.match(name)
        if match:
            start = date(int(match[1]), int(match[2]), 1)
            months.append(Partition(name, start, add_months(start, 1), rows))
        elif name == DEFAULT:
            default = Partition(name, None, None, rows)
    months.sort(key=lambda p: p.start or date.min)
    return months + ([default] if default else [])


def ensure(conn: Connection, *, now: datetime, ahead: int = 2, since: date | None = None) -> list[str]:
    """Make the monthly partitions from ``since`` (default: this month) to ``ahead`` months on.

    Without ``since``, also every month whose rows wait in the default
    partition: a month nobody made in time (a missed cron run) would
    otherwise keep its rows there, where retention never drops them.
    Months that exist are left alone; the names made are returned. Rows of a
    new month that are in the default partition move into it (see the module).
    """
    first = first_of_month(since or now.astimezone(UTC))
    last = add_months(first_of_month(now.astimezone(UTC)), ahead)
    wanted = set()
    month = first
    while month <= last:
        wanted.add(month)
        month = add_months(month, 1)
    if since is None:
        wanted |= _waiting_months(conn)
    have = {p.start for p in partitions(conn)}
    made = []
    for month in sorted(wanted - have):
        _make(conn, month)
        made.append(month_name(month))
    return made


def _waiting_months(conn: Connection) -> set[date]:
    """The months (UTC) of the rows in the default partition."""
    starts = conn.scalars(
        text(f"SELECT DISTINCT date_trunc('month', received_at AT TIME ZONE 'UTC') FROM {DEFAULT}")
    )
    return {first_of_month(start) for start in starts}


def _make(conn: Connection, month: date) -> None:
    name, start, end = month_name(month), month, add_months(month, 1)
    bounds = {
        "start": datetime(start.year, start.month, 1, tzinfo=UTC),
        "end": datetime(end.year, end.month, 1, tzinfo=UTC),
    }
    # Attaching scans the default partition for rows of the new range: lock it first,
    # so an insert cannot put one there between the move and the attach.
    conn.execute(text(f"LOCK TABLE {DEFAULT} IN SHARE ROW EXCLUSIVE MODE"))
    conn.execute(text(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE received_at >= :start AND received_at < :end "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
        ),
        bounds,
    )
    # The bounds are literals in DDL: formatted from dates, never from input.
    conn.execute(
        text(
            f"ALTER TABLE {TABLE} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{bounds['start'].isoformat()}') TO ('{bounds['end'].isoformat()}')"
        )
    )


def drop_before(conn: Connection, cutoff: date) -> list[str]:
    """Drop every monthly partition that ends on or before ``cutoff`` (whole months only).

    The ledger forgets the same events, so a replay of one of them is stored
    again. Rows of the default partition are left alone: it holds what no
    month covered, and ``ensure`` moves them into months that can be dropped.
    """
    doomed = [p for p in partitions(conn) if p.end is not None and p.end <= cutoff]
    for partition in doomed:
        conn.execute(text(f"ALTER TABLE {TABLE} DETACH PARTITION {partition.name}"))
        conn.execute(text(f"DROP TABLE {partition.name}"))
    if doomed:
        until = max(p.end for p in doomed if p.end is not None)
        # Not the ledger rows of events the default partition still holds: they are still stored.
        conn.execute(
            text(
                f"DELETE FROM {LEDGER} AS l WHERE l.received_at < :until AND NOT EXISTS "
                f"(SELECT 1 FROM {DEFAULT} AS d WHERE d.event_id = l.event_id)"
            ),
            {"until": datetime(until.year, until.month, until.day, tzinfo=UTC)},
        )
    return [p.name for p in doomed]
