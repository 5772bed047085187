"""Detection in the service: judge a chunk of due parcels and keep their cases.

The sweep claims parcels whose ``next_check_at`` has come and calls
:func:`evaluate_parcels` inside its transaction. For one chunk of parcels:

1. Load their scans and their customers' reports (two queries) and keep only
   the parcels with something to judge: a delivered, collected or damage
   scan, a temperature reading, or a report. The rest cost nothing more.
2. Load what judging needs, in bulk: the parcels' registrations, the
   network, their detection cases (live and resolved), and, for every
   courier who handed one of them over, the courier's scans around those
   handovers with the handover point of each parcel scanned (one query for
   all couriers).
3. Judge each parcel with the pure detectors: every handover scan is scored
   (:func:`~tracker.detection.fake_delivery.score_delivery`; the worst
   verdict speaks for the parcel), damage is attributed
   (:func:`~tracker.detection.damage.attribute_damage`), readings are checked
   against the perishable range (:func:`~tracker.detection.cold_chain.find_excursion`).
4. Keep the cases with :mod:`tracker.cases.store` (see "Re-scoring").
5. Record when each parcel was judged (``detection_checks``) and mark due
   the courier's neighbouring parcels that were judged before this parcel's
   scans arrived: a scan of one parcel is evidence about the courier's other
   handovers (bulk signing, impossible travel).

Re-scoring
----------
Verdicts are recomputed from all the evidence known at each sweep, so late
evidence (a later scan, a not_received report, the courier's other scans)
changes them:

* A finding without a live case opens one (a suspected fake delivery only
  once its score reaches the threshold).
* A live case gets the new reasons and score; :func:`tracker.cases.store.open_case`
  records the change in its history.
* A suspected fake delivery whose score falls below the threshold stays
  live, its reasons updated, with one more reason, ``score_below_threshold``,
  saying so. Nothing vanishes from under a person who may be looking at it;
  ops resolves it (usually ``false_alarm``).
* A resolved case is not opened again on the evidence it had: only a
  finding with evidence that no resolved case of its type had opens a new
  one (fake delivery: a new reason code; damage: another first evidence or
  segment; cold chain: another out-of-range reading). A ``false_alarm``
  stays resolved until something new turns up.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from tracker.cases.store import Reason, open_case
from tracker.core import metrics
from tracker.core.db import upsert
from tracker.core.models import Case, Courier, DetectionCheck, Parcel, ScanEvent
from tracker.core.vocabulary import CaseState, CaseType
from tracker.detection import store as rows
from tracker.detection.cold_chain import find_excursion
from tracker.detection.damage import SegmentKind, attribute_damage
from tracker.detection.facts import (
    HANDOVER_TYPES,
    NETWORK_FACILITY_KINDS,
    CourierContext,
    EventFact,
    EventType,
    FacilityFact,
    FacilityKind,
    GeoPoint,
    ParcelFact,
    chronological,
)
from tracker.detection.fake_delivery import DEFAULT_CONFIG, FakeDeliveryConfig, Verdict, score_delivery
from tracker.detection.reports import load_reports

log = logging.getLogger("tracker.detection")

#: Scan types that give a parcel something to judge.
_JUDGED_TYPES = frozenset({EventType.DELIVERED, EventType.COLLECTED, EventType.DAMAGED})

#: Vehicle names in the couriers table -> the detector's names (top speeds).
_VEHICLES = {"ebike": "e_bike", "e-bike": "e_bike", "bike": "bicycle", "walk": "foot"}

#: Reasons that describe a case rather than weigh as evidence.
_META_CODES = frozenset({"handover_scan", "score_below_threshold"})
#: The customer's own words on a damage case (tracker.tracking.feedback): kept whatever detection finds.
_CUSTOMER_DAMAGE = "customer_damage_report"
_DAMAGE_KEY_CODES = frozenset({"damage_found", "damage_reported", "damage_segment"})


@dataclass(frozen=True)
class DetectionConfig:
    """Knobs of detection as the service runs it; the signals' own are in ``fake_delivery``."""

    fake_delivery: FakeDeliveryConfig = DEFAULT_CONFIG
    #: How much of a courier's day around a handover the cross-parcel signals see.
    courier_window: timedelta = timedelta(hours=2)
    #: Widens every perishable range on both sides (coarse sensors); 0: the declared range rules.
    temperature_tolerance_c: float = 0.0
    #: Facilities farther than this from a scan cannot matter to it (a cheap pre-filter).
    facility_radius_m: float = 20_000.0


