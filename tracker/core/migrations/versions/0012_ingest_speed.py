"""Ingest speed: scan_events.parcel_id without a foreign key.

The ingest path creates or locks (``FOR NO KEY UPDATE``) every parcel row
of a batch before it inserts the batch's events, in the same transaction,
and parcels are never deleted: the per-row trigger check the constraint ran
on the hottest table (a lookup and a row lock for each of 500 events) found
nothing to refuse, at about a tenth of the ingest's time.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 13:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scan_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_scan_events_parcel_id_parcels", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("scan_events", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_scan_events_parcel_id_parcels", "parcels", ["parcel_id"], ["id"])
