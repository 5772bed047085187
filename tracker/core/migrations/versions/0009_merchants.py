"""Merchants: the merchants table; api_keys.merchant_code; parcels.merchant_code and cancelled_at.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.core.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "merchants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", tracker.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
        sa.UniqueConstraint("code", name=op.f("uq_merchants_code")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merchant_code", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_merchant_code_merchants"), "merchants", ["merchant_code"], ["code"]
        )
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merchant_code", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("cancelled_at", tracker.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_parcels_merchant_code_merchants"), "merchants", ["merchant_code"], ["code"]
        )
        batch_op.create_index(
            "ix_parcels_merchant_code_id",
            ["merchant_code", "id"],
            unique=False,
            postgresql_where=sa.text("merchant_code IS NOT NULL"),
            sqlite_where=sa.text("merchant_code IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_parcels_merchant_code_id",
            postgresql_where=sa.text("merchant_code IS NOT NULL"),
            sqlite_where=sa.text("merchant_code IS NOT NULL"),
        )
        batch_op.drop_constraint(batch_op.f("fk_parcels_merchant_code_merchants"), type_="foreignkey")
        batch_op.drop_column("cancelled_at")
        batch_op.drop_column("merchant_code")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_merchant_code_merchants"), type_="foreignkey")
        batch_op.drop_column("merchant_code")
    op.drop_table("merchants")
