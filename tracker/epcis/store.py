"""EPCIS rows: events as received, their identifiers, parcel links, readings, locations (store).

Takes the caller's ``Connection``; never begins or commits. What an event
means is decided by the pure modules (:mod:`tracker.epcis.document`,
:mod:`tracker.epcis.cbv`, :mod:`tracker.epcis.sensors`,
:mod:`tracker.epcis.identifiers`); here they become rows, and rows become
answers again.

Idempotency comes from the schema, as for scans: ``epcis_events.event_id`` is
unique (the eventID, or the canonical hash of an event without one), and a
stored event is told from a conflicting one by its canonical hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, or_, select, update

from tracker.core.models import (
    EpcisEvent as EventRow,
)
from tracker.core.models import (
    EpcisEventEpc,
    EpcisLocation,
    EpcisParcelLink,
    EpcisReading,
    Facility,
    Parcel,
    ScanEvent,
)
from tracker.epcis import cbv
from tracker.epcis.document import EpcisEvent, parse_time
from tracker.epcis.identifiers import canonical, gln_of, location_key, sscc_of
from tracker.epcis.query import EventFilter
from tracker.epcis.sensors import Reading


@dataclass(frozen=True)
class StoredEvent:
    pk: int
    event_hash: str
    declared: bool


def stored_events(conn: Connection, event_ids: Iterable[str]) -> dict[str, StoredEvent]:
    ids = list(set(event_ids))
    found: dict[str, StoredEvent] = {}
    for chunk in _chunks(ids, 500):
        query = select(EventRow.event_id, EventRow.id, EventRow.event_hash, EventRow.error_declared_at).where(
            EventRow.event_id.in_(chunk)
        )
        for event_id, pk, digest, declared in conn.execute(query):
            found[event_id] = StoredEvent(pk, digest, declared is not None)
    return found


def insert_events(
    conn: Connection,
    events: Sequence[EpcisEvent],
    *,
    facilities: Sequence[str | None],
    capture_id: str,
    now: datetime,
) -> list[int]:
    """Store ``events`` as received, with their identifiers; their primary keys, in order."""
    if not events:
        return []
    rows = []
    for event, facility in zip(events, facilities, strict=True):
        declaration = event.error_declaration
        rows.append(
            {
                "event_id": event.event_id,
                "event_hash": event.event_hash,
                "event_type": event.event_type,
                "event_time": event.event_time,
                "record_time": now,
                "action": event.action,
                # Bare CBV words, so that EQ_bizStep=shipping finds every spelling of it.
                "biz_step": cbv.bare("bizStep", event.biz_step),
                "disposition": cbv.bare("disposition", event.disposition),
                "read_point": event.read_point,
                "biz_location": event.biz_location,
                "facility_code": facility,
                "capture_id": capture_id,
                "document": event.raw,
                "error_declared_at": parse_time(declaration.get("declarationTime")) if declaration else None,
                "error_declaration": declaration,
            }
        )
    # One INSERT ... RETURNING for the lot ("insertmanyvalues"), ids in the order sent.
    pks = list(conn.scalars(insert(EventRow).returning(EventRow.id, sort_by_parameter_order=True), rows))
    epcs = [
        {"event_pk": pk, "epc": epc, "role": role, "canonical": canonical(epc)}
        for pk, event in zip(pks, events, strict=True)
        for epc, role in event.epcs
    ]
    if epcs:
        conn.execute(insert(EpcisEventEpc), epcs)
    return pks


def declare_erroneous(conn: Connection, pk: int, declaration: dict[str, Any]) -> None:
    """Mark a stored event erroneous (EPCIS 2.0 section 7.4.1.2); its row and document stay."""
    conn.execute(
        update(EventRow)
        .where(EventRow.id == pk, EventRow.error_declared_at.is_(None))
        .values(
            error_declared_at=parse_time(declaration.get("declarationTime")), error_declaration=declaration
        )
    )


def insert_readings(conn: Connection, found: Sequence[tuple[int, Sequence[Reading]]]) -> None:
    """Every reading of every event: (event pk, its readings) pairs."""
    rows = [
        {
            "event_pk": pk,
            "measurement_type": r.measurement_type,
            "observed_at": r.observed_at,
            "uom": r.uom,
            "value": r.value,
            "min_value": r.min_value,
            "max_value": r.max_value,
            "mean_value": r.mean_value,
            "other_value": r.other_value,
            "device_id": r.device_id,
            "temperature_c": r.temperature_c if r.temperature_c is not None else r.temperature_max_c,
            "temperature_min_c": r.temperature_min_c,
            "temperature_max_c": r.temperature_max_c,
        }
        for pk, readings in found
        for r in readings
    ]
    if rows:
        conn.execute(insert(EpcisReading), rows)


# -- locations --------------------------------------------------------------------------


def facilities_of(conn: Connection, locations: Iterable[str | None]) -> dict[str, str]:
    """Location URI -> facility code, for the locations that map to one.

    A configured mapping (``epcis_locations``) wins; else a facility whose
    code is the location's GLN (an SGLN with extension 0, or a Digital Link
    ``/414/<gln>``): a network may simply name its facilities by GLN.
    """
    wanted = {uri: location_key(uri) for uri in locations if uri}
    if not wanted:
        return {}
    mapped = dict(
        conn.execute(
            select(EpcisLocation.location, EpcisLocation.facility_code).where(
                EpcisLocation.location.in_(set(wanted.values()))
            )
        ).all()
    )
    glns = {uri: gln_of(uri) for uri in wanted}
    known = set(conn.scalars(select(Facility.code).where(Facility.code.in_({g for g in glns.values() if g}))))
    out = {}
    for uri, key in wanted.items():
        if key in mapped:
            out[uri] = mapped[key]
        elif glns[uri] in known:
            out[uri] = glns[uri]  # type: ignore[assignment]
    return out


def map_location(conn: Connection, location: str, facility: str, now: datetime) -> bool:
    """Map a location to a facility (replacing an earlier mapping); True if it was new."""
    key = location_key(location)
    existing = conn.scalar(select(EpcisLocation.facility_code).where(EpcisLocation.location == key))
    if existing is None:
        conn.execute(insert(EpcisLocation).values(location=key, facility_code=facility, created_at=now))
        return True
    conn.execute(update(EpcisLocation).where(EpcisLocation.location == key).values(facility_code=facility))
    return False


# -- parcels ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParcelRef:
    parcel_id: int
    tracking_number: str
    origin_facility: str | None
    perishable: tuple[float, float] | None


def parcels_by_sscc(conn: Connection, ssccs: Iterable[str]) -> dict[str, ParcelRef]:
    """SSCC -> parcel, matching a registered ``sscc`` or a tracking number that is the SSCC."""
    wanted = set(ssccs)
    if not wanted:
        return {}
    out: dict[str, ParcelRef] = {}
    for chunk in _chunks(sorted(wanted), 500):
        _parcels_by_sscc(conn, set(chunk), out)
    return out


def _parcels_by_sscc(conn: Connection, wanted: set[str], out: dict[str, ParcelRef]) -> None:
    rows = conn.execute(
        select(
            Parcel.id,
            Parcel.tracking_number,
            Parcel.sscc,
            Parcel.origin_facility,
            Parcel.perishable_min_c,
            Parcel.perishable_max_c,
        ).where(or_(Parcel.sscc.in_(wanted), Parcel.tracking_number.in_(wanted)))
    )
    for row in rows:
        perishable = (
            (row.perishable_min_c, row.perishable_max_c)
            if row.perishable_min_c is not None and row.perishable_max_c is not None
            else None
        )
        ref = ParcelRef(row.id, row.tracking_number, row.origin_facility, perishable)
        # A registered SSCC wins over a tracking number that happens to equal another parcel's SSCC.
        if row.sscc in wanted:
            out[row.sscc] = ref
        if row.tracking_number in wanted:
            out.setdefault(row.tracking_number, ref)


def aggregated_on(conn: Connection, parent: str, at: datetime) -> list[str]:
    """The children (as written) aggregated on ``parent`` as of ``at``.

    Folds the AggregationEvents naming ``parent`` (any spelling) that
    happened up to ``at`` and were not declared erroneous, in event-time order: ADD
    adds its children, DELETE removes its children (all of them when it lists
    none). Captured later than a pallet's own event, an aggregation does not
    reach back to it (the link is made when the pallet's event is captured).
    """
    key = canonical(parent)
    parents = (
        select(EpcisEventEpc.event_pk)
        .where(EpcisEventEpc.canonical == key, EpcisEventEpc.role == "parent")
        .scalar_subquery()
    )
    events = conn.execute(
        select(EventRow.id, EventRow.action)
        .where(
            EventRow.id.in_(parents),
            EventRow.event_type == "AggregationEvent",
            EventRow.event_time <= at,
            EventRow.error_declared_at.is_(None),
        )
        .order_by(EventRow.event_time, EventRow.id)
    ).all()
    if not events:
        return []
    children: dict[int, list[str]] = {}
    for pk, epc in conn.execute(
        select(EpcisEventEpc.event_pk, EpcisEventEpc.epc).where(
            EpcisEventEpc.event_pk.in_([pk for pk, _ in events]), EpcisEventEpc.role == "child"
        )
    ):
        children.setdefault(pk, []).append(epc)
    members: dict[str, str] = {}
    for pk, action in events:
        listed = children.get(pk, [])
        if action == "ADD":
            members.update((canonical(c), c) for c in listed)
        elif action == "DELETE":
            if listed:
                for c in listed:
                    members.pop(canonical(c), None)
            else:
                members.clear()
    return list(members.values())


def ssccs_in(epcs: Iterable[str]) -> dict[str, str]:
    """EPC -> SSCC for the EPCs that name an SSCC."""
    return {epc: s for epc in epcs if (s := sscc_of(epc)) is not None}


def insert_links(conn: Connection, links: Sequence[tuple[int, int, str, str | None]]) -> None:
    """(event pk, parcel id, the identifier that led there, derived scan id) rows."""
    if links:
        conn.execute(
            insert(EpcisParcelLink),
            [{"event_pk": e, "parcel_id": p, "via": via, "scan_event_id": scan} for e, p, via, scan in links],
        )


def pallets_among(conn: Connection, epcs: Iterable[str]) -> set[str]:
    """The canonical identifiers among ``epcs`` that are the parent of some stored aggregation."""
    keys = {canonical(e) for e in epcs}
    found: set[str] = set()
    for chunk in _chunks(sorted(keys), 500):
        found.update(
            conn.scalars(
                select(EpcisEventEpc.canonical)
                .where(EpcisEventEpc.canonical.in_(chunk), EpcisEventEpc.role == "parent")
                .distinct()
            )
        )
    return found


def void_links(conn: Connection, pk: int, now: datetime) -> list[tuple[int, str | None]]:
    """Mark the links of an erroneous event void, and the scans they derived; (parcel id, scan id) of each.

    The scan rows stay (append-only) with ``voided_at`` set: that mark, not
    this table, is what every reader of ``scan_events`` skips.
    """
    rows = conn.execute(
        select(EpcisParcelLink.parcel_id, EpcisParcelLink.scan_event_id).where(
            EpcisParcelLink.event_pk == pk, EpcisParcelLink.voided_at.is_(None)
        )
    ).all()
    conn.execute(
        update(EpcisParcelLink)
        .where(EpcisParcelLink.event_pk == pk, EpcisParcelLink.voided_at.is_(None))
        .values(voided_at=now)
    )
    scans = [r.scan_event_id for r in rows if r.scan_event_id]
    if scans:
        conn.execute(
            update(ScanEvent)
            .where(ScanEvent.event_id.in_(scans), ScanEvent.voided_at.is_(None))
            .values(voided_at=now)
        )
    return [(r.parcel_id, r.scan_event_id) for r in rows]


def mark_due(conn: Connection, parcel_ids: Iterable[int], now: datetime) -> None:
    """Have the sweep judge these parcels now (news for the detectors: a sensor reading).

    Only ever earlier: a parcel already due sooner keeps its time.
    """
    ids = sorted(set(parcel_ids))
    if ids:
        conn.execute(
            update(Parcel)
            .where(Parcel.id.in_(ids), or_(Parcel.next_check_at.is_(None), Parcel.next_check_at > now))
            .values(next_check_at=now)
        )


# -- reading events back ------------------------------------------------------------------

EVENT_COLUMNS = (
    EventRow.id,
    EventRow.event_id,
    EventRow.event_time,
    EventRow.record_time,
    EventRow.document,
    EventRow.error_declaration,
)


def find_events(conn: Connection, flt: EventFilter, limit: int) -> list[Any]:
    """Events matching ``flt`` in (eventTime, id) order after its cursor; at most ``limit``."""
    query = select(*EVENT_COLUMNS)
    conditions = []
    if flt.event_types:
        conditions.append(EventRow.event_type.in_(flt.event_types))
    if flt.ge_event_time is not None:
        conditions.append(EventRow.event_time >= flt.ge_event_time)
    if flt.lt_event_time is not None:
        conditions.append(EventRow.event_time < flt.lt_event_time)
    if flt.biz_steps:
        conditions.append(EventRow.biz_step.in_([cbv.bare("bizStep", s) for s in flt.biz_steps]))
    if flt.dispositions:
        conditions.append(EventRow.disposition.in_([cbv.bare("disposition", d) for d in flt.dispositions]))
    if flt.biz_locations:
        conditions.append(EventRow.biz_location.in_(flt.biz_locations))
    for values, roles in (
        (flt.match_epc, ("epc", "child")),
        (flt.match_any_epc, ("epc", "child", "parent", "input", "output")),
    ):
        if values:
            conditions.append(
                EventRow.id.in_(
                    select(EpcisEventEpc.event_pk).where(
                        EpcisEventEpc.canonical.in_([canonical(v) for v in values]),
                        EpcisEventEpc.role.in_(roles),
                    )
                )
            )
    if flt.after is not None:
        at, pk = flt.after
        conditions.append(or_(EventRow.event_time > at, and_(EventRow.event_time == at, EventRow.id > pk)))
    query = query.where(*conditions).order_by(EventRow.event_time, EventRow.id).limit(limit)
    return list(conn.execute(query))


def parcel_events(conn: Connection, parcel_id: int, limit: int) -> list[Any]:
    """Every event linked to a parcel, erroneous ones included, in (eventTime, id) order."""
    linked = select(EpcisParcelLink.event_pk).where(EpcisParcelLink.parcel_id == parcel_id)
    return list(
        conn.execute(
            select(*EVENT_COLUMNS)
            .where(EventRow.id.in_(linked))
            .order_by(EventRow.event_time, EventRow.id)
            .limit(limit)
        )
    )


def parcel_id_of(conn: Connection, tracking_number: str) -> int | None:
    return conn.scalar(select(Parcel.id).where(Parcel.tracking_number == tracking_number))


def find_readings(
    conn: Connection,
    *,
    measurement_type: str | None,
    parcel_id: int | None,
    unlinked: bool,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Any]:
    """Readings in (observed_at, id) order, with their event's id and the parcels it is linked to."""
    query = select(
        EpcisReading.id,
        EpcisReading.measurement_type,
        EpcisReading.observed_at,
        EpcisReading.uom,
        EpcisReading.value,
        EpcisReading.min_value,
        EpcisReading.max_value,
        EpcisReading.mean_value,
        EpcisReading.other_value,
        EpcisReading.device_id,
        EpcisReading.temperature_c,
        EpcisReading.event_pk,
        EventRow.event_id,
        EventRow.error_declared_at,
    ).join(EventRow, EventRow.id == EpcisReading.event_pk)
    conditions = []
    if measurement_type:
        conditions.append(EpcisReading.measurement_type == measurement_type)
    links = select(EpcisParcelLink.event_pk)
    if parcel_id is not None:
        conditions.append(EpcisReading.event_pk.in_(links.where(EpcisParcelLink.parcel_id == parcel_id)))
    if unlinked:
        conditions.append(EpcisReading.event_pk.not_in(links))
    if after is not None:
        at, pk = after
        conditions.append(
            or_(EpcisReading.observed_at > at, and_(EpcisReading.observed_at == at, EpcisReading.id > pk))
        )
    return list(
        conn.execute(
            query.where(*conditions).order_by(EpcisReading.observed_at, EpcisReading.id).limit(limit)
        )
    )


def tracking_numbers_of(conn: Connection, event_pks: Sequence[int]) -> dict[int, list[str]]:
    """Event pk -> the tracking numbers it is linked to (voided links included)."""
    out: dict[int, list[str]] = {}
    if not event_pks:
        return out
    rows = conn.execute(
        select(EpcisParcelLink.event_pk, Parcel.tracking_number)
        .join(Parcel, Parcel.id == EpcisParcelLink.parcel_id)
        .where(EpcisParcelLink.event_pk.in_(set(event_pks)))
        .order_by(Parcel.tracking_number)
    )
    for pk, number in rows:
        out.setdefault(pk, []).append(number)
    return out


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