DEFAULT_DETECTION = DetectionConfig()


@dataclass
class _Finding:
    type: CaseType
    reasons: list[Reason]
    score: float | None = None
    facility: str | None = None
    courier: str | None = None
    #: False: update a live case, but open none (a fake-delivery score below the threshold).
    opens: bool = True
    found_by_scan: bool = False


def evaluate_parcels(
    conn: Connection, parcel_ids: Sequence[int], *, now: datetime, config: DetectionConfig | None = None
) -> None:
    """Judge these parcels on all the evidence known now and keep their cases (see the module doc)."""
    config = config or DEFAULT_DETECTION
    chunk = sorted(set(parcel_ids))
    if not chunk:
        return
    scans = rows.events_of(conn, chunk)
    reports = load_reports(conn, chunk)
    judged = [p for p in chunk if p in reports or any(_worth_judging(r) for r in scans.get(p, ()))]
    if not judged:
        return

    facilities = rows.load_facilities(conn)
    parcel_rows = rows.parcels_of(conn, judged)
    parcels: dict[int, ParcelFact] = {}
    events: dict[int, list[EventFact]] = {}
    for p in judged:
        try:
            parcels[p] = rows.parcel_fact(parcel_rows[p], facilities, reports.get(p, ()))
            events[p] = chronological(
                rows.event_fact(r, parcels[p].tracking_number, facilities) for r in scans.get(p, ())
            )
        except ValueError:
            # A row the detectors cannot read must not stop the chunk (the sweep would retry it
            # forever); the parcel keeps its cases and the log says which one.
            log.exception("detection cannot read a parcel", extra={"fields": {"parcel_id": p}})
            parcels.pop(p, None)
    cases = _detection_cases(conn, list(parcels))
    days = CourierDays.load(
        conn,
        [e for p in parcels for e in events[p] if e.type in HANDOVER_TYPES and e.courier_id],
        facilities,
        config.courier_window,
    )

    for parcel_id, parcel in parcels.items():
        history = events[parcel_id]
        try:
            findings = [
                _fake_delivery(parcel, history, days, facilities, config),
                _damage(parcel, history),
                _cold_chain(parcel, history, config),
            ]
        except Exception:  # the pure detectors raise only on facts they cannot judge
            log.exception("detection failed for a parcel", extra={"fields": {"parcel_id": parcel_id}})
            continue
        for finding in findings:
            if finding is not None:
                _keep(conn, parcel_id, finding, cases.get(parcel_id, []), now)

    _record_checks(conn, list(parcels), now)
    _mark_neighbours(conn, days, set(chunk), now, config.fake_delivery.signals.bulk_window)


def _worth_judging(row: Any) -> bool:
    return row.type in _JUDGED_TYPES or row.damage is not None or row.temperature_c is not None


# --- the courier's day -------------------------------------------------------------------


