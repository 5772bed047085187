"""Service state (e.g. the last successful sweep); where a parcel's ETA comes from.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 16:04:25.679476
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.core.db

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('service_state',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_service_state'))
    )
    with op.batch_alter_table('parcels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('eta_source', sa.String(length=16), nullable=True))
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_parcel_id', ['parcel_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_parcel_id')
    with op.batch_alter_table('parcels', schema=None) as batch_op:
        batch_op.drop_column('eta_source')
    op.drop_table('service_state')

