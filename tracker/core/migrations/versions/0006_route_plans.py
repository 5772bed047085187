"""Route plans: a station's day as solved, and each parcel's place in it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tracker.core.db

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('route_plans',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('facility_code', sa.String(length=32), nullable=False),
    sa.Column('plan_date', sa.Date(), nullable=False),
    sa.Column('created_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('requested_by', sa.String(length=64), nullable=False),
    sa.Column('solver_status', sa.String(length=32), nullable=False),
    sa.Column('solve_seconds', sa.Float(), nullable=False),
    sa.Column('distance_m', sa.Float(), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('served', sa.Integer(), nullable=False),
    sa.Column('left_out', sa.Integer(), nullable=False),
    sa.Column('vehicles_used', sa.Integer(), nullable=False),
    sa.Column('problem', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['facility_code'], ['facilities.code'], name=op.f('fk_route_plans_facility_code_facilities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_route_plans'))
    )
    with op.batch_alter_table('route_plans', schema=None) as batch_op:
        batch_op.create_index('ix_route_plans_facility_code_plan_date_id', ['facility_code', 'plan_date', 'id'], unique=False)

    op.create_table('route_stops',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('plan_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('parcel_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('courier_code', sa.String(length=32), nullable=True),
    sa.Column('sequence', sa.Integer(), nullable=True),
    sa.Column('arrival', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('service_start', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('departure', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('eta_start', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('eta_end', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.CheckConstraint('(courier_code IS NULL) = (sequence IS NULL) AND (sequence IS NULL) <> (reason IS NULL)', name=op.f('ck_route_stops_served_or_left_out')),
    sa.ForeignKeyConstraint(['courier_code'], ['couriers.code'], name=op.f('fk_route_stops_courier_code_couriers')),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_route_stops_parcel_id_parcels')),
    sa.ForeignKeyConstraint(['plan_id'], ['route_plans.id'], name=op.f('fk_route_stops_plan_id_route_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_route_stops'))
    )
    with op.batch_alter_table('route_stops', schema=None) as batch_op:
        batch_op.create_index('ix_route_stops_plan_id_courier_code_sequence', ['plan_id', 'courier_code', 'sequence'], unique=False)
        batch_op.create_index('uq_route_stops_plan_id_parcel_id', ['plan_id', 'parcel_id'], unique=True)


def downgrade() -> None:
    op.drop_table('route_stops')
    op.drop_table('route_plans')