@dataclass
class CourierDays:
    """The scans of the couriers who handed over the judged parcels, around those handovers."""

    scans: dict[str, list[EventFact]] = field(default_factory=dict)
    times: dict[str, list[datetime]] = field(default_factory=dict)
    received: dict[str, datetime] = field(default_factory=dict)
    parcel_of: dict[str, int] = field(default_factory=dict)
    destinations: dict[str, GeoPoint] = field(default_factory=dict)
    vehicles: dict[str, str | None] = field(default_factory=dict)
    stations: dict[str, str | None] = field(default_factory=dict)
    window: timedelta = timedelta(hours=2)
    #: The handover scans being judged now: their neighbours may need a second look.
    judged: list[EventFact] = field(default_factory=list)

    @classmethod
    def load(
        cls,
        conn: Connection,
        handovers: Sequence[EventFact],
        facilities: Mapping[str, FacilityFact],
        window: timedelta,
    ) -> CourierDays:
        days = cls(window=window, judged=list(handovers))
        if not handovers:
            return days
        terms = [
            and_(ScanEvent.courier_code == courier, ScanEvent.occurred_at.between(start, end))
            for courier, start, end in _spans(handovers, window)
        ]
        destination = (Parcel.tracking_number, Parcel.dest_lat, Parcel.dest_lon, Parcel.pickup_point)
        query = (
            select(*rows.EVENT_COLUMNS, *destination)
            .join(Parcel, Parcel.id == ScanEvent.parcel_id)
            .where(or_(*terms))
        )
        for row in conn.execute(query):
            fact = rows.event_fact(row, row.tracking_number, facilities)
            days.scans.setdefault(row.courier_code, []).append(fact)
            days.received[row.event_id] = row.received_at
            days.parcel_of[row.event_id] = row.parcel_id
            point = _handover_point(row, facilities)
            if point is not None:
                days.destinations[row.tracking_number] = point
        for courier, scans in days.scans.items():
            scans.sort(key=lambda e: (e.occurred_at, e.event_id))
            days.times[courier] = [e.occurred_at for e in scans]
        for code, vehicle, station in conn.execute(
            select(Courier.code, Courier.vehicle, Courier.station_code).where(Courier.code.in_(days.scans))
        ):
            days.vehicles[code] = _VEHICLES.get(vehicle, vehicle) if vehicle else None
            days.stations[code] = station
        return days

    def around(self, courier: str, at: datetime, span: timedelta) -> list[EventFact]:
        times = self.times.get(courier, [])
        lo, hi = bisect.bisect_left(times, at - span), bisect.bisect_right(times, at + span)
        return self.scans[courier][lo:hi] if times else []

    def context(self, event: EventFact) -> CourierContext | None:
        if not event.courier_id or event.courier_id not in self.scans:
            return None
        nearby = self.around(event.courier_id, event.occurred_at, self.window)
        wanted = {e.tracking_number for e in nearby}
        return CourierContext(
            event.courier_id,
            nearby,
            {tn: p for tn, p in self.destinations.items() if tn in wanted},
            self.vehicles.get(event.courier_id),
        )


def _spans(handovers: Iterable[EventFact], window: timedelta) -> list[tuple[str, datetime, datetime]]:
    """Per courier, the handover times widened by ``window``, overlapping spans merged."""
    by_courier: dict[str, list[datetime]] = {}
    for event in handovers:
        assert event.courier_id is not None
        by_courier.setdefault(event.courier_id, []).append(event.occurred_at)
    spans = []
    for courier, times in sorted(by_courier.items()):
        times.sort()
        start, end = times[0] - window, times[0] + window
        for at in times[1:]:
            if at - window <= end:
                end = at + window
            else:
                spans.append((courier, start, end))
                start, end = at - window, at + window
        spans.append((courier, start, end))
    return spans


def _handover_point(row: Any, facilities: Mapping[str, FacilityFact]) -> GeoPoint | None:
    pickup = facilities.get(row.pickup_point) if row.pickup_point else None
    if pickup is not None:
        return pickup.position
    if row.dest_lat is not None and row.dest_lon is not None:
        return GeoPoint(row.dest_lat, row.dest_lon)
    return None


# --- findings ------------------------------------------------------------------------------


def _fake_delivery(
    parcel: ParcelFact,
    history: list[EventFact],
    days: CourierDays,
    facilities: Mapping[str, FacilityFact],
    config: DetectionConfig,
) -> _Finding | None:
    verdicts: list[tuple[Verdict, EventFact]] = [
        (
            score_delivery(
                event,
                parcel,
                history,
                courier=days.context(event),
                facilities=_near(facilities, event, parcel, config.facility_radius_m),
                config=config.fake_delivery,
            ),
            event,
        )
        for event in history
        if event.type in HANDOVER_TYPES
    ]
    if not verdicts:
        return None
    verdict, event = max(verdicts, key=lambda v: (v[0].score, v[1].occurred_at, v[1].event_id))
    who = f" by courier {event.courier_id}" if event.courier_id else ""
    where = f" at {event.facility}" if event.facility else ""
    reasons = [
        Reason(
            "handover_scan",
            f"{event.type} scan {event.event_id}{who}{where}, "
            f"{event.occurred_at.isoformat(timespec='minutes')}",
        ),
        *(Reason(r.code, r.detail) for r in verdict.reasons),
    ]
    if not verdict.suspected:
        reasons.append(
            Reason(
                "score_below_threshold",
                f"the evidence now weighs {verdict.score:g}, below the threshold of {verdict.threshold:g}",
            )
        )
    return _Finding(
        CaseType.SUSPECTED_FAKE_DELIVERY,
        reasons,
        score=verdict.score,
        facility=_delivering_facility(event, history, days),
        courier=event.courier_id,
        opens=verdict.suspected,
    )


