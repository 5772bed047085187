"""Alembic migrations match the models and run on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect

from tracker.core import migrate
from tracker.core.db import Base


def test_it_has_no_drift_between_models_and_migrations(engine: Any) -> None:
    migrate.check(engine)  # raises if autogenerate would write anything


def test_it_creates_every_table_and_named_index(engine: Any) -> None:
    inspector = inspect(engine)
    assert set(Base.metadata.tables) <= set(inspector.get_table_names())
    indexes = {i["name"] for i in inspector.get_indexes("scan_events")}
    assert {"ix_scan_events_parcel_id_occurred_at", "ix_scan_events_courier_code_occurred_at"} <= indexes
    parcel_indexes = {i["name"] for i in inspector.get_indexes("parcels")}
    assert {"ix_parcels_status_delivered_at", "ix_parcels_next_check_at"} <= parcel_indexes
