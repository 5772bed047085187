"""Customer voice: complaint, lost and missed-appointment cases with an answer due time; complaint feedback; appointment outcomes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tracker.core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_CASE_TYPES = (
    "stale", "suspected_fake_delivery", "damage", "sla_breach", "at_risk", "temperature_excursion",
    "customer_dispute",
)  # fmt: skip
NEW_CASE_TYPES = (*OLD_CASE_TYPES, "lost", "complaint", "missed_appointment")
OLD_FEEDBACK_KINDS = ("not_received", "damaged", "late", "rating", "appointment")
NEW_FEEDBACK_KINDS = (*OLD_FEEDBACK_KINDS, "complaint")


def _enum(values: tuple[str, ...], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _check(table: str, column: str, name: str, old: tuple[str, ...], new: tuple[str, ...]) -> None:
    # The values live in a CHECK constraint (native_enum=False): swap it for the new list.
    # SQLite cannot alter a constraint; batch mode copies the table with the new one.
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column(column, existing_type=_enum(old, name), type_=_enum(new, name))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_cases_case_type"), "cases", type_="check")
        op.create_check_constraint("case_type", "cases", sa.column("type").in_(NEW_CASE_TYPES))
        op.drop_constraint(op.f("ck_feedback_feedback_kind"), "feedback", type_="check")
        op.create_check_constraint("feedback_kind", "feedback", sa.column("kind").in_(NEW_FEEDBACK_KINDS))
    else:
        _check("cases", "type", "case_type", OLD_CASE_TYPES, NEW_CASE_TYPES)
        _check("feedback", "kind", "feedback_kind", OLD_FEEDBACK_KINDS, NEW_FEEDBACK_KINDS)
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", tracker.core.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appointment_outcome", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.drop_column("appointment_outcome")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("due_at")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_feedback_feedback_kind"), "feedback", type_="check")
        op.create_check_constraint("feedback_kind", "feedback", sa.column("kind").in_(OLD_FEEDBACK_KINDS))
        op.drop_constraint(op.f("ck_cases_case_type"), "cases", type_="check")
        op.create_check_constraint("case_type", "cases", sa.column("type").in_(OLD_CASE_TYPES))
    else:
        _check("feedback", "kind", "feedback_kind", NEW_FEEDBACK_KINDS, OLD_FEEDBACK_KINDS)
        _check("cases", "type", "case_type", NEW_CASE_TYPES, OLD_CASE_TYPES)