def _near(
    facilities: Mapping[str, FacilityFact], event: EventFact, parcel: ParcelFact, radius_m: float
) -> list[FacilityFact]:
    """The facilities that can matter to one scan: named by it or by the parcel, or close to its fix."""
    named = {c for c in (event.facility, parcel.pickup_point) if c}
    point = event.position
    return [
        f
        for f in facilities.values()
        if f.code in named or (point is not None and _flat_distance_m(point, f.position) <= radius_m)
    ]


def _flat_distance_m(a: GeoPoint, b: GeoPoint) -> float:
    # Equirectangular: within a fraction of a percent at city scale, for a pre-filter only.
    x = math.radians(b.lon - a.lon) * math.cos(math.radians((a.lat + b.lat) / 2))
    y = math.radians(b.lat - a.lat)
    return 6_371_000.0 * math.hypot(x, y)


def _delivering_facility(event: EventFact, history: list[EventFact], days: CourierDays) -> str | None:
    """Where the handover is answered for: the pickup point, else the last facility that held the parcel."""
    if event.facility_kind is FacilityKind.PICKUP_POINT or event.type is EventType.COLLECTED:
        return event.facility
    held = [
        e.facility
        for e in history
        if e.occurred_at <= event.occurred_at and e.facility and e.facility_kind in NETWORK_FACILITY_KINDS
    ]
    if held:
        return held[-1]
    return days.stations.get(event.courier_id or "")


def _damage(parcel: ParcelFact, history: list[EventFact]) -> _Finding | None:
    attribution = attribute_damage(parcel, history)
    if attribution is None:
        return None
    reasons = [Reason(r.code, r.detail) for r in attribution.reasons]
    segment = attribution.segment
    if segment is not None:
        reasons.append(Reason("damage_segment", str(segment)))
    facility = courier = None
    if segment is not None and segment.kind is SegmentKind.COURIER:
        courier = segment.ref
    elif segment is not None:
        # A leg is answered for by the facility it left.
        facility = segment.ref.split("->")[0] if segment.kind is SegmentKind.LEG else segment.ref
    by_scan = attribution.found_by == "scan"
    return _Finding(CaseType.DAMAGE, reasons, facility=facility, courier=courier, found_by_scan=by_scan)


def _cold_chain(parcel: ParcelFact, history: list[EventFact], config: DetectionConfig) -> _Finding | None:
    excursion = find_excursion(parcel, history, tolerance_c=config.temperature_tolerance_c)
    if excursion is None:
        return None
    allowed, worst = excursion.allowed, excursion.worst
    summary = Reason(
        "temperature_range",
        f"declared {allowed.min_c:g} to {allowed.max_c:g} °C; {len(excursion.readings)} of "
        f"{excursion.readings_total} readings outside it, the worst {worst.temperature_c:g} °C "
        f"at {worst.where}",
    )
    return _Finding(
        CaseType.TEMPERATURE_EXCURSION,
        [summary, *(Reason(r.code, r.detail) for r in excursion.reasons)],
        score=abs(worst.deviation_c),
        facility=worst.facility,
        courier=worst.courier_id,
    )


# --- cases ---------------------------------------------------------------------------------


def _detection_cases(conn: Connection, parcel_ids: Sequence[int]) -> dict[int, list[Any]]:
    types = [CaseType.SUSPECTED_FAKE_DELIVERY, CaseType.DAMAGE, CaseType.TEMPERATURE_EXCURSION]
    found: dict[int, list[Any]] = {}
    for row in conn.execute(
        select(Case.id, Case.parcel_id, Case.type, Case.state, Case.reasons).where(
            Case.parcel_id.in_(parcel_ids), Case.type.in_(types)
        )
    ):
        found.setdefault(row.parcel_id, []).append(row)
    return found


