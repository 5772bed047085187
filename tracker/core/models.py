"""Typed SQLAlchemy 2.0 models: the one record of what happened to each parcel.

Tables and why they look the way they do:

* ``facilities`` and ``couriers``: the network; scans name them by code.
* ``parcels``: one row per tracking number, holding the registration (what
  the merchant told us) and the *derived* state (what the scans say, see
  :mod:`tracker.scans.timeline`). The derived columns are rewritten in the same
  transaction that stores the scans, so they never disagree with the events.
  ``next_check_at`` is when the sweep next needs to look at the parcel.
* ``scan_events``: append-only facts. ``event_id`` is the primary key:
  idempotency comes from the schema, and ``content_hash`` tells a replay
  from a conflict. A scan derived from an EPCIS event later declared
  erroneous is not deleted but marked (``voided_at``); readers count only
  the unmarked ones.
* ``cases``: explainable flags for ops; at most one open case per parcel and
  type (a partial unique index, the backstop against racing sweeps).
* ``api_keys``: only a SHA-256 of each key is kept.
* ``merchants``: who registers parcels; a merchant key and each parcel it
  registered name one (``merchant_code``), which is all that scopes a
  merchant's reads and writes.
* ``leases``: which process does a once-per-installation job (the sweep).

Why one module of more than 400 lines: this is the schema, and Alembic
compares exactly this metadata against the migrations (``tracker db check``,
run by the tests). Kept whole, every table, constraint name and index sits in
one place to review against a migration; split by domain, the tables'
foreign keys would tie the parts back together anyway. Behaviour lives
elsewhere: these classes hold columns, not logic.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.db import Base, JSONType, UTCDateTime
from tracker.core.vocabulary import (
    CaseState,
    CaseType,
    CustomerTier,
    EventType,
    FacilityKind,
    ParcelStatus,
    Role,
    UserRole,
)

# Auto-increment 64-bit ids on PostgreSQL; SQLite only auto-increments INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")
#: Percent of each ``parcels`` page filled by inserts (migration 0017): the rest
#: holds the new versions of rows that scans update, on the same page.
PARCELS_FILLFACTOR = 80


def _enum(cls: type, name: str) -> Enum:
    # Stored by value as a short string with a CHECK: readable in SQL, and a
    # new value is an ordinary migration rather than an ALTER TYPE.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class Facility(Base):
    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[FacilityKind] = mapped_column(_enum(FacilityKind, "facility_kind"))
    #: ISO 3166-2:CN province code, e.g. ``CN-31`` (Shanghai).
    region: Mapped[str] = mapped_column(String(8))
    city: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    #: Free text shown to customers at pickup points, e.g. "09:00-21:00".
    opening_hours: Mapped[str | None] = mapped_column(String(100))
    #: The station a pickup point is supplied from, or a station's sorting centre.
    parent_code: Mapped[str | None] = mapped_column(String(32))


class Courier(Base):
    __tablename__ = "couriers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    station_code: Mapped[str | None] = mapped_column(ForeignKey("facilities.code"))
    vehicle: Mapped[str] = mapped_column(String(16), default="ebike")


class Merchant(Base):
    """A shop or platform that registers parcels; its keys and parcels name it by code."""

    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Parcel(Base):
    __tablename__ = "parcels"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    tracking_number: Mapped[str] = mapped_column(String(40), unique=True)
    #: False while we only know the parcel from scans (a scan is a fact).
    registered: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    registration_hash: Mapped[str | None] = mapped_column(String(64))

    # What the merchant registered.
    service_level: Mapped[str | None] = mapped_column(String(32))
    ordered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    origin_facility: Mapped[str | None] = mapped_column(ForeignKey("facilities.code"))
    dest_lat: Mapped[float | None] = mapped_column(Float)
    dest_lon: Mapped[float | None] = mapped_column(Float)
    dest_region: Mapped[str | None] = mapped_column(String(8))
    dest_city: Mapped[str | None] = mapped_column(String(64))
    dest_district: Mapped[str | None] = mapped_column(String(64))
    dest_postcode: Mapped[str | None] = mapped_column(String(12))
    dest_address: Mapped[str | None] = mapped_column(String(300))
    recipient_name: Mapped[str | None] = mapped_column(String(100))
    recipient_phone: Mapped[str | None] = mapped_column(String(32))
    customer_tier: Mapped[CustomerTier] = mapped_column(
        _enum(CustomerTier, "customer_tier"), default=CustomerTier.NORMAL
    )
    appointment_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    appointment_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Once delivered with a chosen window: ``kept`` (inside it) or ``missed``.
    appointment_outcome: Mapped[str | None] = mapped_column(String(16))
    pickup_point: Mapped[str | None] = mapped_column(ForeignKey("facilities.code"))
    #: The pickup code (取件码) issued when the parcel was made ready at a pickup point
    #: (tracker.scans.pickup_codes): shown to the verified recipient, asked for at collection.
    pickup_code: Mapped[str | None] = mapped_column(String(8))
    #: What the ``collected`` scan said about the code: ``matched``, ``wrong`` or ``missing``.
    pickup_code_check: Mapped[str | None] = mapped_column(String(8))
    #: After a failed attempt, the pickup point the customer asked to collect it at:
    #: routing plans no doorstep stop for it (tracker.routing.planning).
    hold_at: Mapped[str | None] = mapped_column(ForeignKey("facilities.code"))
    perishable_min_c: Mapped[float | None] = mapped_column(Float)
    perishable_max_c: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    #: The expected delivery code, when the merchant issues OTPs.
    delivery_otp: Mapped[str | None] = mapped_column(String(12))
    #: The parcel's GS1 SSCC (18 digits), when it has one: EPCIS events name parcels by it.
    sscc: Mapped[str | None] = mapped_column(String(18))
    #: The merchant that registered it: null while only scans know the parcel (or a
    #: facility or admin key registered it); a merchant registering it then claims it.
    merchant_code: Mapped[str | None] = mapped_column(ForeignKey("merchants.code"))
    #: Set when its merchant cancelled it before it left the warehouse: the sweep
    #: stops watching it and routing leaves it out (tracker.merchants).
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Where customer emails go (tracker.notify.channels), when the merchant gave one.
    recipient_email: Mapped[str | None] = mapped_column(String(254))
    #: The recipient's language for messages: ``zh-CN`` (the default) or ``en``.
    recipient_language: Mapped[str | None] = mapped_column(String(8))

    # Derived from scan events (tracker.scans.timeline); null until the first scan.
    status: Mapped[ParcelStatus] = mapped_column(
        _enum(ParcelStatus, "parcel_status"), default=ParcelStatus.INFO_RECEIVED
    )
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    status_event_id: Mapped[str | None] = mapped_column(String(100))
    status_event_type: Mapped[EventType | None] = mapped_column(_enum(EventType, "status_event_type"))
    status_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_event_id: Mapped[str | None] = mapped_column(String(100))
    last_event_type: Mapped[EventType | None] = mapped_column(_enum(EventType, "last_event_type"))
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_facility: Mapped[str | None] = mapped_column(String(32))
    last_lat: Mapped[float | None] = mapped_column(Float)
    last_lon: Mapped[float | None] = mapped_column(Float)
    first_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ready_for_pickup_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # Promise and ETA (tracker.sla), and when the sweep must next look.
    promised_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    eta_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    eta_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: ``stages`` (the sweep's estimate) or ``route`` (a courier's planned route, which wins).
    eta_source: Mapped[str | None] = mapped_column(String(16))
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        # Parcels in a status (routing's parcels at a station, pickup codes at a point,
        # counts by status), the delivered ones by when (the sweep's week of history).
        # Not on last_event_at, which every scan changes: an update that changes
        # no indexed column is a HOT update (migration 0017).
        Index("ix_parcels_status_delivered_at", "status", "delivered_at"),
        Index(
            "uq_parcels_sscc",
            "sscc",
            unique=True,
            postgresql_where=text("sscc IS NOT NULL"),
            sqlite_where=text("sscc IS NOT NULL"),
        ),
        # A merchant's parcels, newest first (GET /api/v1/parcels pages by id).
        Index(
            "ix_parcels_merchant_code_id",
            "merchant_code",
            "id",
            postgresql_where=text("merchant_code IS NOT NULL"),
            sqlite_where=text("merchant_code IS NOT NULL"),
        ),
        # The sweep's one indexed query, over live parcels only.
        Index(
            "ix_parcels_next_check_at",
            "next_check_at",
            postgresql_where=text("next_check_at IS NOT NULL"),
            sqlite_where=text("next_check_at IS NOT NULL"),
        ),
        # Room on each page for a scan's new row version next to the old one (HOT).
        {"postgresql_with": {"fillfactor": PARCELS_FILLFACTOR}},
    )


class ScanEvent(Base):
    __tablename__ = "scan_events"

    #: Chosen by the client and unique: the key that makes ingestion idempotent.
    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    # No foreign key (migration 0012): ingest locks or creates the parcel row
    # before inserting its events, in the same transaction, and parcels are
    # never deleted; the per-row trigger check cost a tenth of the ingest.
    parcel_id: Mapped[int] = mapped_column(BigId)
    type: Mapped[EventType] = mapped_column(_enum(EventType, "event_type"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Facility and courier codes are checked on the way in (tracker.scans.ingest,
    # against a per-process cache) rather than by foreign keys: on the
    # hottest table of the schema the two per-row trigger checks cost about
    # a fifth of the insert, and codes are never deleted.
    facility_code: Mapped[str | None] = mapped_column(String(32))
    courier_code: Mapped[str | None] = mapped_column(String(32))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    temperature_c: Mapped[float | None] = mapped_column(Float)
    pod: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    damage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reason: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    #: The role of the key that sent it: courier, facility, admin, demo.
    source: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the event's canonical content: replay or conflict?
    content_hash: Mapped[str] = mapped_column(String(64))
    #: Set when an EPCIS error declaration voids the event the scan was derived from
    #: (tracker.epcis.derive). The row stays (append-only) and ops still sees it; every
    #: other reader (parcel state, tracking page, detection, sweep, scorecards, routing)
    #: reads only ``voided_at IS NULL``.
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_scan_events_parcel_id_occurred_at", "parcel_id", "occurred_at"),
        # Only courier scans are looked up by courier: facility scans stay out.
        Index(
            "ix_scan_events_courier_code_occurred_at",
            "courier_code",
            "occurred_at",
            postgresql_where=text("courier_code IS NOT NULL"),
            sqlite_where=text("courier_code IS NOT NULL"),
        ),
    )


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"))
    type: Mapped[CaseType] = mapped_column(_enum(CaseType, "case_type"))
    state: Mapped[CaseState] = mapped_column(_enum(CaseState, "case_state"))
    #: ``[{"code": ..., "detail": ...}]``: why the case exists, for a person.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    score: Mapped[float | None] = mapped_column(Float)
    facility_code: Mapped[str | None] = mapped_column(String(32))
    courier_code: Mapped[str | None] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolution: Mapped[str | None] = mapped_column(String(32))
    #: The ops user (``users.username``) working the case, if someone took it.
    assignee: Mapped[str | None] = mapped_column(String(64))
    #: When ops owes the customer an answer (complaints), else None.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(
            "uq_cases_one_open_per_parcel_type",
            "parcel_id",
            "type",
            unique=True,
            postgresql_where=text("state <> 'resolved'"),
            sqlite_where=text("state <> 'resolved'"),
        ),
        Index("ix_cases_type_state_opened_at", "type", "state", "opened_at"),
        # Every case of a chunk's parcels, resolved ones included (detection, the sweep).
        Index("ix_cases_parcel_id", "parcel_id"),
    )


class CaseEvent(Base):
    """One step in a case's life: the audit trail. Rows are never updated or deleted."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: opened, updated, acknowledged, resolved, closed (by the system), reopened
    action: Mapped[str] = mapped_column(String(32))
    #: "system", "customer", or "<role>:<key id>" of the person acting
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (Index("ix_case_events_case_id_at", "case_id", "at"),)


