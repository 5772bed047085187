"""Ingest speed: parcel updates in place (HOT), and the outbox without a foreign key to parcels.

Every scan batch updates the state of the parcels it touches. PostgreSQL can
write such an update next to the old row without new index entries (a HOT
update) only when no indexed column changes and the page has room; none was
(0 of 88,304 in a benchmark run), for three reasons this revision removes:

* ``ix_parcels_status_last_event_at`` indexed ``last_event_at``, which every
  scan changes. It becomes ``ix_parcels_status_delivered_at``; ``delivered_at``
  changes only with the status. Its readers: routing's parcels at a station
  (``status IN (...)``, ``delivered_at IS NULL``), pickup codes waiting at a
  point (``status = ...``), the metrics' counts by status (an index-only scan),
  and the sweep's history, now read by what it means: parcels delivered in
  the last week by ``delivered_at`` (:func:`tracker.sweep.store.observed_estimates`,
  ``delivery_history``), and parcels still on their way by their statuses
  (``status IN``, the live parcels only). Each keeps an index path: EXPLAIN
  ANALYZE on 300,000 parcels filled by scripts/bench_tracking.py, before and
  after: the week's deliveries, an index scan backward (32 and 4 ms, as on
  the old index); pickup codes, a bitmap scan (28 ms, as before); counts by
  status, an index-only scan (21 ms, as before); routing's parcels at a
  station and the parcels on their way, a parallel sequential scan before
  and after (half of that fill is on its way), and with sequential scans
  off, parcels on their way are a bitmap scan of the new index.
* ``next_check_at`` (indexed) was set to the batch's time even when the
  parcel was already due; ingest now leaves it (tracker.scans.ingest).
* Pages were filled to 100%: a fillfactor of 80 keeps room for new row
  versions (pages written from now on; ``VACUUM FULL parcels`` repacks old ones).

``notification_events.parcel_id`` loses its foreign key, as
``scan_events.parcel_id`` did in 0012: ingest and the sweep write outbox rows
only for parcels they hold locked in the same transaction, and parcels are
never deleted; the trigger check (a query and a row lock per notification,
~230 a batch) found nothing to refuse, at ~5 ms of a 500-scan batch.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 02:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_parcels_status_delivered_at", "parcels", ["status", "delivered_at"])
    op.drop_index("ix_parcels_status_last_event_at", table_name="parcels")
    with op.batch_alter_table("notification_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_notification_events_parcel_id_parcels", type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE parcels SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE parcels RESET (fillfactor)")
    with op.batch_alter_table("notification_events", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_notification_events_parcel_id_parcels", "parcels", ["parcel_id"], ["id"]
        )
    op.create_index("ix_parcels_status_last_event_at", "parcels", ["status", "last_event_at"])
    op.drop_index("ix_parcels_status_delivered_at", table_name="parcels")
