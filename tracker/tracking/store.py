"""The tracking page's reads: the facts of one parcel, as :mod:`tracker.tracking.view` wants them.

A store module: every function takes the caller's SQLAlchemy ``Connection``
(:func:`read_parcel` also what a routed read is given, which is on a
connection the request thread keeps) and never begins, commits or opens
anything itself; the transaction belongs
to the views (:mod:`tracker.tracking.http`, :mod:`tracker.tracking.api`,
:mod:`tracker.tracking.pages`), and :mod:`tracker.tracking.feedback` writes
in the same one the facts were read in.

:func:`read_parcel` loads the parcel row, its events with their facilities'
names, and its pickup point into a plain :class:`~tracker.tracking.view.ParcelFacts`;
:func:`tracker.tracking.view.public_view` then builds the customer's view
from it without a database.

**One statement per read.** The tracking read is the most frequent request
the service answers, so the facts come back in one round trip, as one JSON
document built by the database: the parcel row (by its unique tracking
number), its registered pickup point and the one the customer asked to
hold it at (joins), and its events (a correlated
subquery over ``ix_scan_events_parcel_id_occurred_at``, each event joined to
its facility's name, and whether an ``at_risk`` case is open (over
``ix_cases_parcel_id``); the facility's address and hours ride along on
``ready_for_pickup`` events, for a parcel the network made ready at a pickup
point it was not registered to). One text column is the cheapest thing for
the driver to hand over, and orjson parses it in C. The statement text is
constant, so PostgreSQL's driver prepares it once per connection and the
server plans it once. It is sent through the driver's cursor (see
:class:`tracker.core.replicas.OneStatement`: the public read on a
connection its thread keeps, the writes in their transaction). The events
are put in the timeline's order here, in Python, by
:func:`tracker.scans.timeline.event_key` (the one definition of that
order), not by the database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from tracker.core.replicas import OnConnection, OneStatement
from tracker.core.vocabulary import EVENT_TYPES, STATUSES, EventType
from tracker.tracking.view import ParcelFacts, PickupPoint, TrackedEvent

#: The facts as one JSON array (see :func:`_facts`); each event an array of
#: :data:`_EVENT_FIELDS`, whose facility address and hours are only set on ``ready_for_pickup``.
_PARCEL_FIELDS = (
    "p.id, p.tracking_number, p.registered, p.status, p.service_level, "
    "p.recipient_name, p.recipient_phone, p.dest_city, p.dest_district, p.dest_address, "
    "p.promised_by, p.eta_start, p.eta_end, p.appointment_start, p.appointment_end, "
    "p.delivered_at, p.ready_for_pickup_at, p.updated_at, "
    "p.pickup_point, pp.name, pp.address, pp.opening_hours, p.eta_source, "
    "(SELECT count(*) FROM cases c WHERE c.parcel_id = p.id AND c.type = 'at_risk' "
    "AND c.state <> 'resolved'), "
    "p.pickup_code, p.hold_at, hp.name"
)
_EVENT_FIELDS = (
    "e.event_id, e.type, e.occurred_at, e.received_at, e.facility_code, f.name, e.courier_code, e.reason, "
    "{relation}, "
    "CASE WHEN e.type = 'ready_for_pickup' THEN f.address END, "
    "CASE WHEN e.type = 'ready_for_pickup' THEN f.opening_hours END"
)
_SQL = """
SELECT {array}({parcel}, {events_of}((SELECT {agg}({array}({event}))
          FROM scan_events e LEFT JOIN facilities f ON f.code = e.facility_code
         WHERE e.parcel_id = p.id AND e.voided_at IS NULL))){text}
  FROM parcels p LEFT JOIN facilities pp ON pp.code = p.pickup_point
       LEFT JOIN facilities hp ON hp.code = p.hold_at
 WHERE p.tracking_number = {number}