class ServiceState(Base):
    """Small facts about the service itself, e.g. when the last sweep succeeded."""

    __tablename__ = "service_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    value: Mapped[float | None] = mapped_column(Float)


class Lease(Base):
    """A job only one process of the installation may do at a time, and who does it until when.

    Taken and renewed with one conditional UPDATE (:mod:`tracker.sweep.lease`),
    so it works through a transaction-mode connection pooler, where
    session-level advisory locks do not survive.
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The first characters of the key, to recognise it in lists and logs.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    courier_code: Mapped[str | None] = mapped_column(ForeignKey("couriers.code"))
    facility_code: Mapped[str | None] = mapped_column(ForeignKey("facilities.code"))
    merchant_code: Mapped[str | None] = mapped_column(ForeignKey("merchants.code"))
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# Customers: verification attempts, feedback and ratings (tracker.tracking.verification,
# tracker.tracking.feedback). Feedback rows are never updated or deleted.


class FeedbackKind(StrEnum):
    NOT_RECEIVED = "not_received"
    DAMAGED = "damaged"
    LATE = "late"
    RATING = "rating"
    #: The customer chose (or changed) a delivery window.
    APPOINTMENT = "appointment"
    #: A complaint (投诉) of one of :data:`tracker.tracking.feedback.COMPLAINT_KINDS`.
    COMPLAINT = "complaint"


class VerificationAttempt(Base):
    """One try at the last four digits of a recipient's phone.

    Every try is stored (and committed) *before* it is checked, so concurrent
    tries see each other and a burst cannot test more codes than the limit.
    """

    __tablename__ = "verification_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: As the client sent it: unknown numbers are limited like known ones.
    tracking_number: Mapped[str] = mapped_column(String(40))
    #: A keyed hash of the client's address (its /64 for IPv6), never the address.
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: pending (being checked), failed, passed, refused (over the limit, not checked)
    outcome: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_verification_attempts_tracking_number_at", "tracking_number", "at"),
        Index("ix_verification_attempts_client_at", "client", "at"),
        Index("ix_verification_attempts_at", "at"),
    )


class Feedback(Base):
    """What a customer told us about a parcel: append-only, kept forever."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"))
    kind: Mapped[FeedbackKind] = mapped_column(_enum(FeedbackKind, "feedback_kind"))
    #: The report as given: description, comment, scores, chosen window.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The case the report opened or added to, if any.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))

    __table_args__ = (Index("ix_feedback_parcel_id_created_at", "parcel_id", "created_at"),)