def evidence_keys(type_: CaseType, reasons: Iterable[dict[str, Any]]) -> frozenset[Any]:
    """What a case's reasons say was *found*, to tell new evidence from evidence already judged."""
    if type_ is CaseType.SUSPECTED_FAKE_DELIVERY:
        return frozenset(r["code"] for r in reasons if r["code"] not in _META_CODES)
    if type_ is CaseType.DAMAGE:
        return frozenset((r["code"], r["detail"]) for r in reasons if r["code"] in _DAMAGE_KEY_CODES)
    return frozenset((r["code"], r["detail"]) for r in reasons if r["code"].startswith("temperature_"))


def _keep(conn: Connection, parcel_id: int, finding: _Finding, cases: list[Any], now: datetime) -> None:
    of_type = [c for c in cases if c.type == finding.type]
    live = next((c for c in of_type if c.state != CaseState.RESOLVED), None)
    if live is not None:
        # Complaints are never silenced: the customer's reasons stay beside the findings.
        kept = [Reason(r["code"], r["detail"]) for r in live.reasons if r["code"] == _CUSTOMER_DAMAGE]
        finding.reasons = [*finding.reasons, *kept]
    else:
        if not finding.opens:
            return
        judged = frozenset().union(*(evidence_keys(finding.type, c.reasons) for c in of_type))
        found = evidence_keys(finding.type, (r.to_dict() for r in finding.reasons))
        if of_type and found <= judged:
            return  # resolved on this very evidence: a person has decided
    _, opened = open_case(
        conn,
        parcel_id,
        finding.type,
        finding.reasons,
        now=now,
        score=finding.score,
        facility=finding.facility,
        courier=finding.courier,
    )
    if opened and finding.found_by_scan and not of_type:
        metrics.DAMAGE_REPORTS.labels("scan").inc()


# --- second looks ----------------------------------------------------------------------------


def _record_checks(conn: Connection, parcel_ids: Sequence[int], now: datetime) -> None:
    statement = upsert(conn, DetectionCheck)
    statement = statement.on_conflict_do_update(
        index_elements=["parcel_id"], set_={"judged_at": statement.excluded.judged_at}
    )
    conn.execute(statement, [{"parcel_id": p, "judged_at": now} for p in parcel_ids])


def _mark_neighbours(
    conn: Connection, days: CourierDays, chunk: set[int], now: datetime, window: timedelta
) -> None:
    """Mark due the courier's other handovers that were judged before this chunk's scans arrived.

    The neighbours of a scan are the courier's handovers within the signing
    window of it and the handovers just before and after it. A neighbour
    judged after the scan arrived has seen it already: that is what keeps a
    second look from rippling through the courier's day.
    """
    arrived: dict[int, datetime] = {}  # neighbour parcel -> latest arrival of evidence about it
    for courier, scans in days.scans.items():
        for i, scan in enumerate(scans):
            if days.parcel_of[scan.event_id] not in chunk:
                continue
            neighbours = set(days.around(courier, scan.occurred_at, window))
            neighbours.update(scans[max(0, i - 1) : i + 2])
            for other in neighbours:
                parcel_id = days.parcel_of[other.event_id]
                if parcel_id in chunk or other.type not in HANDOVER_TYPES:
                    continue
                received = days.received[scan.event_id]
                if parcel_id not in arrived or arrived[parcel_id] < received:
                    arrived[parcel_id] = received
    if not arrived:
        return
    stale = [
        parcel_id
        for parcel_id, judged_at in conn.execute(
            select(DetectionCheck.parcel_id, DetectionCheck.judged_at).where(
                DetectionCheck.parcel_id.in_(list(arrived))
            )
        )
        if judged_at < arrived[parcel_id]
    ]
    if stale:
        conn.execute(
            update(Parcel)
            .where(Parcel.id.in_(stale), or_(Parcel.next_check_at.is_(None), Parcel.next_check_at > now))
            .values(next_check_at=now)
        )
