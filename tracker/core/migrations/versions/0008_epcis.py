"""EPCIS 2.0: captures, events as received, their identifiers, parcel links, readings, locations; parcels.sscc; scan_events.voided_at.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:24:04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tracker.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "epcis_captures",
        sa.Column("capture_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", tracker.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", tracker.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("facility_code", sa.String(length=32), nullable=True),
        sa.Column("error_behaviour", sa.String(length=16), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("claimed_at", tracker.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "report",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("capture_id", name=op.f("pk_epcis_captures")),
    )
    with op.batch_alter_table("epcis_captures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_epcis_captures_state_claimed_at",
            ["state", "claimed_at"],
            unique=False,
            postgresql_where=sa.text("state = 'running'"),
            sqlite_where=sa.text("state = 'running'"),
        )

    op.create_table(
        "epcis_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=500), nullable=False),
        sa.Column("event_hash", sa.String(length=100), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("event_time", tracker.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("record_time", tracker.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=True),
        sa.Column("biz_step", sa.String(length=500), nullable=True),
        sa.Column("disposition", sa.String(length=500), nullable=True),
        sa.Column("read_point", sa.String(length=500), nullable=True),
        sa.Column("biz_location", sa.String(length=500), nullable=True),
        sa.Column("facility_code", sa.String(length=32), nullable=True),
        sa.Column("capture_id", sa.String(length=40), nullable=False),
        sa.Column(
            "document",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("error_declared_at", tracker.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "error_declaration",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["epcis_captures.capture_id"],
            name=op.f("fk_epcis_events_capture_id_epcis_captures"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_epcis_events_event_id")),
    )
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.create_index("ix_epcis_events_biz_location", ["biz_location"], unique=False)
        batch_op.create_index("ix_epcis_events_biz_step", ["biz_step"], unique=False)
        batch_op.create_index("ix_epcis_events_event_hash", ["event_hash"], unique=False)
        batch_op.create_index("ix_epcis_events_event_time_id", ["event_time", "id"], unique=False)

    op.create_table(
        "epcis_locations",
        sa.Column("location", sa.String(length=500), nullable=False),
        sa.Column("facility_code", sa.String(length=32), nullable=False),
        sa.Column("created_at", tracker.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_code"], ["facilities.code"], name=op.f("fk_epcis_locations_facility_code_facilities")
        ),
        sa.PrimaryKeyConstraint("location", name=op.f("pk_epcis_locations")),
    )
    op.create_table(
        "epcis_event_epcs",
        sa.Column("event_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("epc", sa.String(length=500), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("canonical", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["epcis_events.id"], name=op.f("fk_epcis_event_epcs_event_pk_epcis_events")
        ),
        sa.PrimaryKeyConstraint("event_pk", "epc", "role", name=op.f("pk_epcis_event_epcs")),
    )
    with op.batch_alter_table("epcis_event_epcs", schema=None) as batch_op:
        batch_op.create_index("ix_epcis_event_epcs_canonical", ["canonical"], unique=False)
        batch_op.create_index("ix_epcis_event_epcs_epc", ["epc"], unique=False)

    op.create_table(
        "epcis_parcel_links",
        sa.Column("event_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("parcel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("via", sa.String(length=500), nullable=False),
        sa.Column("scan_event_id", sa.String(length=100), nullable=True),
        sa.Column("voided_at", tracker.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["epcis_events.id"], name=op.f("fk_epcis_parcel_links_event_pk_epcis_events")
        ),
        sa.ForeignKeyConstraint(
            ["parcel_id"], ["parcels.id"], name=op.f("fk_epcis_parcel_links_parcel_id_parcels")
        ),
        sa.PrimaryKeyConstraint("event_pk", "parcel_id", name=op.f("pk_epcis_parcel_links")),
    )
    with op.batch_alter_table("epcis_parcel_links", schema=None) as batch_op:
        batch_op.create_index("ix_epcis_parcel_links_parcel_id", ["parcel_id"], unique=False)

    op.create_table(
        "epcis_readings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("measurement_type", sa.String(length=500), nullable=False),
        sa.Column("observed_at", tracker.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("uom", sa.String(length=16), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("mean_value", sa.Float(), nullable=True),
        sa.Column("other_value", sa.Text(), nullable=True),
        sa.Column("device_id", sa.String(length=500), nullable=True),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column("temperature_min_c", sa.Float(), nullable=True),
        sa.Column("temperature_max_c", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["epcis_events.id"], name=op.f("fk_epcis_readings_event_pk_epcis_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epcis_readings")),
    )
    with op.batch_alter_table("epcis_readings", schema=None) as batch_op:
        batch_op.create_index("ix_epcis_readings_event_pk", ["event_pk"], unique=False)
        batch_op.create_index(
            "ix_epcis_readings_measurement_type_observed_at",
            ["measurement_type", "observed_at"],
            unique=False,
        )

    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sscc", sa.String(length=18), nullable=True))
        batch_op.create_index(
            "uq_parcels_sscc",
            ["sscc"],
            unique=True,
            postgresql_where=sa.text("sscc IS NOT NULL"),
            sqlite_where=sa.text("sscc IS NOT NULL"),
        )

    with op.batch_alter_table("scan_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("voided_at", tracker.core.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scan_events", schema=None) as batch_op:
        batch_op.drop_column("voided_at")

    with op.batch_alter_table("parcels", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_parcels_sscc",
            postgresql_where=sa.text("sscc IS NOT NULL"),
            sqlite_where=sa.text("sscc IS NOT NULL"),
        )
        batch_op.drop_column("sscc")

    with op.batch_alter_table("epcis_readings", schema=None) as batch_op:
        batch_op.drop_index("ix_epcis_readings_measurement_type_observed_at")
        batch_op.drop_index("ix_epcis_readings_event_pk")

    op.drop_table("epcis_readings")
    with op.batch_alter_table("epcis_parcel_links", schema=None) as batch_op:
        batch_op.drop_index("ix_epcis_parcel_links_parcel_id")

    op.drop_table("epcis_parcel_links")
    with op.batch_alter_table("epcis_event_epcs", schema=None) as batch_op:
        batch_op.drop_index("ix_epcis_event_epcs_epc")
        batch_op.drop_index("ix_epcis_event_epcs_canonical")

    op.drop_table("epcis_event_epcs")
    op.drop_table("epcis_locations")
    with op.batch_alter_table("epcis_events", schema=None) as batch_op:
        batch_op.drop_index("ix_epcis_events_event_time_id")
        batch_op.drop_index("ix_epcis_events_event_hash")
        batch_op.drop_index("ix_epcis_events_biz_step")
        batch_op.drop_index("ix_epcis_events_biz_location")

    op.drop_table("epcis_events")
    with op.batch_alter_table("epcis_captures", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_epcis_captures_state_claimed_at",
            postgresql_where=sa.text("state = 'running'"),
            sqlite_where=sa.text("state = 'running'"),
        )

    op.drop_table("epcis_captures")
