"""Judging a parcel on the facts known now: findings, and what they do to its cases (pure).

:mod:`tracker.detection.evaluate` (the store module the sweep calls) loads
the facts and writes the cases; everything in between is decided here, from
plain values, so it can be tested and reasoned about without a database:

* :class:`CourierDays`: the scans of the couriers who handed over the judged
  parcels, around those handovers, and each scan's
  :class:`~tracker.detection.facts.CourierContext` (:func:`spans` says which
  stretches of their days to load).
* :func:`judge_parcel`: the three detectors turned into :class:`Finding` s,
  each with the reasons, score, courier and facility a case would carry:
  every handover scan is scored
  (:func:`~tracker.detection.fake_delivery.score_delivery`; the worst verdict
  speaks for the parcel), damage is attributed
  (:func:`~tracker.detection.damage.attribute_damage`), readings are checked
  against the perishable range (:func:`~tracker.detection.cold_chain.find_excursion`).
* :func:`case_reasons`: whether a finding opens or updates a case, given the
  parcel's detection cases (see "Re-scoring" in :mod:`tracker.detection.evaluate`),
  and with which reasons; :func:`evidence_keys` tells new evidence from
  evidence a resolved case already had.
* :func:`neighbour_evidence`: which of a courier's other handovers the
  judged scans are new evidence about, and since when.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tracker.cases.reasons import Reason
from tracker.core.geo import haversine_m
from tracker.core.vocabulary import CaseState, CaseType, damage_exception
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
)
from tracker.detection.fake_delivery import DEFAULT_CONFIG, FakeDeliveryConfig, Verdict, score_delivery

#: Scan types that give a parcel something to judge.
JUDGED_TYPES = frozenset({EventType.DELIVERED, EventType.COLLECTED, EventType.DAMAGED})

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
class Finding:
    """What a detector found about one parcel: the makings of a case."""

    type: CaseType
    reasons: list[Reason]
    score: float | None = None
    facility: str | None = None
    courier: str | None = None
    #: False: update a live case, but open none (a fake-delivery score below the threshold).
    opens: bool = True
    found_by_scan: bool = False


def worth_judging(type_: str, damage: object, temperature_c: float | None, reason: str | None = None) -> bool:
    """Does a scan give its parcel something to judge (a handover, damage, a reading)?"""
    return (
        type_ in JUDGED_TYPES
        or damage is not None
        or temperature_c is not None
        or damage_exception(type_, reason)
    )


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

    def sort(self) -> None:
        """Order each courier's scans by time (once, after loading) so :meth:`around` can bisect."""
        for courier, scans in self.scans.items():
            scans.sort(key=lambda e: (e.occurred_at, e.event_id))
            self.times[courier] = [e.occurred_at for e in scans]

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


def spans(handovers: Iterable[EventFact], window: timedelta) -> list[tuple[str, datetime, datetime]]:
    """Per courier, the handover times widened by ``window``, overlapping spans merged."""
    by_courier: dict[str, list[datetime]] = {}
    for event in handovers:
        assert event.courier_id is not None
        by_courier.setdefault(event.courier_id, []).append(event.occurred_at)
    merged = []
    for courier, times in sorted(by_courier.items()):
        times.sort()
        start, end = times[0] - window, times[0] + window
        for at in times[1:]:
            if at - window <= end:
                end = at + window
            else:
                merged.append((courier, start, end))
                start, end = at - window, at + window
        merged.append((courier, start, end))
    return merged


def handover_point(
    pickup_point: str | None,
    dest_lat: float | None,
    dest_lon: float | None,
    facilities: Mapping[str, FacilityFact],
) -> GeoPoint | None:
    """Where a parcel is honestly handed over: its pickup point, else its address."""
    pickup = facilities.get(pickup_point) if pickup_point else None
    if pickup is not None:
        return pickup.position
    if dest_lat is not None and dest_lon is not None:
        return GeoPoint(dest_lat, dest_lon)
    return None


# --- findings ------------------------------------------------------------------------------


def judge_parcel(
    parcel: ParcelFact,
    history: list[EventFact],
    days: CourierDays,
    facilities: Mapping[str, FacilityFact],
    config: DetectionConfig,
) -> list[Finding]:
    """Every finding about one parcel on the evidence known now (raises on facts it cannot judge)."""
    findings = [
        _fake_delivery(parcel, history, days, facilities, config),
        _damage(parcel, history),
        _cold_chain(parcel, history, config),
    ]
    return [f for f in findings if f is not None]


def _fake_delivery(
    parcel: ParcelFact,
    history: list[EventFact],
    days: CourierDays,
    facilities: Mapping[str, FacilityFact],
    config: DetectionConfig,
) -> Finding | None:
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
    return Finding(
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
    # The fast great circle is plenty for a pre-filter at tens of kilometres.
    return [
        f
        for f in facilities.values()
        if f.code in named or (point is not None and haversine_m(point, f.position) <= radius_m)
    ]


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


def _damage(parcel: ParcelFact, history: list[EventFact]) -> Finding | None:
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
    return Finding(CaseType.DAMAGE, reasons, facility=facility, courier=courier, found_by_scan=by_scan)


def _cold_chain(parcel: ParcelFact, history: list[EventFact], config: DetectionConfig) -> Finding | None:
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
    return Finding(
        CaseType.TEMPERATURE_EXCURSION,
        [summary, *(Reason(r.code, r.detail) for r in excursion.reasons)],
        score=abs(worst.deviation_c),
        facility=worst.facility,
        courier=worst.courier_id,
    )


# --- cases ---------------------------------------------------------------------------------


def evidence_keys(type_: CaseType, reasons: Iterable[dict[str, Any]]) -> frozenset[Any]:
    """What a case's reasons say was *found*, to tell new evidence from evidence already judged."""
    if type_ is CaseType.SUSPECTED_FAKE_DELIVERY:
        return frozenset(r["code"] for r in reasons if r["code"] not in _META_CODES)
    if type_ is CaseType.DAMAGE:
        return frozenset((r["code"], r["detail"]) for r in reasons if r["code"] in _DAMAGE_KEY_CODES)
    return frozenset((r["code"], r["detail"]) for r in reasons if r["code"].startswith("temperature_"))


def case_reasons(finding: Finding, cases: Sequence[Any]) -> list[Reason] | None:
    """The reasons to open or update the finding's case with; ``None``: leave the cases alone.

    ``cases`` are the parcel's detection cases (anything with ``type``,
    ``state`` and ``reasons`` as stored).
    """
    of_type = [c for c in cases if c.type == finding.type]
    live = next((c for c in of_type if c.state != CaseState.RESOLVED), None)
    if live is not None:
        # Complaints are never silenced: the customer's reasons stay beside the findings.
        kept = [Reason(r["code"], r["detail"]) for r in live.reasons if r["code"] == _CUSTOMER_DAMAGE]
        return [*finding.reasons, *kept]
    if not finding.opens:
        return None
    judged = frozenset().union(*(evidence_keys(finding.type, c.reasons) for c in of_type))
    found = evidence_keys(finding.type, (r.to_dict() for r in finding.reasons))
    if of_type and found <= judged:
        return None  # resolved on this very evidence: a person has decided
    return finding.reasons


# --- second looks ----------------------------------------------------------------------------


def neighbour_evidence(days: CourierDays, chunk: set[int], window: timedelta) -> dict[int, datetime]:
    """The courier's other handovers the chunk's scans are evidence about, with when that evidence arrived.

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
    return arrived