class Rating(Base):
    """The customer's current rating of a delivery: one per parcel.

    Each submission is also a ``feedback`` row of kind ``rating``: that is the
    history; this row is the latest, for scorecards.
    """

    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcels.id"), unique=True)
    packaging: Mapped[int] = mapped_column(Integer)
    courier: Mapped[int] = mapped_column(Integer)
    speed: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    #: Who delivered (or the pickup point that handed it over), for scorecards.
    courier_code: Mapped[str | None] = mapped_column(String(32))
    facility_code: Mapped[str | None] = mapped_column(String(32))
    #: 1 for the first rating, +1 for each update.
    revision: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("packaging BETWEEN 1 AND 5", name="packaging_1_to_5"),
        CheckConstraint("courier BETWEEN 1 AND 5", name="courier_1_to_5"),
        CheckConstraint("speed BETWEEN 1 AND 5", name="speed_1_to_5"),
    )


class DetectionCheck(Base):
    """When detection last judged a parcel (:mod:`tracker.detection.evaluate`).

    A courier's scans of one parcel are evidence about the courier's other
    parcels (bulk signing, impossible travel). When a scan arrives after a
    neighbouring parcel was judged, that parcel is marked due again; this
    row is what tells "judged before the scan" from "already judged with it",
    so the second look happens once instead of rippling through the day.
    """

    __tablename__ = "detection_checks"

    parcel_id: Mapped[int] = mapped_column(BigId, ForeignKey("parcels.id"), primary_key=True)
    judged_at: Mapped[datetime] = mapped_column(UTCDateTime())


