"""Scorecards: how a courier or a facility did over a period, every rate beside its counts (store).

A store module: it reads through the caller's ``Connection`` and never begins
or commits (the endpoints are in :mod:`tracker.detection.views`).

Which parcels count
-------------------
* A courier's parcels are those the courier scanned in ``[since, until)``
  (over ``ix_scan_events_courier_code_occurred_at``); its deliveries are
  its own delivered or collected scans in the period.
* A facility's parcels are those scanned at the facility in the period; its
  deliveries are those parcels' handovers in the period (for a station, the
  parcels it sent out; for a hub, the parcels through it that arrived).

The answers' shapes are :class:`tracker.detection.views.CourierScorecardOut`
and :class:`~tracker.detection.views.FacilityScorecardOut` (a courier is named
``courier_id``, a facility ``facility``).

Every rate is ``{"count", "of", "rate", "wilson_low", "wilson_high"}``
(95 % Wilson interval, :mod:`tracker.detection.stats`; ``rate`` is null
when ``of`` is 0), so a 100 % from two parcels never reads like a 100 % from
two thousand.

* On time: deliveries of parcels with a promise (``parcels.promised_by``)
  handed over by then, or by the end of a later window the customer chose.
* Failed attempts: ``delivery_failed`` scans, of attempts (failures plus deliveries).
* Fake deliveries: deliveries with a ``suspected_fake_delivery`` case naming
  the courier (or the facility), and those ops resolved ``confirmed``.
* Damage: from the same tallies as the hotspots (:mod:`tracker.detection.hotspots`),
  over the parcels' whole journeys: parcels the segment held, and those
  whose damage is attributed to it. A facility also lists its outgoing legs.
* Complaints: deliveries whose customer complained, by kind (not_received,
  damaged, late, and the complaints' own kinds: courier_conduct,
  pickup_point_service).
* Ratings: averages of the customers' current ratings of the deliveries
  (``ratings``, from the tracking page).
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, Select, case, func, select

from tracker.core.errors import NotFound
from tracker.core.models import Case, Courier, Facility, Feedback, FeedbackKind, Parcel, Rating, ScanEvent
from tracker.core.timefmt import iso_local
from tracker.core.vocabulary import CaseType, EventType
from tracker.detection.damage import Segment, SegmentKind, Tally
from tracker.detection.hotspots import damage_tallies
from tracker.detection.stats import wilson_interval

_HANDOVER = [EventType.DELIVERED, EventType.COLLECTED]
_COMPLAINTS = [FeedbackKind.NOT_RECEIVED, FeedbackKind.DAMAGED, FeedbackKind.LATE, FeedbackKind.COMPLAINT]


def rate(count: int, of: int) -> dict[str, Any]:
    low, high = wilson_interval(count, of)
    return {
        "count": count,
        "of": of,
        "rate": round(count / of, 6) if of else None,
        "wilson_low": round(low, 6),
        "wilson_high": round(high, 6),
    }


def courier_scorecard(
    conn: Connection, code: str, *, since: datetime, until: datetime, zone: tzinfo
) -> dict[str, Any]:
    if conn.scalar(select(Courier.id).where(Courier.code == code)) is None:
        raise NotFound(f"no courier {code}")
    in_period = (ScanEvent.occurred_at >= since, ScanEvent.occurred_at < until, ScanEvent.voided_at.is_(None))
    mine = (ScanEvent.courier_code == code, *in_period)
    delivered = select(ScanEvent.parcel_id).where(*mine, ScanEvent.type.in_(_HANDOVER)).distinct()
    handled = list(conn.scalars(select(ScanEvent.parcel_id).where(*mine).distinct()))
    failed = conn.scalar(
        select(func.count()).select_from(ScanEvent).where(*mine, ScanEvent.type == EventType.DELIVERY_FAILED)
    )
    tallies = damage_tallies(conn, sorted(handled))
    card = _common(conn, delivered, failed or 0, courier=code)
    card.update(
        courier_id=code,
        since=iso_local(since, zone),
        until=iso_local(until, zone),
        parcels_handled=len(handled),
        damage=_damage(tallies.get(Segment.courier(code))),
    )
    return card


def facility_scorecard(
    conn: Connection, code: str, *, since: datetime, until: datetime, zone: tzinfo
) -> dict[str, Any]:
    if conn.scalar(select(Facility.id).where(Facility.code == code)) is None:
        raise NotFound(f"no facility {code}")
    in_period = (ScanEvent.occurred_at >= since, ScanEvent.occurred_at < until, ScanEvent.voided_at.is_(None))
    here = select(ScanEvent.parcel_id).where(ScanEvent.facility_code == code, *in_period).distinct()
    handled = list(conn.scalars(here))
    delivered = (
        select(ScanEvent.parcel_id)
        .where(ScanEvent.parcel_id.in_(here), ScanEvent.type.in_(_HANDOVER), *in_period)
        .distinct()
    )
    failed = conn.scalar(
        select(func.count())
        .select_from(ScanEvent)
        .where(ScanEvent.parcel_id.in_(here), ScanEvent.type == EventType.DELIVERY_FAILED, *in_period)
    )
    tallies = damage_tallies(conn, sorted(handled))
    legs = sorted(
        (s, t) for s, t in tallies.items() if s.kind is SegmentKind.LEG and s.ref.startswith(f"{code}->")
    )
    card = _common(conn, delivered, failed or 0, facility=code)
    card.update(
        facility=code,
        since=iso_local(since, zone),
        until=iso_local(until, zone),
        parcels_handled=len(handled),
        damage=_damage(tallies.get(Segment.facility(code))),
        damage_on_legs_out=[{"leg": s.ref, **_damage(t)} for s, t in legs],
    )
    return card


def _damage(tally: Tally | None) -> dict[str, Any]:
    tally = tally or Tally(0, 0)
    return rate(tally.damaged, tally.handled)


def _common(
    conn: Connection,
    delivered: Select[Any],
    failed: int,
    *,
    courier: str | None = None,
    facility: str | None = None,
) -> dict[str, Any]:
    """Deliveries, promises, failures, fake deliveries, complaints and ratings of ``delivered``."""
    deliveries = conn.scalar(select(func.count()).select_from(delivered.subquery())) or 0
    # The promise, or a later window the customer chose (tracker.sla.held_to).
    held_to = case(
        (Parcel.appointment_end > Parcel.promised_by, Parcel.appointment_end), else_=Parcel.promised_by
    )
    promised = conn.execute(
        select(
            func.count(Parcel.id),
            func.count(Parcel.id).filter(Parcel.delivered_at <= held_to),
        ).where(Parcel.id.in_(delivered), Parcel.promised_by.is_not(None), Parcel.delivered_at.is_not(None))
    ).one()
    fakes = select(Case.parcel_id, Case.resolution).where(
        Case.parcel_id.in_(delivered), Case.type == CaseType.SUSPECTED_FAKE_DELIVERY
    )
    fakes = (
        fakes.where(Case.courier_code == courier) if courier else fakes.where(Case.facility_code == facility)
    )
    fake_rows = conn.execute(fakes).all()
    by_kind: dict[str, set[int]] = {}
    for parcel_id, kind, payload in conn.execute(
        select(Feedback.parcel_id, Feedback.kind, Feedback.payload).where(
            Feedback.parcel_id.in_(delivered), Feedback.kind.in_(_COMPLAINTS)
        )
    ):
        # A complaint counts under what it is about (courier_conduct, ...); a report under its kind.
        about = (payload or {}).get("about") if kind == FeedbackKind.COMPLAINT else None
        by_kind.setdefault(str(about or FeedbackKind(kind).value), set()).add(parcel_id)
    complaints = sorted((kind, len(parcels)) for kind, parcels in by_kind.items())
    complained = len(set().union(*by_kind.values()))
    return {
        "deliveries": deliveries,
        "on_time": rate(promised[1], promised[0]),
        "failed_attempts": rate(failed, failed + deliveries),
        "suspected_fake_deliveries": rate(len({r.parcel_id for r in fake_rows}), deliveries),
        "confirmed_fake_deliveries": rate(
            len({r.parcel_id for r in fake_rows if r.resolution == "confirmed"}), deliveries
        ),
        "complaints": {
            **rate(complained or 0, deliveries),
            "by_kind": {str(kind): n for kind, n in complaints},
        },
        "ratings": ratings(conn, delivered),
    }


def ratings(conn: Connection, delivered: Select[Any]) -> dict[str, Any]:
    """Average current ratings of these parcels (null averages when none was given).

    The seam with the tracking page: ``ratings`` holds one current rating
    per parcel (:mod:`tracker.tracking.feedback`).
    """
    row = conn.execute(
        select(
            func.count(Rating.id),
            func.avg(Rating.packaging),
            func.avg(Rating.courier),
            func.avg(Rating.speed),
        ).where(Rating.parcel_id.in_(delivered))
    ).one()
    count, *averages = row
    packaging, courier, speed = (round(float(a), 3) if count else None for a in averages)
    return {"count": count, "packaging": packaging, "courier": courier, "speed": speed}
