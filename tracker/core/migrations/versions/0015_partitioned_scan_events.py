"""PostgreSQL: scan_events partitioned by month of received_at, with the event-id ledger.

SQLite keeps one plain table (nothing happens there). On PostgreSQL the table
is rebuilt as a partitioned one (tracker.core.partitions explains the design):
the old table is renamed aside, the new one made with the same columns, the
primary key ``(event_id, received_at)`` and the same indexes (no foreign key
to ``parcels``: migration 0012 dropped it), a DEFAULT
partition and one partition a month from the oldest row's month to two
months ahead; the rows are copied, ``scan_event_ids`` filled, and the old
table dropped, in the migration's one transaction. On a large table this
copies every row once: plan it as a maintenance window.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 13:45:00
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime

from alembic import op
from sqlalchemy import text

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    "CREATE INDEX ix_scan_events_parcel_id_occurred_at ON scan_events (parcel_id, occurred_at)",
    "CREATE INDEX ix_scan_events_courier_code_occurred_at ON scan_events (courier_code, occurred_at) "
    "WHERE courier_code IS NOT NULL",
)


def _month(moment: datetime) -> date:
    return date(moment.year, moment.month, 1)


def _next(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _rename_aside() -> None:
    op.execute("ALTER TABLE scan_events RENAME TO scan_events_old")
    op.execute("ALTER TABLE scan_events_old RENAME CONSTRAINT pk_scan_events TO pk_scan_events_old")
    for index in ("ix_scan_events_parcel_id_occurred_at", "ix_scan_events_courier_code_occurred_at"):
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_old")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _rename_aside()
    op.execute(
        "CREATE TABLE scan_events (LIKE scan_events_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
        "PARTITION BY RANGE (received_at)"
    )
    op.execute("ALTER TABLE scan_events ADD CONSTRAINT pk_scan_events PRIMARY KEY (event_id, received_at)")
    for statement in _INDEXES:
        op.execute(statement)
    op.execute("CREATE TABLE scan_events_default PARTITION OF scan_events DEFAULT")
    oldest = bind.scalar(text("SELECT min(received_at) FROM scan_events_old"))
    now = datetime.now(UTC)
    month = _month(min(oldest, now) if oldest is not None else now)
    last = _next(_next(_month(now)))
    while month <= last:
        end = _next(month)
        op.execute(
            f"CREATE TABLE scan_events_p{month.year:04d}{month.month:02d} PARTITION OF scan_events "
            f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') TO ('{end.isoformat()} 00:00:00+00')"
        )
        month = end
    op.execute("INSERT INTO scan_events SELECT * FROM scan_events_old")
    op.execute(
        "CREATE TABLE scan_event_ids (event_id VARCHAR(100) NOT NULL, "
        "received_at TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT pk_scan_event_ids PRIMARY KEY (event_id))"
    )
    op.execute("CREATE INDEX ix_scan_event_ids_received_at ON scan_event_ids (received_at)")
    op.execute("INSERT INTO scan_event_ids SELECT event_id, received_at FROM scan_events_old")
    op.execute("DROP TABLE scan_events_old")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _rename_aside()
    op.execute("CREATE TABLE scan_events (LIKE scan_events_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    op.execute("ALTER TABLE scan_events ADD CONSTRAINT pk_scan_events PRIMARY KEY (event_id)")
    for statement in _INDEXES:
        op.execute(statement)
    # One row per event id: the ledger's copy wins over any twin a replay made after a retention drop.
    op.execute(
        "INSERT INTO scan_events SELECT DISTINCT ON (event_id) * FROM scan_events_old "
        "ORDER BY event_id, received_at"
    )
    op.execute("DROP TABLE scan_events_old")
    op.execute("DROP TABLE scan_event_ids")