# Route plans (tracker.routing.store).


class StationPlan(Base):
    """One solve of a delivery station's day: never updated; planning again adds a plan.

    ``problem`` is the routing problem as the solver saw it, in the JSON form
    ``tracker routes optimize`` reads (so a plan can be reproduced), and
    ``result`` the solver's answer (:meth:`tracker.routing.RoutePlan.to_dict`,
    which the independent checker can verify again). ``route_stops`` index the
    answer by parcel and courier.
    """

    __tablename__ = "route_plans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    facility_code: Mapped[str] = mapped_column(ForeignKey("facilities.code"))
    #: The station's local day the plan is for.
    plan_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: "<role>:<key id>" of the caller, or "cli".
    requested_by: Mapped[str] = mapped_column(String(64))
    solver_status: Mapped[str] = mapped_column(String(32))
    solve_seconds: Mapped[float] = mapped_column(Float)
    distance_m: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)
    served: Mapped[int] = mapped_column(Integer)
    left_out: Mapped[int] = mapped_column(Integer)
    vehicles_used: Mapped[int] = mapped_column(Integer)
    problem: Mapped[dict[str, Any]] = mapped_column(JSONType)
    result: Mapped[dict[str, Any]] = mapped_column(JSONType)

    __table_args__ = (
        # "The latest plan of this station for this day".
        Index("ix_route_plans_facility_code_plan_date_id", "facility_code", "plan_date", "id"),
        # "Every station's plans of the last week": the sweep's station rounds.
        Index("ix_route_plans_plan_date", "plan_date"),
    )


