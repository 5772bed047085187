"""Initial schema: network, parcels, scan events, cases, API keys.

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 15:55:55.641487
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import tracker.core.db

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('facilities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('warehouse', 'sorting_center', 'grid_warehouse', 'delivery_station', 'pickup_point', name='facility_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('region', sa.String(length=8), nullable=False),
    sa.Column('city', sa.String(length=64), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=True),
    sa.Column('opening_hours', sa.String(length=100), nullable=True),
    sa.Column('parent_code', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_facilities')),
    sa.UniqueConstraint('code', name=op.f('uq_facilities_code'))
    )
    op.create_table('couriers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('station_code', sa.String(length=32), nullable=True),
    sa.Column('vehicle', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['station_code'], ['facilities.code'], name=op.f('fk_couriers_station_code_facilities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_couriers')),
    sa.UniqueConstraint('code', name=op.f('uq_couriers_code'))
    )
    op.create_table('parcels',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tracking_number', sa.String(length=40), nullable=False),
    sa.Column('registered', sa.Boolean(), nullable=False),
    sa.Column('first_seen_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('registered_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('registration_hash', sa.String(length=64), nullable=True),
    sa.Column('service_level', sa.String(length=32), nullable=True),
    sa.Column('ordered_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('origin_facility', sa.String(length=32), nullable=True),
    sa.Column('dest_lat', sa.Float(), nullable=True),
    sa.Column('dest_lon', sa.Float(), nullable=True),
    sa.Column('dest_region', sa.String(length=8), nullable=True),
    sa.Column('dest_city', sa.String(length=64), nullable=True),
    sa.Column('dest_district', sa.String(length=64), nullable=True),
    sa.Column('dest_postcode', sa.String(length=12), nullable=True),
    sa.Column('dest_address', sa.String(length=300), nullable=True),
    sa.Column('recipient_name', sa.String(length=100), nullable=True),
    sa.Column('recipient_phone', sa.String(length=32), nullable=True),
    sa.Column('customer_tier', sa.Enum('normal', 'vip', name='customer_tier', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('appointment_start', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('appointment_end', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pickup_point', sa.String(length=32), nullable=True),
    sa.Column('perishable_min_c', sa.Float(), nullable=True),
    sa.Column('perishable_max_c', sa.Float(), nullable=True),
    sa.Column('weight_kg', sa.Float(), nullable=True),
    sa.Column('delivery_otp', sa.String(length=12), nullable=True),
    sa.Column('status', sa.Enum('info_received', 'in_transit', 'out_for_delivery', 'failed_attempt', 'available_for_pickup', 'delivered', 'exception', 'returned', name='parcel_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('status_event_id', sa.String(length=100), nullable=True),
    sa.Column('status_event_type', sa.Enum('created', 'picked_up', 'outbound', 'arrived', 'departed', 'out_for_delivery', 'delivery_failed', 'delivered', 'ready_for_pickup', 'collected', 'damaged', 'exception', 'returned', name='status_event_type', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('status_event_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_event_id', sa.String(length=100), nullable=True),
    sa.Column('last_event_type', sa.Enum('created', 'picked_up', 'outbound', 'arrived', 'departed', 'out_for_delivery', 'delivery_failed', 'delivered', 'ready_for_pickup', 'collected', 'damaged', 'exception', 'returned', name='last_event_type', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('last_event_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_facility', sa.String(length=32), nullable=True),
    sa.Column('last_lat', sa.Float(), nullable=True),
    sa.Column('last_lon', sa.Float(), nullable=True),
    sa.Column('first_event_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outbound_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ready_for_pickup_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('promised_by', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('eta_start', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('eta_end', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_check_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['origin_facility'], ['facilities.code'], name=op.f('fk_parcels_origin_facility_facilities')),
    sa.ForeignKeyConstraint(['pickup_point'], ['facilities.code'], name=op.f('fk_parcels_pickup_point_facilities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parcels')),
    sa.UniqueConstraint('tracking_number', name=op.f('uq_parcels_tracking_number'))
    )
    with op.batch_alter_table('parcels', schema=None) as batch_op:
        batch_op.create_index('ix_parcels_next_check_at', ['next_check_at'], unique=False, postgresql_where=sa.text('next_check_at IS NOT NULL'), sqlite_where=sa.text('next_check_at IS NOT NULL'))
        batch_op.create_index('ix_parcels_status_last_event_at', ['status', 'last_event_at'], unique=False)

    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('role', sa.Enum('courier', 'facility', 'merchant', 'ops', 'admin', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('courier_code', sa.String(length=32), nullable=True),
    sa.Column('facility_code', sa.String(length=32), nullable=True),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.Column('created_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['courier_code'], ['couriers.code'], name=op.f('fk_api_keys_courier_code_couriers')),
    sa.ForeignKeyConstraint(['facility_code'], ['facilities.code'], name=op.f('fk_api_keys_facility_code_facilities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('cases',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('parcel_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.Enum('stale', 'suspected_fake_delivery', 'damage', 'sla_breach', 'at_risk', 'temperature_excursion', 'customer_dispute', name='case_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('state', sa.Enum('open', 'acknowledged', 'resolved', name='case_state', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('reasons', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('facility_code', sa.String(length=32), nullable=True),
    sa.Column('courier_code', sa.String(length=32), nullable=True),
    sa.Column('opened_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', tracker.core.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('resolution', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_cases_parcel_id_parcels')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index('ix_cases_type_state_opened_at', ['type', 'state', 'opened_at'], unique=False)
        batch_op.create_index('uq_cases_one_open_per_parcel_type', ['parcel_id', 'type'], unique=True, postgresql_where=sa.text("state <> 'resolved'"), sqlite_where=sa.text("state <> 'resolved'"))

    op.create_table('scan_events',
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('parcel_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.Enum('created', 'picked_up', 'outbound', 'arrived', 'departed', 'out_for_delivery', 'delivery_failed', 'delivered', 'ready_for_pickup', 'collected', 'damaged', 'exception', 'returned', name='event_type', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('occurred_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', tracker.core.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('facility_code', sa.String(length=32), nullable=True),
    sa.Column('courier_code', sa.String(length=32), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('temperature_c', sa.Float(), nullable=True),
    sa.Column('pod', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('damage', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('reason', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['parcel_id'], ['parcels.id'], name=op.f('fk_scan_events_parcel_id_parcels')),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_scan_events'))
    )
    with op.batch_alter_table('scan_events', schema=None) as batch_op:
        batch_op.create_index('ix_scan_events_courier_code_occurred_at', ['courier_code', 'occurred_at'], unique=False, postgresql_where=sa.text('courier_code IS NOT NULL'), sqlite_where=sa.text('courier_code IS NOT NULL'))
        batch_op.create_index('ix_scan_events_parcel_id_occurred_at', ['parcel_id', 'occurred_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('scan_events', schema=None) as batch_op:
        batch_op.drop_index('ix_scan_events_parcel_id_occurred_at')
        batch_op.drop_index('ix_scan_events_courier_code_occurred_at', postgresql_where=sa.text('courier_code IS NOT NULL'), sqlite_where=sa.text('courier_code IS NOT NULL'))

    op.drop_table('scan_events')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('uq_cases_one_open_per_parcel_type', postgresql_where=sa.text("state <> 'resolved'"), sqlite_where=sa.text("state <> 'resolved'"))
        batch_op.drop_index('ix_cases_type_state_opened_at')

    op.drop_table('cases')
    op.drop_table('api_keys')
    with op.batch_alter_table('parcels', schema=None) as batch_op:
        batch_op.drop_index('ix_parcels_status_last_event_at')
        batch_op.drop_index('ix_parcels_next_check_at', postgresql_where=sa.text('next_check_at IS NOT NULL'), sqlite_where=sa.text('next_check_at IS NOT NULL'))

    op.drop_table('parcels')
    op.drop_table('couriers')
    op.drop_table('facilities')