"""
#: The statement's text per database, constant: the driver prepares it, the server plans it once.
#: PostgreSQL's json_agg is NULL without rows; SQLite's json_group_array is ``[]``, and its
#: text only stays JSON inside the outer array through json().
STATEMENTS = {
    "postgresql": _SQL.format(
        array="json_build_array",
        agg="json_agg",
        events_of="",
        text="::text",
        parcel=_PARCEL_FIELDS,
        event=_EVENT_FIELDS.format(relation="e.pod ->> 'relation'"),
        number="%(number)s",
    ),
    "sqlite": _SQL.format(
        array="json_array",
        agg="json_group_array",
        events_of="json",
        text="",
        parcel=_PARCEL_FIELDS,
        event=_EVENT_FIELDS.format(relation="json_extract(e.pod, '$.relation')"),
        number=":number",
    ),
}


def read_parcel(conn: Connection | OneStatement, tracking_number: str) -> ParcelFacts | None:
    """The facts for one tracking number (as typed, else upper-cased), or None.

    ``conn``: a SQLAlchemy connection (the read is in its transaction), or what
    :meth:`tracker.core.replicas.ReadRouter.run` gives a routed read.
    One statement for a number found as typed (the common case: numbers are
    printed and linked as the network spells them), a second one only for a
    number typed in lower case: one equality on the unique index, where
    ``IN (typed, upper)`` needed an ``ORDER BY`` to prefer the typed one (a
    sort node on every read).
    """
    reader = OnConnection(conn) if isinstance(conn, Connection) else conn
    statement = STATEMENTS[reader.dialect_name]
    found = reader.first(statement, {"number": tracking_number})
    if found is None:
        upper = tracking_number.upper()
        if upper != tracking_number:
            found = reader.first(statement, {"number": upper})
    return _facts(orjson.loads(found)) if found is not None else None


def _facts(p: list[Any]) -> ParcelFacts:
    (
        id_, tracking_number, registered, status, service_level,
        recipient_name, recipient_phone, dest_city, dest_district, dest_address,
        promised_by, eta_start, eta_end, appointment_start, appointment_end,
        delivered_at, ready_for_pickup_at, updated_at,
        pickup_code, pickup_name, pickup_address, pickup_hours, eta_source, at_risk_cases,
        code_to_collect, hold_at, hold_name, raw_events,
    ) = p  # fmt: skip
    unordered, ready = _events(raw_events)
    events = sorted(unordered, key=TrackedEvent.key)
    pickup = PickupPoint(pickup_code, pickup_name, pickup_address, pickup_hours) if pickup_code else None
    return ParcelFacts(
        id=id_,
        tracking_number=tracking_number,
        registered=bool(registered),
        status=STATUSES[status],
        service_level=service_level,
        recipient_name=recipient_name,
        recipient_phone=recipient_phone,
        dest_city=dest_city,
        dest_district=dest_district,
        dest_address=dest_address,
        pickup_point=pickup or _ready_at(events, ready),
        promised_by=_utc_or_none(promised_by),
        eta_start=_utc_or_none(eta_start),
        eta_end=_utc_or_none(eta_end),
        appointment_start=_utc_or_none(appointment_start),
        appointment_end=_utc_or_none(appointment_end),
        delivered_at=_utc_or_none(delivered_at),
        ready_for_pickup_at=_utc_or_none(ready_for_pickup_at),
        updated_at=_utc(updated_at),
        events=tuple(events),
        eta_source=eta_source,
        at_risk_case=bool(at_risk_cases),
        pickup_code=code_to_collect,
        hold_at=PickupPoint(hold_at, hold_name, None, None) if hold_at else None,
    )


#: A ``ready_for_pickup`` event's facility address and opening hours, by event id.
_Details = dict[str, tuple[str | None, str | None]]


def _events(raw: list[list[Any]] | None) -> tuple[list[TrackedEvent], _Details]:
    events, ready = [], {}
    for event_id, type_, occurred, received, facility, name, courier, reason, relation, *details in raw or ():
        kind = EVENT_TYPES[type_]
        events.append(
            TrackedEvent(
                event_id,
                kind,
                _utc(occurred),
                _utc(received),
                facility,
                name,
                courier,
                reason,
                relation if isinstance(relation, str) else None,
            )
        )
        if kind is EventType.READY_FOR_PICKUP:
            ready[event_id] = (details[0], details[1])
    return events, ready


def _utc(value: str) -> datetime:
    # PostgreSQL's JSON spells a timestamptz with its offset (the session's zone is UTC),
    # SQLite's the UTC wall time without one: aware UTC either way, as UTCDateTime reads them.
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _utc_or_none(value: str | None) -> datetime | None:
    return None if value is None else _utc(value)


def _ready_at(events: list[TrackedEvent], ready: _Details) -> PickupPoint | None:
    # No registered pickup point: wherever the network last made the parcel ready, if anywhere.
    for e in reversed(events):
        if e.type is EventType.READY_FOR_PICKUP and e.facility_code:
            if e.facility_name is None:  # a code without a facility row: no details to show
                return None
            address, hours = ready[e.event_id]
            return PickupPoint(e.facility_code, e.facility_name, address, hours)
    return None