class RouteStop(Base):
    """A parcel's place in a plan: a courier's n-th stop with its ETA, or left out and why."""

    __tablename__ = "route_stops"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(BigId, ForeignKey("route_plans.id"))
    parcel_id: Mapped[int] = mapped_column(BigId, ForeignKey("parcels.id"))
    courier_code: Mapped[str | None] = mapped_column(ForeignKey("couriers.code"))
    #: 1 for the courier's first stop; null when left out.
    sequence: Mapped[int | None] = mapped_column(Integer)
    arrival: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: After any wait for the customer's appointment to open.
    service_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    departure: Mapped[datetime | None] = mapped_column(UTCDateTime())
    eta_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    eta_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Why the parcel was left out (tracker.routing.plan.REASONS and a few of
    #: the service's own); null when served.
    reason: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("uq_route_stops_plan_id_parcel_id", "plan_id", "parcel_id", unique=True),
        Index("ix_route_stops_plan_id_courier_code_sequence", "plan_id", "courier_code", "sequence"),
        CheckConstraint(
            "(courier_code IS NULL) = (sequence IS NULL) AND (sequence IS NULL) <> (reason IS NULL)",
            name="served_or_left_out",
        ),
    )


# EPCIS 2.0 capture and query (tracker.epcis). Events are stored as received
# (``document``) and never deleted: an error declaration marks its event
# (``error_declared_at``), it does not remove it.


class EpcisCapture(Base):
    """One ``POST /api/v1/epcis/capture``: the document as received, and what became of each event."""

    __tablename__ = "epcis_captures"

    capture_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: "<role>:<key id>" of the caller.
    requested_by: Mapped[str] = mapped_column(String(64))
    #: The facility the caller's key is bound to (it may capture only there), or null.
    facility_code: Mapped[str | None] = mapped_column(String(32))
    #: GS1-Capture-Error-Behaviour: ``rollback`` (all or nothing) or ``proceed``.
    error_behaviour: Mapped[str] = mapped_column(String(16))
    event_count: Mapped[int] = mapped_column(Integer)
    #: running, finished (every event stored or a replay), failed (rolled back, or some rejected)
    state: Mapped[str] = mapped_column(String(16))
    #: When a process took the job (a job whose taker died is taken again after a while).
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    #: One entry per event, in document order (tracker.epcis.capture.EventReport).
    report: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)

    __table_args__ = (
        Index(
            "ix_epcis_captures_state_claimed_at",
            "state",
            "claimed_at",
            postgresql_where=text("state = 'running'"),
            sqlite_where=text("state = 'running'"),
        ),
    )


