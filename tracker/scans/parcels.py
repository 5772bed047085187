"""Registering parcels and reading a parcel's whole record.

Registration is idempotent like scans: the same registration again answers
the stored parcel; a different one for a registered tracking number is a
conflict. A parcel first seen through scans (unregistered) is filled in.

Ownership: a merchant key's registration names its merchant
(``parcels.merchant_code``). A merchant registering a parcel nobody owns (one
known only from scans, or registered by a facility or admin key with the same
details) claims it. A tracking number another merchant owns is a 409 with
one message whatever the details sent: tracking numbers are printed on labels
and the tracking page is public, so *that it exists* is no secret (a 404
would contradict the public page and the parcel would still not be ours to
create); but answering "unchanged" for matching details and "different" for
others would let anyone test guesses of another merchant's recipient, so the
answer names neither the owner nor anything about the registration.

The schema (:class:`tracker.scans.schemas.ParcelIn`) refuses times before
2000 or past 2099; what needs *now* is checked here: ``ordered_at`` and the
appointment at most a year ahead (:func:`tracker.core.inputs.horizon_errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, select, update

from tracker.core.db import upsert
from tracker.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from tracker.core.inputs import horizon_errors
from tracker.core.models import Case, Facility, Parcel, ScanEvent
from tracker.core.timefmt import iso_local_or_none, localize_text
from tracker.core.vocabulary import EventType, FacilityKind
from tracker.scans import promises, timeline
from tracker.scans.ingest import STATE_COLUMNS, IngestPolicy, journey_of
from tracker.scans.schemas import ParcelIn
from tracker.scans.state import state_from_row
from tracker.sla import ServiceLevel


@dataclass(frozen=True)
class Registered:
    parcel_id: int
    #: created | completed (was known from scans) | unchanged (a replay)
    outcome: str


def register_parcel(
    conn: Connection, parcel: ParcelIn, *, now: datetime, policy: IngestPolicy, merchant: str | None = None
) -> Registered:
    """Register ``parcel``; ``merchant``: the code of the merchant key registering it, if any."""
    _check_references(conn, parcel, policy.levels, now)
    columns = _registration_columns(parcel, now)
    if merchant is not None:
        columns["merchant_code"] = merchant
    row = conn.execute(
        select(Parcel.id, Parcel.registered, Parcel.registration_hash, Parcel.merchant_code)
        .where(Parcel.tracking_number == parcel.tracking_number)
        .with_for_update()
    ).first()
    if row is None:
        inserted = conn.scalar(
            upsert(conn, Parcel)
            .values(
                tracking_number=parcel.tracking_number,
                first_seen_at=now,
                event_count=0,
                status="info_received",
                **columns,
            )
            .on_conflict_do_nothing(index_elements=["tracking_number"])
            .returning(Parcel.id)
        )
        if inserted is not None:
            _refresh_promise(conn, inserted, now, policy)
            return Registered(inserted, "created")
        # A scan created the row between our select and insert: complete it.
        row = conn.execute(
            select(Parcel.id, Parcel.registered, Parcel.registration_hash, Parcel.merchant_code)
            .where(Parcel.tracking_number == parcel.tracking_number)
            .with_for_update()
        ).one()
    if merchant is not None and row.merchant_code not in (None, merchant):
        raise Conflict(
            f"tracking number {parcel.tracking_number} is already registered to another account",
            [FieldError("tracking_number", "already registered to another account")],
        )
    if row.registered:
        if row.registration_hash == columns["registration_hash"]:
            if merchant is not None and row.merchant_code is None:
                conn.execute(
                    update(Parcel).where(Parcel.id == row.id).values(merchant_code=merchant, updated_at=now)
                )
            return Registered(row.id, "unchanged")
        raise Conflict(
            f"parcel {parcel.tracking_number} is already registered with different details",
            [FieldError("tracking_number", "already registered with different details")],
        )
    conn.execute(update(Parcel).where(Parcel.id == row.id).values(**columns))
    _refresh_promise(conn, row.id, now, policy)
    return Registered(row.id, "completed")


def correct_registration(
    conn: Connection, parcel_id: int, parcel: ParcelIn, *, now: datetime, policy: IngestPolicy
) -> None:
    """Replace a registered parcel's details with ``parcel`` (the caller locked the row and decided
    it may); the promise is computed again from the new details, and the parcel is due at once."""
    _check_references(conn, parcel, policy.levels, now)
    columns = _registration_columns(parcel, now)
    del columns["registered_at"]  # corrected, not registered again
    conn.execute(update(Parcel).where(Parcel.id == parcel_id).values(**columns))
    _refresh_promise(conn, parcel_id, now, policy)


def registration_of(p: Any) -> dict[str, Any]:
    """A stored parcel's registration in the JSON form of :class:`ParcelIn` (absent parts left out)."""

    def _iso(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    body: dict[str, Any] = {
        "tracking_number": p.tracking_number,
        **_registered_details(p, _iso),
        "delivery_otp": p.delivery_otp,
        "sscc": p.sscc,
    }

    def _present(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _present(v) for k, v in value.items() if v is not None}
        return value

    return {k: _present(v) for k, v in body.items() if v is not None}


def _registered_details(p: Any, iso: Callable[[datetime | None], str | None]) -> dict[str, Any]:
    """The registered details of a stored parcel, times written by ``iso``: shared by the
    registration (UTC, as sent) and the ops record (local), so the two cannot drift apart."""
    return {
        "service_level": p.service_level,
        "ordered_at": iso(p.ordered_at),
        "origin_facility": p.origin_facility,
        "destination": {
            "lat": p.dest_lat,
            "lon": p.dest_lon,
            "region": p.dest_region,
            "city": p.dest_city,
            "district": p.dest_district,
            "postcode": p.dest_postcode,
            "address": p.dest_address,
        },
        "recipient": {"name": p.recipient_name, "phone": p.recipient_phone},
        "customer_tier": p.customer_tier,
        "appointment": (
            {"start": iso(p.appointment_start), "end": iso(p.appointment_end)}
            if p.appointment_start
            else None
        ),
        "pickup_point": p.pickup_point,
        "perishable": (
            {"min_c": p.perishable_min_c, "max_c": p.perishable_max_c}
            if p.perishable_min_c is not None
            else None
        ),
        "weight_kg": p.weight_kg,
    }


def _refresh_promise(conn: Connection, parcel_id: int, now: datetime, policy: IngestPolicy) -> None:
    """Promise from the registration and whatever scans came first; due now."""
    row = conn.execute(select(*STATE_COLUMNS).where(Parcel.id == parcel_id)).one()
    journey = journey_of(conn, row, policy.directory)
    promised_by = promises.promise(policy.levels, journey, state_from_row(row))
    values = {"promised_by": promised_by, "next_check_at": now, "updated_at": now}
    conn.execute(update(Parcel).where(Parcel.id == parcel_id).values(**values))


def _check_references(
    conn: Connection, parcel: ParcelIn, service_levels: Mapping[str, ServiceLevel], now: datetime
) -> None:
    window = parcel.appointment
    errors = horizon_errors(
        now,
        {
            "ordered_at": parcel.ordered_at,
            "appointment.start": window.start if window else None,
            "appointment.end": window.end if window else None,
        },
    )
    if parcel.service_level not in service_levels:
        known = ", ".join(sorted(service_levels))
        errors.append(
            FieldError("service_level", f"unknown service level {parcel.service_level!r}; known: {known}")
        )
    else:
        errors.extend(_level_needs(parcel, service_levels[parcel.service_level]))
    codes = {c for c in (parcel.origin_facility, parcel.pickup_point) if c}
    kinds = {
        code: kind
        for code, kind in conn.execute(select(Facility.code, Facility.kind).where(Facility.code.in_(codes)))
    }
    if parcel.origin_facility and parcel.origin_facility not in kinds:
        errors.append(FieldError("origin_facility", f"unknown facility code {parcel.origin_facility!r}"))
    if parcel.pickup_point:
        kind = kinds.get(parcel.pickup_point)
        if kind is None:
            errors.append(FieldError("pickup_point", f"unknown facility code {parcel.pickup_point!r}"))
        elif FacilityKind(kind) is not FacilityKind.PICKUP_POINT:
            errors.append(
                FieldError("pickup_point", f"{parcel.pickup_point} is a {kind}, not a pickup point")
            )
    if parcel.sscc:
        # tracker.epcis links events to parcels by SSCC: one parcel per SSCC.
        holder = conn.scalar(select(Parcel.tracking_number).where(Parcel.sscc == parcel.sscc))
        if holder not in (None, parcel.tracking_number):
            errors.append(FieldError("sscc", f"already the SSCC of parcel {holder}"))
    if errors:
        raise ValidationFailed("the parcel cannot be registered", errors)


def _level_needs(parcel: ParcelIn, level: ServiceLevel) -> list[FieldError]:
    """The fields the level's promise needs that the registration lacks (no silent "no promise")."""
    given = {
        "ordered_at": parcel.ordered_at,
        "origin_facility": parcel.origin_facility,
        "destination.region": parcel.destination.region,
        "destination.city": parcel.destination.city,
    }
    return [
        FieldError(name, f"required: {why}")
        for name, why in level.requirements().items()
        if given.get(name) is None
    ]


def _registration_columns(parcel: ParcelIn, now: datetime) -> dict[str, Any]:
    dest, who = parcel.destination, parcel.recipient
    return {
        "registered": True,
        "registered_at": now,
        "registration_hash": parcel.registration_hash(),
        "service_level": parcel.service_level,
        "ordered_at": parcel.ordered_at,
        "origin_facility": parcel.origin_facility,
        "dest_lat": dest.lat,
        "dest_lon": dest.lon,
        "dest_region": dest.region,
        "dest_city": dest.city,
        "dest_district": dest.district,
        "dest_postcode": dest.postcode,
        "dest_address": dest.address,
        "recipient_name": who.name,
        "recipient_phone": who.phone,
        "recipient_email": who.email,
        "recipient_language": who.language,
        "customer_tier": parcel.customer_tier,
        "appointment_start": parcel.appointment.start if parcel.appointment else None,
        "appointment_end": parcel.appointment.end if parcel.appointment else None,
        "pickup_point": parcel.pickup_point,
        "perishable_min_c": parcel.perishable.min_c if parcel.perishable else None,
        "perishable_max_c": parcel.perishable.max_c if parcel.perishable else None,
        "weight_kg": parcel.weight_kg,
        "delivery_otp": parcel.delivery_otp,
        "sscc": parcel.sscc,
        "updated_at": now,
    }


def parcel_record(conn: Connection, tracking_number: str, *, zone: tzinfo) -> dict[str, Any]:
    """Everything about a parcel, unmasked (ops), events in ``occurred_at`` order.

    Times are written in ``zone`` (:func:`~tracker.core.timefmt.iso_local`); the
    shape is :class:`tracker.scans.schemas.ParcelRecordOut`, what the view answers.
    """

    def _iso(value: datetime | None) -> str | None:
        return iso_local_or_none(value, zone)

    p = conn.execute(select(Parcel).where(Parcel.tracking_number == tracking_number)).first()
    if p is None:
        raise NotFound(f"no parcel with tracking number {tracking_number}")
    events = conn.execute(select(ScanEvent).where(ScanEvent.parcel_id == p.id)).all()
    facts = {e.event_id: timeline.TimelineEvent(e.event_id, EventType(e.type), e.occurred_at) for e in events}
    ordered = sorted(events, key=lambda e: timeline.event_key(facts[e.event_id]))
    cases = conn.execute(select(Case).where(Case.parcel_id == p.id).order_by(Case.opened_at)).all()
    return {
        "tracking_number": p.tracking_number,
        "merchant": p.merchant_code,
        "registered": p.registered,
        "status": p.status,
        "cancelled_at": _iso(p.cancelled_at),
        **_registered_details(p, _iso),
        "last_event_at": _iso(p.last_event_at),
        "last_facility": p.last_facility,
        "outbound_at": _iso(p.outbound_at),
        "delivered_at": _iso(p.delivered_at),
        "promised_by": _iso(p.promised_by),
        "eta": {"start": _iso(p.eta_start), "end": _iso(p.eta_end)} if p.eta_start else None,
        "events": [_event_dict(e, zone) for e in ordered],
        "cases": [
            {
                "case_id": c.id,
                "type": c.type,
                "state": c.state,
                # Stored with UTC instants inside; answered local, as every time.
                "reasons": [{**r, "detail": localize_text(r["detail"], zone)} for r in c.reasons],
                "opened_at": _iso(c.opened_at),
                "closed_at": _iso(c.closed_at),
            }
            for c in cases
        ],
    }


def _event_dict(e: Any, zone: tzinfo) -> dict[str, Any]:
    def _iso(value: datetime | None) -> str | None:
        return iso_local_or_none(value, zone)

    out = {
        "event_id": e.event_id,
        "type": e.type,
        "occurred_at": _iso(e.occurred_at),
        "received_at": _iso(e.received_at),
        "facility": e.facility_code,
        "courier_id": e.courier_code,
        "lat": e.lat,
        "lon": e.lon,
        "accuracy_m": e.accuracy_m,
        "temperature_c": e.temperature_c,
        "pod": e.pod,
        "damage": e.damage,
        "reason": e.reason,
        "note": e.note,
        "source": e.source,
        # Shown, marked: ops sees what happened; the parcel's state no longer counts it.
        "voided_at": _iso(e.voided_at),
    }
    return {k: v for k, v in out.items() if v is not None}
