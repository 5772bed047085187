"""Route plans found by day: the sweep reads every station's plans of the last week.

``tracker.sweep.store.station_rounds`` selects by ``plan_date`` alone, which
the (facility, day) index cannot serve; without this it read the whole table
each time the sweeper refreshed its history.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 00:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_route_plans_plan_date", "route_plans", ["plan_date"])


def downgrade() -> None:
    op.drop_index("ix_route_plans_plan_date", table_name="route_plans")
