"""Pickup codes and holds: a parcel's pickup code (取件码) and its check at collection, a hold at a pickup point, the pickup_code_mismatch case.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_CASE_TYPES = (
    "stale", "suspected_fake_delivery", "damage", "sla_breach", "at_risk", "temperature_excursion",
    "customer_dispute", "lost", "complaint", "missed_appointment",
)  # fmt: skip
NEW_CASE_TYPES = (*OLD_CASE_TYPES, "pickup_code_mismatch")


def _enum(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="case_type", native_enum=False, create_constraint=True, length=32)


def _case_types(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    # The values live in a CHECK constraint (native_enum=False): swap it for the new list.
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_cases_case_type"), "cases", type_="check")
        op.create_check_constraint("case_type", "cases", sa.column("type").in_(new))
    else:  # SQLite cannot alter a constraint; batch mode copies the table with the new one.
        with op.batch_alter_table("cases", schema=None) as batch_op:
            batch_op.alter_column("type", existing_type=_enum(old), type_=_enum(new))


def upgrade() -> None:
    _case_types(OLD_CASE_TYPES, NEW_CASE_TYPES)
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pickup_code", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("pickup_code_check", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("hold_at", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_parcels_hold_at_facilities"), "facilities", ["hold_at"], ["code"]
        )


def downgrade() -> None:
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_parcels_hold_at_facilities"), type_="foreignkey")
        batch_op.drop_column("hold_at")
        batch_op.drop_column("pickup_code_check")
        batch_op.drop_column("pickup_code")
    _case_types(NEW_CASE_TYPES, OLD_CASE_TYPES)
