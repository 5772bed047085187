"""Detection: when each parcel was last judged, for second looks on a courier's late scans.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 16:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.core.db

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('detection_checks',
    sa.Column('parcel_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('judged_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_detection_checks_parcel_id_parcels')),
    sa.PrimaryKeyConstraint('parcel_id', name=op.f('pk_detection_checks'))
    )


def downgrade() -> None:

    op.drop_table('detection_checks')
