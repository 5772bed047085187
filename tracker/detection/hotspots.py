"""Damage hotspots over a period: who damages significantly more than the network (store).

A store module: it reads through the caller's ``Connection`` and never begins
or commits (the endpoint is in :mod:`tracker.detection.views`); the counting
itself is the pure :mod:`tracker.detection.damage`.

Computed on demand for a period, not per parcel (a rate needs the parcels
that passed through undamaged as much as the damaged ones):

1. The parcels of the period are those whose first scan lies in
   ``[since, until)``: each parcel counts in one period only, with its whole
   journey.
2. Their scans and their customers' damage reports are read in chunks of
   parcel ids (a few queries per chunk, see :mod:`tracker.detection.store`).
3. Each parcel adds one to every facility, leg and courier that held it,
   and one damage to the segment :func:`~tracker.detection.damage.attribute_damage`
   blames (:func:`~tracker.detection.damage.tally_damage`).
4. :func:`~tracker.detection.damage.damage_rates` puts a Wilson interval on
   every rate and flags a segment only when the interval's lower bound lies
   above the pooled rate of its kind, with at least ``min_damaged`` damaged
   of ``min_handled`` handled parcels.

The same tallies, narrowed to one courier's or facility's parcels, give the
scorecards their damage rate (:mod:`tracker.detection.scorecards`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, select

from tracker.core.models import Parcel, ScanEvent
from tracker.core.timefmt import iso_local
from tracker.detection.damage import (
    DamageRate,
    HotspotConfig,
    Segment,
    SegmentKind,
    Tally,
    attribute_damage,
    damage_rates,
    tally_damage,
)
from tracker.detection.facts import DamageNote, EventFact, FacilityFact, ParcelFact, ReportKind
from tracker.detection.store import load_facilities, load_reports

#: Parcel ids per round trip when reading a period's journeys.
CHUNK = 2000


def period_parcels(conn: Connection, since: datetime, until: datetime) -> list[int]:
    """Parcels whose first scan lies in ``[since, until)``."""
    return list(
        conn.scalars(
            select(Parcel.id)
            .where(Parcel.first_event_at >= since, Parcel.first_event_at < until)
            .order_by(Parcel.id)
        )
    )


def damage_tallies(
    conn: Connection, parcel_ids: Sequence[int], facilities: Mapping[str, FacilityFact] | None = None
) -> dict[Segment, Tally]:
    """Handled and damaged parcels per segment, over these parcels' whole journeys."""
    facilities = load_facilities(conn) if facilities is None else facilities
    journeys: list[tuple[list[EventFact], Any]] = []
    for start in range(0, len(parcel_ids), CHUNK):
        chunk = list(parcel_ids[start : start + CHUNK])
        events: dict[int, list[EventFact]] = {}
        query = select(
            ScanEvent.parcel_id,
            ScanEvent.event_id,
            ScanEvent.type,
            ScanEvent.occurred_at,
            ScanEvent.facility_code,
            ScanEvent.courier_code,
            ScanEvent.damage,
        ).where(ScanEvent.parcel_id.in_(chunk), ScanEvent.voided_at.is_(None))
        for row in conn.execute(query):
            facility = facilities.get(row.facility_code) if row.facility_code else None
            # Only what custody and damage need: positions and proofs play no part here.
            events.setdefault(row.parcel_id, []).append(
                EventFact(
                    event_id=row.event_id,
                    tracking_number=str(row.parcel_id),
                    type=row.type,
                    occurred_at=row.occurred_at,
                    facility=row.facility_code,
                    facility_kind=facility.kind if facility else None,
                    courier_id=row.courier_code,
                    damage=DamageNote(row.damage["severity"]) if row.damage else None,
                )
            )
        reports = load_reports(conn, chunk)
        for parcel_id, history in events.items():
            damaged = tuple(r for r in reports.get(parcel_id, ()) if r.kind is ReportKind.DAMAGED)
            parcel = ParcelFact(str(parcel_id), reports=damaged)
            journeys.append((history, attribute_damage(parcel, history)))
    return tally_damage(journeys)


def rate_dict(rate: DamageRate) -> dict[str, Any]:
    return {
        "kind": rate.segment.kind.value,
        "ref": rate.segment.ref,
        "handled": rate.handled,
        "damaged": rate.damaged,
        "rate": round(rate.rate, 6),
        "wilson_low": round(rate.low, 6),
        "wilson_high": round(rate.high, 6),
        "network_rate": round(rate.network_rate, 6),
        "flagged": rate.flagged,
        "reason": rate.reason.as_dict(),
    }


def damage_hotspots(
    conn: Connection,
    *,
    since: datetime,
    until: datetime,
    config: HotspotConfig | None = None,
    kind: SegmentKind | None = None,
    zone: tzinfo,
) -> dict[str, Any]:
    """The period's figures and every segment's damage rate (``rates``), worst lower bound first.

    ``rates`` holds the :class:`~tracker.detection.damage.DamageRate` s (of
    ``kind`` only, if given), hotspots flagged; the view pages them and writes
    each with :func:`rate_dict`. The period's bounds are written in ``zone``
    (views pass the configured local zone).
    """
    config = config or HotspotConfig()
    parcels = period_parcels(conn, since, until)
    tallies = damage_tallies(conn, parcels)
    rates = damage_rates(tallies, config)
    network = {r.segment.kind.value: round(r.network_rate, 6) for r in rates}
    return {
        "since": iso_local(since, zone),
        "until": iso_local(until, zone),
        "parcels": len(parcels),
        "confidence": config.confidence,
        "min_damaged": config.min_damaged,
        "min_handled": config.min_handled,
        "network_rate": network,
        "rates": [r for r in rates if kind is None or r.segment.kind is kind],
    }
