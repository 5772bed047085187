"""The tracking page's reads: the facts of one parcel, as :mod:`tracker.tracking.view` wants them.

A store module: every function takes the caller's SQLAlchemy ``Connection``
and never begins, commits or opens anything itself; the transaction belongs
to the views (:mod:`tracker.tracking.http`, :mod:`tracker.tracking.api`,
:mod:`tracker.tracking.pages`), and :mod:`tracker.tracking.feedback` writes
in the same one the facts were read in.

:func:`read_parcel` loads the parcel row, its events with their facilities'
names, and its pickup point into a plain :class:`~tracker.tracking.view.ParcelFacts`;
:func:`tracker.tracking.view.public_view` then builds the customer's view
from it without a database.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from tracker.core.models import Facility, Parcel, ScanEvent
from tracker.core.vocabulary import EventType, ParcelStatus
from tracker.tracking.view import ParcelFacts, PickupPoint, TrackedEvent


def read_parcel(conn: Connection, tracking_number: str) -> ParcelFacts | None:
    """The facts for one tracking number (as typed, or upper-cased), or None."""
    candidates = {tracking_number, tracking_number.upper()}
    p = conn.execute(select(Parcel).where(Parcel.tracking_number.in_(candidates))).first()
    if p is None:
        return None
    rows = conn.execute(
        select(
            ScanEvent.event_id,
            ScanEvent.type,
            ScanEvent.occurred_at,
            ScanEvent.received_at,
            ScanEvent.facility_code,
            Facility.name,
            ScanEvent.courier_code,
            ScanEvent.reason,
            ScanEvent.pod,
        )
        .outerjoin(Facility, Facility.code == ScanEvent.facility_code)
        .where(ScanEvent.parcel_id == p.id)
    ).all()
    events = sorted(
        (
            TrackedEvent(
                r.event_id,
                EventType(r.type),
                r.occurred_at,
                r.received_at,
                r.facility_code,
                r.name,
                r.courier_code,
                r.reason,
                (r.pod or {}).get("relation"),
            )
            for r in rows
        ),
        key=TrackedEvent.key,
    )
    pickup = _pickup_point(conn, p.pickup_point, events)
    return ParcelFacts(
        id=p.id,
        tracking_number=p.tracking_number,
        registered=p.registered,
        status=ParcelStatus(p.status),
        service_level=p.service_level,
        recipient_name=p.recipient_name,
        recipient_phone=p.recipient_phone,
        dest_city=p.dest_city,
        dest_district=p.dest_district,
        dest_address=p.dest_address,
        pickup_point=pickup,
        promised_by=p.promised_by,
        eta_start=p.eta_start,
        eta_end=p.eta_end,
        appointment_start=p.appointment_start,
        appointment_end=p.appointment_end,
        delivered_at=p.delivered_at,
        ready_for_pickup_at=p.ready_for_pickup_at,
        updated_at=p.updated_at,
        events=tuple(events),
    )


def _pickup_point(conn: Connection, code: str | None, events: list[TrackedEvent]) -> PickupPoint | None:
    # The registered pickup point, else wherever the network made it ready.
    if code is None:
        ready = [e.facility_code for e in events if e.type is EventType.READY_FOR_PICKUP and e.facility_code]
        code = ready[-1] if ready else None
    if code is None:
        return None
    f = conn.execute(
        select(Facility.code, Facility.name, Facility.address, Facility.opening_hours).where(
            Facility.code == code
        )
    ).first()
    return PickupPoint(f.code, f.name, f.address, f.opening_hours) if f else None
