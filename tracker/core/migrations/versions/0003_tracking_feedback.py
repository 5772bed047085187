"""Tracking page: verification attempts, customer feedback, ratings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 16:05:19.539845
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tracker.core.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('verification_attempts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tracking_number', sa.String(length=40), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_attempts'))
    )
    with op.batch_alter_table('verification_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_verification_attempts_at', ['at'], unique=False)
        batch_op.create_index('ix_verification_attempts_client_at', ['client', 'at'], unique=False)
        batch_op.create_index('ix_verification_attempts_tracking_number_at', ['tracking_number', 'at'], unique=False)

    op.create_table('ratings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('parcel_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('packaging', sa.Integer(), nullable=False),
    sa.Column('courier', sa.Integer(), nullable=False),
    sa.Column('speed', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('courier_code', sa.String(length=32), nullable=True),
    sa.Column('facility_code', sa.String(length=32), nullable=True),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('courier BETWEEN 1 AND 5', name=op.f('ck_ratings_courier_1_to_5')),
    sa.CheckConstraint('packaging BETWEEN 1 AND 5', name=op.f('ck_ratings_packaging_1_to_5')),
    sa.CheckConstraint('speed BETWEEN 1 AND 5', name=op.f('ck_ratings_speed_1_to_5')),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_ratings_parcel_id_parcels')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ratings')),
    sa.UniqueConstraint('parcel_id', name=op.f('uq_ratings_parcel_id'))
    )

    op.create_table('feedback',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('parcel_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Enum('not_received', 'damaged', 'late', 'rating', 'appointment', name='feedback_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_feedback_case_id_cases')),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_feedback_parcel_id_parcels')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback'))
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index('ix_feedback_parcel_id_created_at', ['parcel_id', 'created_at'], unique=False)


def downgrade() -> None:

    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index('ix_feedback_parcel_id_created_at')

    op.drop_table('feedback')
    op.drop_table('ratings')
    with op.batch_alter_table('verification_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_verification_attempts_tracking_number_at')
        batch_op.drop_index('ix_verification_attempts_client_at')
        batch_op.drop_index('ix_verification_attempts_at')

    op.drop_table('verification_attempts')