class EpcisEvent(Base):
    """An EPCIS event as captured; ``event_id`` is its eventID, or its canonical hash when it has none."""

    __tablename__ = "epcis_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(500), unique=True)
    #: CBV 2.0 canonical hash (tracker.epcis.canonical): a replay has the same.
    event_hash: Mapped[str] = mapped_column(String(100))
    event_type: Mapped[str] = mapped_column(String(64))
    event_time: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When tracker captured it (the EPCIS recordTime).
    record_time: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str | None] = mapped_column(String(16))
    biz_step: Mapped[str | None] = mapped_column(String(500))
    disposition: Mapped[str | None] = mapped_column(String(500))
    read_point: Mapped[str | None] = mapped_column(String(500))
    biz_location: Mapped[str | None] = mapped_column(String(500))
    #: The facility its business location (or read point) maps to, if any.
    facility_code: Mapped[str | None] = mapped_column(String(32))
    capture_id: Mapped[str] = mapped_column(ForeignKey("epcis_captures.capture_id"))
    #: The event as received (without an errorDeclaration that came later).
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    error_declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The errorDeclaration as declared (reason, correctiveEventIDs...).
    error_declaration: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    __table_args__ = (
        Index("ix_epcis_events_event_time_id", "event_time", "id"),
        Index("ix_epcis_events_event_hash", "event_hash"),
        Index("ix_epcis_events_biz_step", "biz_step"),
        Index("ix_epcis_events_biz_location", "biz_location"),
    )


class EpcisEventEpc(Base):
    """An identifier an event names, and in which role (epc, parent, child, input, output)."""

    __tablename__ = "epcis_event_epcs"

    event_pk: Mapped[int] = mapped_column(BigId, ForeignKey("epcis_events.id"), primary_key=True)
    #: As written in the event.
    epc: Mapped[str] = mapped_column(String(500), primary_key=True)
    role: Mapped[str] = mapped_column(String(8), primary_key=True)
    #: The canonical GS1 Digital Link (tracker.epcis.identifiers.canonical): URN and link spellings meet here.
    canonical: Mapped[str] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_epcis_event_epcs_epc", "epc"),
        Index("ix_epcis_event_epcs_canonical", "canonical"),
    )


class EpcisParcelLink(Base):
    """An event that names a parcel, directly (its SSCC) or through a pallet it was aggregated on."""

    __tablename__ = "epcis_parcel_links"

    event_pk: Mapped[int] = mapped_column(BigId, ForeignKey("epcis_events.id"), primary_key=True)
    parcel_id: Mapped[int] = mapped_column(BigId, ForeignKey("parcels.id"), primary_key=True)
    #: The identifier in the event that led to the parcel (the parcel's SSCC, or the pallet's).
    via: Mapped[str] = mapped_column(String(500))
    #: The scan derived from the event for this parcel (tracker.epcis.derive), if any.
    scan_event_id: Mapped[str | None] = mapped_column(String(100))
    #: Set when the event was declared erroneous: the scan no longer counts for the parcel.
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_epcis_parcel_links_parcel_id", "parcel_id"),)


