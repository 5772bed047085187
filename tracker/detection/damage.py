"""Damage: where it most likely happened, and who damages more than the rest.

Three pure steps, each usable on its own::

    attribute_damage(parcel, events) -> DamageAttribution | None     one parcel
    segments_passed(events)          -> {Segment}                    one parcel's exposure
    tally_damage(journeys)           -> {Segment: Tally}             many parcels
    damage_rates(tallies)            -> [DamageRate] (hotspots = the flagged ones)

A :class:`Segment` is a place of custody: a facility, a facility->facility
leg, or a courier. Damage is attributed to the custody between the last scan
that found the parcel whole and the first evidence of damage (a damage scan
or a customer's damage report); the tally counts, per segment, how many
parcels passed through and how many were damaged there, so a busy hub is
judged by its rate, not by its volume.

Hotspots are flagged only when the damage is *significantly* above the
network's: the lower Wilson bound (95 % by default) of a segment's rate must
exceed the pooled rate of all segments of its kind, and the segment needs a
minimum of damaged and handled parcels. The interval alone is not enough for
fairness: one damaged parcel in three already has a 95 % lower bound near 6 %,
above a typical network rate of 1-2 %, and a facility must never be accused
on one or two incidents.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tracker.detection.facts import (
    EventFact,
    EventType,
    FacilityKind,
    ParcelFact,
    Reason,
    ReportKind,
    Severity,
    chronological,
)
from tracker.detection.stats import wilson_interval

CASE_TYPE = "damage"

#: Scans a courier makes while holding the parcel (first or last mile).
_COURIER_CUSTODY = frozenset(
    {EventType.PICKED_UP, EventType.OUT_FOR_DELIVERY, EventType.DELIVERY_FAILED, EventType.DELIVERED}
)
#: Scans after which the parcel is on its way out of the facility.
_LEAVING = frozenset({EventType.DEPARTED, EventType.OUTBOUND})


class SegmentKind(StrEnum):
    FACILITY = "facility"
    LEG = "leg"
    COURIER = "courier"


@dataclass(frozen=True, slots=True, order=True)
class Segment:
    kind: SegmentKind
    #: A facility code, ``"A->B"`` for a leg (``"A->?"`` when the next stop is unknown), a courier id.
    ref: str

    @classmethod
    def facility(cls, code: str) -> Segment:
        return cls(SegmentKind.FACILITY, code)

    @classmethod
    def leg(cls, origin: str, destination: str | None) -> Segment:
        return cls(SegmentKind.LEG, f"{origin}->{destination or '?'}")

    @classmethod
    def courier(cls, courier_id: str) -> Segment:
        return cls(SegmentKind.COURIER, courier_id)

    def __str__(self) -> str:
        return f"{self.kind} {self.ref}"


@dataclass(frozen=True, slots=True)
class DamageAttribution:
    tracking_number: str
    #: Most likely place of damage; None when no scan tells who held the parcel.
    segment: Segment | None
    found_at: datetime
    #: "scan" or "customer_report".
    found_by: str
    evidence_event_id: str | None
    last_clean: EventFact | None
    severity: Severity | None
    reasons: tuple[Reason, ...]


def holder(event: EventFact) -> Segment | None:
    """Who had the parcel when the scan was made.

    A courier's scans may carry their home station's code, so for courier-
    custody scans the courier wins over the facility field; a delivery *to*
    a pickup point hands custody to the pickup point.
    """
    to_pickup_point = event.facility_kind is FacilityKind.PICKUP_POINT and event.facility
    if event.type in _COURIER_CUSTODY and event.courier_id and not to_pickup_point:
        return Segment.courier(event.courier_id)
    if event.facility:
        return Segment.facility(event.facility)
    if event.courier_id:
        return Segment.courier(event.courier_id)
    return None


def attribute_damage(parcel: ParcelFact, events: Iterable[EventFact]) -> DamageAttribution | None:
    """Where the parcel was most likely damaged, or None if nothing says it was.

    1. Order the scans by when they happened.
    2. The first evidence is the earliest damage scan or customer damage
       report (a scan wins a tie: it says where).
    3. The last clean scan is the last one before the evidence that did not
       itself record damage.
    4. The custody between the two is the segment: the courier if the
       courier held it at the last clean scan; the facility if the evidence
       was found at the same facility (or the parcel went from there straight
       to the customer); the leg if it was found at another facility.
    """
    ordered = chronological(e for e in events if e.tracking_number == parcel.tracking_number)
    scan = next((e for e in ordered if e.is_damage_evidence), None)
    report = min((r.at for r in parcel.reports if r.kind is ReportKind.DAMAGED), default=None)
    if scan is None and report is None:
        return None
    if scan is not None and (report is None or scan.occurred_at <= report):
        found_at, evidence = scan.occurred_at, scan
        before = ordered[: ordered.index(scan)]
    else:
        assert report is not None
        found_at, evidence = report, None
        before = [e for e in ordered if e.occurred_at <= report]
    last_clean = next((e for e in reversed(before) if not e.is_damage_evidence), None)
    segment = _segment(last_clean, evidence)
    reasons = [_evidence_reason(found_at, evidence)]
    reasons.append(_attribution_reason(last_clean, segment))
    return DamageAttribution(
        tracking_number=parcel.tracking_number,
        segment=segment,
        found_at=found_at,
        found_by="scan" if evidence is not None else "customer_report",
        evidence_event_id=evidence.event_id if evidence is not None else None,
        last_clean=last_clean,
        severity=evidence.damage.severity if evidence is not None and evidence.damage else None,
        reasons=tuple(reasons),
    )


def _segment(last_clean: EventFact | None, evidence: EventFact | None) -> Segment | None:
    if last_clean is None:
        # Damaged at the first scan we have: all we know is who found it.
        return holder(evidence) if evidence is not None else None
    held_by = holder(last_clean)
    if held_by is None or held_by.kind is SegmentKind.COURIER:
        return held_by
    found_in = evidence.facility if evidence is not None else None
    if found_in is not None and found_in != held_by.ref:
        return Segment.leg(held_by.ref, found_in)
    if found_in is None and last_clean.type in _LEAVING:
        return Segment.leg(held_by.ref, None)
    return held_by


def _evidence_reason(found_at: datetime, evidence: EventFact | None) -> Reason:
    when = found_at.isoformat(timespec="minutes")
    if evidence is None:
        return Reason("damage_reported", f"the customer reported damage at {when}")
    severity = f"{evidence.damage.severity} " if evidence.damage else ""
    where = evidence.facility or (f"courier {evidence.courier_id}" if evidence.courier_id else "unknown")
    return Reason("damage_found", f"{severity}damage recorded by a {evidence.type} scan at {where}, {when}")


def _attribution_reason(last_clean: EventFact | None, segment: Segment | None) -> Reason:
    if last_clean is None:
        seen = "no earlier scan found it whole"
    else:
        where = last_clean.facility or last_clean.courier_id or "unknown"
        when = last_clean.occurred_at.isoformat(timespec="minutes")
        seen = f"last seen whole: {last_clean.type} at {where}, {when}"
    blame = f"most likely {segment}" if segment else "custody unknown"
    return Reason("damage_attributed", f"{seen}; {blame}")


def segments_passed(events: Iterable[EventFact]) -> set[Segment]:
    """Every facility, leg and courier that held the parcel: its exposure."""
    passed: set[Segment] = set()
    previous: str | None = None
    for event in chronological(events):
        held_by = holder(event)
        if held_by is None:
            continue
        passed.add(held_by)
        if held_by.kind is SegmentKind.FACILITY:
            if previous is not None and previous != held_by.ref:
                passed.add(Segment.leg(previous, held_by.ref))
            previous = held_by.ref
    return passed


@dataclass(frozen=True, slots=True)
class Tally:
    handled: int
    damaged: int


def tally_damage(
    journeys: Iterable[tuple[Sequence[EventFact], DamageAttribution | None]],
) -> dict[Segment, Tally]:
    """Count, per segment, parcels that passed through and parcels damaged there."""
    handled: Counter[Segment] = Counter()
    damaged: Counter[Segment] = Counter()
    for events, attribution in journeys:
        passed = segments_passed(events)
        if attribution is not None and attribution.segment is not None:
            # An open-ended leg ("A->?") is not in the exposure; count it so damaged <= handled.
            passed.add(attribution.segment)
            damaged[attribution.segment] += 1
        handled.update(passed)
    return {segment: Tally(handled[segment], damaged[segment]) for segment in handled}


@dataclass(frozen=True, slots=True)
class HotspotConfig:
    confidence: float = 0.95
    #: Never accuse on fewer incidents than this, whatever the interval says.
    min_damaged: int = 3
    #: A rate over fewer parcels is not shown as significant (a common rule of thumb).
    min_handled: int = 30


@dataclass(frozen=True, slots=True)
class DamageRate:
    segment: Segment
    handled: int
    damaged: int
    rate: float
    low: float
    high: float
    #: Pooled rate of all segments of the same kind (or the given baseline).
    network_rate: float
    flagged: bool

    @property
    def reason(self) -> Reason:
        return Reason(
            "damage_hotspot" if self.flagged else "damage_rate",
            f"{self.segment}: {self.damaged} of {self.handled} parcels damaged "
            f"({self.rate:.1%}, interval {self.low:.1%}-{self.high:.1%}) "
            f"against {self.network_rate:.1%} across the network",
        )


def damage_rates(
    tallies: Mapping[Segment, Tally],
    config: HotspotConfig = HotspotConfig(),
    baseline: Mapping[SegmentKind, float] | None = None,
) -> list[DamageRate]:
    """Every segment's damage rate with its interval, hotspots flagged; worst first."""
    network = dict(baseline or {})
    for kind in SegmentKind:
        if kind not in network:
            counts = [t for s, t in tallies.items() if s.kind is kind]
            total = sum(t.handled for t in counts)
            network[kind] = sum(t.damaged for t in counts) / total if total else 0.0
    rates = []
    for segment, tally in tallies.items():
        low, high = wilson_interval(tally.damaged, tally.handled, config.confidence)
        flagged = (
            tally.damaged >= config.min_damaged
            and tally.handled >= config.min_handled
            and low > network[segment.kind]
        )
        rate = tally.damaged / tally.handled if tally.handled else 0.0
        rates.append(
            DamageRate(segment, tally.handled, tally.damaged, rate, low, high, network[segment.kind], flagged)
        )
    return sorted(rates, key=lambda r: (-r.low, r.segment))


def hotspots(
    tallies: Mapping[Segment, Tally],
    config: HotspotConfig = HotspotConfig(),
    baseline: Mapping[SegmentKind, float] | None = None,
) -> list[DamageRate]:
    return [r for r in damage_rates(tallies, config, baseline) if r.flagged]
