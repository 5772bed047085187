"""What captured EPCIS events do to parcels: links, scans, and error declarations (store).

Takes the caller's ``Connection``; never begins or commits.

Linking (:func:`links_of_events`): an event names a parcel when one of its
identifiers (``epcList``, ``childEPCs``, ``parentID``, ``inputEPCList``,
``outputEPCList``) is an SSCC, as an EPC URN or a GS1 Digital Link, that is
the parcel's registered ``sscc`` or its tracking number; and through
aggregation: an identifier that is a pallet (a parent of AggregationEvents)
names every parcel aggregated on it at the event's time
(:func:`tracker.epcis.store.aggregated_on`).

Scans (:func:`scan_candidates`): a linked ``ObjectEvent`` (action OBSERVE or
ADD) becomes one scan per parcel, typed by :func:`tracker.epcis.cbv.scan_meaning`,
at the facility its business location (else read point) maps to, with the
temperature :func:`tracker.epcis.sensors.scan_temperature` picks. The scans
are validated by the scan API's own schema and stored by
:func:`tracker.scans.ingest.store_scans`: the same rules, idempotency and
parcel state as every other scan. A derived scan's ``event_id`` is
``epcis-`` and a hash of the EPCIS event id and the tracking number, so a
capture sent again derives the same scans (``duplicate``).

Error declarations (:func:`void_and_rederive`): the event stays; its links
and the scans they derived are marked void (``voided_at`` on both, in the
declaration's transaction), and each parcel it touched has its state derived
again from its scans without the voided ones
(:func:`tracker.scans.timeline.derive` from the start, the promise with
:func:`tracker.scans.promises.promise`). Scan rows are append-only and stay:
``scan_events.voided_at`` is what says they no longer count, for every reader
(the ops parcel record still shows them, marked). A voided scan sent again is
still a duplicate (ingest's idempotency is by ``event_id``). The corrective
events are ordinary events: captured, they derive their own scans.

Sensor readings (:func:`readings_due`): a linked event's temperature
readings are evidence for the cold-chain detector whether or not the event
derives a scan (``sensor_reporting`` derives none), so the parcels they
belong to are marked due for the sweep, as ingest marks parcels with news.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Connection, select, update

from tracker.core.models import Parcel, ScanEvent
from tracker.epcis import cbv, sensors, store
from tracker.epcis.document import EpcisEvent, parse_time
from tracker.epcis.identifiers import canonical
from tracker.scans import promises, timeline
from tracker.scans.ingest import STATE_COLUMNS, IngestPolicy, journey_of
from tracker.scans.schemas import RejectedEvent, ScanEventIn, TolerantScanEvent
from tracker.scans.state import state_columns

_SCAN = TypeAdapter(TolerantScanEvent)
#: What a scan's temperature_c takes (tracker.scans.schemas.ScanEventIn).
SCAN_TEMPERATURE_RANGE = (-80.0, 80.0)
#: Actions whose ObjectEvents derive scans (DELETE: the object ceased to exist or was decommissioned).
SCAN_ACTIONS = frozenset({"OBSERVE", "ADD"})


@dataclass
class Link:
    parcel: store.ParcelRef
    via: str


def links_of_events(conn: Connection, events: Sequence[EpcisEvent]) -> list[list[Link]]:
    """The parcels each event names, directly or through a pallet (see the module doc).

    Direct links cost one query for the whole document; a pallet costs a
    query per event that names it (:func:`tracker.epcis.store.aggregated_on`).
    """
    named = {epc for event in events for epc, _ in event.epcs}
    direct = store.ssccs_in(named)
    parcels = store.parcels_by_sscc(conn, set(direct.values()))
    pallets = store.pallets_among(conn, [e for e in named if direct.get(e) not in parcels])
    out = []
    for event in events:
        found: dict[int, Link] = {}
        for epc, _ in event.epcs:
            sscc = direct.get(epc)
            if sscc in parcels:
                found.setdefault(parcels[sscc].parcel_id, Link(parcels[sscc], epc))  # type: ignore[index]
            elif canonical(epc) in pallets:
                # (An AggregationEvent's own children are the parcels themselves: found above.)
                members = store.ssccs_in(store.aggregated_on(conn, epc, event.event_time))
                inner = store.parcels_by_sscc(conn, set(members.values()))
                for member in members.values():
                    if member in inner:
                        found.setdefault(inner[member].parcel_id, Link(inner[member], epc))
        out.append(list(found.values()))
    return out


def scan_event_id(event_id: str, tracking_number: str) -> str:
    digest = hashlib.sha256(f"{event_id}\n{tracking_number}".encode()).hexdigest()
    return f"epcis-{digest[:40]}"


@dataclass
class Candidate:
    """A scan derived from one event for one parcel (validated, or rejected with its fields)."""

    scan: ScanEventIn | RejectedEvent
    event_index: int
    link: Link
    #: A temperature outside what a scan takes, kept only as a reading.
    notes: list[str] = field(default_factory=list)


def scan_candidates(
    event: EpcisEvent,
    index: int,
    links: Sequence[Link],
    facility: str | None,
    readings: Sequence[sensors.Reading],
) -> tuple[list[Candidate], str | None]:
    """The scans ``event`` derives for its linked parcels, or why it derives none."""
    if event.event_type != "ObjectEvent":
        return [], f"only ObjectEvents derive scans (this is an {event.event_type})"
    if event.action not in SCAN_ACTIONS:
        return [], f"action {event.action} derives no scan"
    out = []
    reason = None
    for found in links:
        parcel = found.parcel
        at_origin = facility is not None and facility == parcel.origin_facility
        meaning = cbv.scan_meaning(event.biz_step, event.disposition, at_origin=at_origin)
        if meaning is None:
            reason = (
                f"bizStep {event.biz_step or '-'} / disposition {event.disposition or '-'} "
                "has no scan type (tracker.epcis.cbv)"
            )
            continue
        notes = []
        temperature = sensors.scan_temperature(list(readings), parcel.perishable)
        low, high = SCAN_TEMPERATURE_RANGE
        if temperature is not None and not low <= temperature <= high:
            notes.append(
                f"temperature {temperature:g} °C is outside what a scan takes; kept as a reading only"
            )
            temperature = None
        raw: dict[str, Any] = {
            "event_id": scan_event_id(event.event_id, parcel.tracking_number),
            "tracking_number": parcel.tracking_number,
            "type": meaning.type.value,
            "occurred_at": event.event_time.isoformat(),
            "facility": facility,
            "temperature_c": temperature,
            "reason": meaning.reason.value if meaning.reason else None,
            "note": f"EPCIS {event.event_type} {event.biz_step or ''} {event.event_id}"[:1000],
        }
        if meaning.damage_severity:
            raw["damage"] = {
                "severity": meaning.damage_severity,
                "description": f"EPCIS disposition {event.disposition}",
            }
        out.append(
            Candidate(
                _SCAN.validate_python({k: v for k, v in raw.items() if v is not None}), index, found, notes
            )
        )
    return out, (reason if not out else None)


def void_and_rederive(
    conn: Connection, event_pks: Sequence[int], *, now: datetime, policy: IngestPolicy
) -> dict[int, list[str]]:
    """Void the links of erroneous events and derive their parcels' state again.

    Answers event pk -> the scan ids voided.
    """
    voided: dict[int, list[str]] = {}
    parcels: set[int] = set()
    for pk in event_pks:
        for parcel_id, scan_id in store.void_links(conn, pk, now):
            parcels.add(parcel_id)
            if scan_id:
                voided.setdefault(pk, []).append(scan_id)
    rederive(conn, sorted(parcels), now=now, policy=policy)
    return voided


def rederive(conn: Connection, parcel_ids: Sequence[int], *, now: datetime, policy: IngestPolicy) -> None:
    """Each parcel's state from all its scans but those voided by error declarations."""
    if not parcel_ids:
        return
    rows = {
        r.id: r
        for r in conn.execute(
            select(*STATE_COLUMNS).where(Parcel.id.in_(parcel_ids)).order_by(Parcel.id).with_for_update()
        )
    }
    scans: dict[int, list[timeline.TimelineEvent]] = {p: [] for p in parcel_ids}
    query = select(
        ScanEvent.parcel_id,
        ScanEvent.event_id,
        ScanEvent.type,
        ScanEvent.occurred_at,
        ScanEvent.facility_code,
        ScanEvent.lat,
        ScanEvent.lon,
    ).where(ScanEvent.parcel_id.in_(parcel_ids), ScanEvent.voided_at.is_(None))
    for r in conn.execute(query):
        scans[r.parcel_id].append(
            timeline.TimelineEvent(r.event_id, r.type, r.occurred_at, r.facility_code, r.lat, r.lon)
        )
    for parcel_id, row in rows.items():
        state = timeline.derive(scans[parcel_id])
        promised_by = (
            promises.promise(policy.levels, journey_of(conn, row, policy.directory), state)
            if row.registered
            else None
        )
        conn.execute(
            update(Parcel)
            .where(Parcel.id == parcel_id)
            .values(**state_columns(state), promised_by=promised_by, next_check_at=now, updated_at=now)
        )


def readings_due(
    conn: Connection, found: Sequence[tuple[Sequence[sensors.Reading], Sequence[Link]]], *, now: datetime
) -> None:
    """Mark due the parcels linked to events with temperature readings (see the module doc).

    ``found``: (an event's readings, its links) pairs, for the events that count
    (not declared erroneous).
    """
    store.mark_due(
        conn,
        (
            link.parcel.parcel_id
            for readings, links in found
            if any(r.temperatures_c for r in readings)
            for link in links
        ),
        now,
    )


def declaration_time(event: EpcisEvent) -> datetime | None:
    return parse_time((event.error_declaration or {}).get("declarationTime"))