class EpcisReading(Base):
    """One sensor report of an event, kept whether or not the event names a parcel."""

    __tablename__ = "epcis_readings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_pk: Mapped[int] = mapped_column(BigId, ForeignKey("epcis_events.id"))
    #: ``Temperature``, ``AbsoluteHumidity``... (GS1 vocabulary words bare), or an extension URI.
    measurement_type: Mapped[str] = mapped_column(String(500))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uom: Mapped[str | None] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    min_value: Mapped[float | None] = mapped_column(Float)
    max_value: Mapped[float | None] = mapped_column(Float)
    mean_value: Mapped[float | None] = mapped_column(Float)
    other_value: Mapped[str | None] = mapped_column(Text)
    device_id: Mapped[str | None] = mapped_column(String(500))
    #: For a temperature in a known unit, in °C: the value (else the mean, else the maximum).
    temperature_c: Mapped[float | None] = mapped_column(Float)
    #: The reported extremes in °C: a report of a span may stray at either end
    #: (what the cold-chain detector reads beside ``temperature_c``).
    temperature_min_c: Mapped[float | None] = mapped_column(Float)
    temperature_max_c: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_epcis_readings_event_pk", "event_pk"),
        Index("ix_epcis_readings_measurement_type_observed_at", "measurement_type", "observed_at"),
    )


class EpcisLocation(Base):
    """A configured mapping: this read point or business location is that facility."""

    __tablename__ = "epcis_locations"

    #: The location's canonical form (tracker.epcis.identifiers.location_key).
    location: Mapped[str] = mapped_column(String(500), primary_key=True)
    facility_code: Mapped[str] = mapped_column(ForeignKey("facilities.code"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# People of the ops console (tracker.console). Never deleted: a user who leaves
# is disabled, so the actor ``user:<username>`` of a case's history stays theirs.


class User(Base):
    """Someone who signs in to ``/ops``; only a salted hash of the password is kept."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    #: werkzeug.security's ``scrypt:...$salt$hash``.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[UserRole] = mapped_column(_enum(UserRole, "user_role"))
    display_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Set by ``tracker users disable``: the next request of their session is refused.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookSubscription(Base):
    """Who wants which notifications at which URL (tracker.notify); never deleted, only disabled."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    #: The event kinds this subscription receives (``parcel.status_changed``...).
    events: Mapped[list[str]] = mapped_column(JSONType)
    #: ``merchant`` (its own parcels only), ``ops`` or ``admin`` (everything).
    owner_role: Mapped[str] = mapped_column(String(16))
    merchant_code: Mapped[str | None] = mapped_column(String(32))
    key_id: Mapped[int | None] = mapped_column(Integer)
    #: Signing secrets, encrypted with ``TRACKER_WEBHOOK_SECRET_KEY`` (Fernet tokens).
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    #: Until when the previous secret signs too (rotation overlap).
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    #: Failed tries in a row; reset by a success, disables the subscription at the limit.
    failure_streak: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationEvent(Base):
    """The outbox: one row per change worth telling, written in the change's transaction."""

    __tablename__ = "notification_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: The payload's id and the ``webhook-id`` header, the same on every try.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    # No foreign key (migration 0017): rows are written by ingest and the sweep for
    # parcels they hold locked, and parcels are never deleted; the check cost a
    # trigger query and a row lock per notification, ~5 ms of a 500-scan batch.
    parcel_id: Mapped[int | None] = mapped_column(BigId)
    case_id: Mapped[int | None] = mapped_column(BigId)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the dispatcher turned it into deliveries (null: still to do).
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(
            "ix_notification_events_pending",
            "id",
            postgresql_where=text("fanned_out_at IS NULL"),
            sqlite_where=text("fanned_out_at IS NULL"),
        ),
    )


class NotificationDelivery(Base):
    """One notification to one destination (a webhook subscription, an email, an SMS) and its tries."""

    __tablename__ = "notification_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("notification_events.id"))
    #: ``webhook``, ``email`` or ``sms``.
    channel: Mapped[str] = mapped_column(String(8))
    subscription_id: Mapped[str | None] = mapped_column(ForeignKey("webhook_subscriptions.id"))
    #: ``pending``, ``sent``, ``dead`` (the dead letter) or ``skipped`` (a customer message not sent).
    state: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When the next try is due; while a dispatcher holds the row, the end of its lease.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index(
            "ix_notification_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index("ix_notification_deliveries_subscription_id_id", "subscription_id", "id"),
        Index("ix_notification_deliveries_event_id", "event_id"),
    )
