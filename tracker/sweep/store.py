"""What the sweep reads and writes; the caller owns the transaction.

* :func:`claim` takes a chunk of due parcels, ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL so that two sweeps take disjoint chunks;
* :func:`observed_estimates` measures stage durations over the last week;
* :func:`delivery_history` reads how long the week's door deliveries took from
  each of their scans; :class:`HistoryCache` keeps it for a sweeper's next runs;
* :func:`apply` writes a chunk's :class:`~tracker.sweep.judge.Judgement` s:
  case changes one by one (they are few), ETAs and due times in one bulk
  update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, select

from tracker.cases import store as cases
from tracker.core import bulk
from tracker.core.models import Case, Facility, Parcel, ScanEvent, StationPlan
from tracker.core.vocabulary import FINAL_STATUSES, CaseState, EventType, FacilityKind, ParcelStatus
from tracker.notify import outbox
from tracker.scans.ingest import STATE_COLUMNS
from tracker.scans.timeline import STATUS_OF
from tracker.sla import DEFAULT_STAGE_ESTIMATES, StageEstimate
from tracker.sla.eta import stage_estimates
from tracker.sla.eta_shown import DeliveryHistory, Passage
from tracker.sweep.judge import Judgement

#: How far back delivered parcels teach the stage estimates.
HISTORY = timedelta(days=7)


@dataclass
class SweepReport:
    """What one sweep did; ``opened``/``closed`` count the SLA cases and the detectors' alike."""

    examined: int = 0
    opened: int = 0
    closed: int = 0
    failed: int = 0
    seconds: float = 0.0
    chunks: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "examined": self.examined,
            "cases_opened": self.opened,
            "cases_closed": self.closed,
            "failed": self.failed,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }


SWEEP_COLUMNS = (
    *STATE_COLUMNS,
    Parcel.status,
    Parcel.first_seen_at,
    Parcel.promised_by,
    Parcel.appointment_end,
    Parcel.next_check_at,
    Parcel.eta_start,
    Parcel.eta_end,
    Parcel.eta_source,
    Parcel.cancelled_at,
    Parcel.customer_tier,
)


def claim(conn: Connection, now: datetime, chunk: int) -> list[Any]:
    query = (
        select(*SWEEP_COLUMNS)
        .where(Parcel.next_check_at.is_not(None), Parcel.next_check_at <= now)
        .order_by(Parcel.next_check_at)
        .limit(chunk)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return list(conn.execute(query))


def observed_estimates(conn: Connection, now: datetime) -> dict[str, StageEstimate]:
    """Stage durations of parcels delivered in the last week (defaults where thin)."""
    # A correlated subquery per recent parcel (the (parcel_id, occurred_at)
    # index), not a GROUP BY over every out_for_delivery scan ever stored:
    # the cost stays bounded as history grows.
    ofd_at = (
        select(func.min(ScanEvent.occurred_at))
        .where(
            ScanEvent.parcel_id == Parcel.id,
            ScanEvent.type == EventType.OUT_FOR_DELIVERY,
            ScanEvent.voided_at.is_(None),
        )
        .scalar_subquery()
    )
    rows = conn.execute(
        select(Parcel.first_event_at, Parcel.outbound_at, Parcel.delivered_at, ofd_at)
        .where(and_(Parcel.status == ParcelStatus.DELIVERED, Parcel.delivered_at >= now - HISTORY))
        .order_by(Parcel.delivered_at.desc())
        .limit(5000)
    ).all()
    history: dict[str, list[timedelta]] = {"info_received": [], "in_transit": [], "out_for_delivery": []}
    for first, outbound, delivered, ofd_at in rows:
        if first and outbound and outbound >= first:
            history["info_received"].append(outbound - first)
        if outbound and ofd_at and ofd_at >= outbound:
            history["in_transit"].append(ofd_at - outbound)
        if ofd_at and delivered and delivered >= ofd_at:
            history["out_for_delivery"].append(delivered - ofd_at)
    return stage_estimates(history, defaults=DEFAULT_STAGE_ESTIMATES)


#: Scans that put a parcel somewhere on its way to the door: the positions ETAs are learned from.
POSITION_TYPES = (
    EventType.CREATED,
    EventType.PICKED_UP,
    EventType.OUTBOUND,
    EventType.ARRIVED,
    EventType.DEPARTED,
    EventType.OUT_FOR_DELIVERY,
    EventType.DELIVERY_FAILED,
)
#: Statuses of parcels still on their way.
ON_THE_WAY = tuple(s for s in ParcelStatus if s not in FINAL_STATUSES)
#: At most this many recent deliveries teach the ETAs (the newest first).
HISTORY_PARCELS = 5000


def delivery_history(conn: Connection, now: datetime, zone: ZoneInfo) -> DeliveryHistory:
    """How long parcels delivered to the door in the last week took from each of their scans.

    Three statements: the newest :data:`HISTORY_PARCELS` door deliveries
    (``ix`` on status and delivery time), as many door parcels still on their
    way, heard from in the week (how long their legs take at least; by their
    statuses, so the live parcels only are read), then their position scans by
    parcel id; and the facilities (where they are: a line-haul's hours
    follow its distance; and their city: a far city's own facilities are
    told by the other cities') and the stations' rounds (:func:`station_rounds`).
    """
    recent = conn.execute(
        select(Parcel.id, Parcel.service_level, Parcel.delivered_at, Parcel.dest_city)
        .where(
            Parcel.status == ParcelStatus.DELIVERED,
            Parcel.delivered_at >= now - HISTORY,
            Parcel.pickup_point.is_(None),
        )
        .order_by(Parcel.delivered_at.desc())
        .limit(HISTORY_PARCELS)
    ).all()
    delivered = {pid: (level, at, city) for pid, level, at, city in recent}
    # Parcels still on their way say how long a slow (or new) leg takes at least.
    on_way = conn.execute(
        select(Parcel.id, Parcel.service_level, Parcel.dest_city)
        .where(
            # IN, not NOT IN: the status index finds these; no index holds last_event_at.
            Parcel.status.in_(ON_THE_WAY),
            Parcel.last_event_at >= now - HISTORY,
            Parcel.pickup_point.is_(None),
        )
        .order_by(Parcel.last_event_at.desc())
        .limit(HISTORY_PARCELS)
    ).all()
    delivered.update({pid: (level, None, city) for pid, level, city in on_way if pid not in delivered})
    passages: list[Passage] = []
    ids = list(delivered)
    for start in range(0, len(ids), 1000):
        rows = conn.execute(
            select(ScanEvent.parcel_id, ScanEvent.type, ScanEvent.facility_code, ScanEvent.occurred_at).where(
                ScanEvent.parcel_id.in_(ids[start : start + 1000]),
                ScanEvent.type.in_(POSITION_TYPES),
                ScanEvent.voided_at.is_(None),
            )
        )
        scans: dict[int, list[tuple[datetime, str, str | None]]] = {}
        for pid, type_, facility, at in rows:
            scans.setdefault(pid, []).append((at, str(type_), facility))
        for pid, seen in scans.items():
            level, delivered_at, city = delivered[pid]
            seen.sort(key=lambda scan: scan[0])
            for i, (at, type_, facility) in enumerate(seen):
                status = STATUS_OF[EventType(type_)]
                if status is None or (delivered_at is not None and at > delivered_at):
                    continue
                after = seen[i + 1] if i + 1 < len(seen) else None
                went = STATUS_OF[EventType(after[1])] if after is not None else None
                passages.append(
                    Passage(
                        type_, status.value, facility, level, at, delivered_at, city,
                        after[0] if after is not None else None,
                        (after[1], went.value, after[2]) if after is not None and went is not None else None,
                    )
                )  # fmt: skip
    facilities = conn.execute(
        select(Facility.code, Facility.lat, Facility.lon, Facility.kind, Facility.city)
    ).all()
    places = {code: (lat, lon, FacilityKind(kind).value) for code, lat, lon, kind, _ in facilities}
    cities = {code: city for code, *_, city in facilities}
    rounds = station_rounds(conn, now, zone)
    return DeliveryHistory.from_passages(passages, zone, now=now, rounds=rounds, places=places, cities=cities)


def station_rounds(conn: Connection, now: datetime, zone: ZoneInfo) -> dict[str, tuple[float, ...]]:
    """When each station's couriers go out: the local clock times (to the minute) of its route plans.

    A station plans a round when its couriers leave, with the parcels there
    then. Over the last week, a clock time counts as a round when the station
    planned at it on at least half the days it planned at all: a plan made
    again at an odd hour (a courier off sick) is no round of the timetable.
    """
    rows = conn.execute(
        select(StationPlan.facility_code, StationPlan.created_at).where(
            StationPlan.plan_date >= (now - HISTORY).astimezone(zone).date(),
            StationPlan.created_at <= now,
        )
    )
    days: dict[str, dict[int, set[Any]]] = {}
    for station, created in rows:
        local = created.astimezone(zone)
        days.setdefault(station, {}).setdefault(local.hour * 60 + local.minute, set()).add(local.date())
    rounds = {}
    for station, clocks in days.items():
        planned_days = len(set().union(*clocks.values()))
        kept = sorted(60.0 * minute for minute, seen in clocks.items() if 2 * len(seen) >= planned_days)
        rounds[station] = tuple(kept)
    return rounds


class HistoryCache:
    """The delivery history a sweeper read last, reused while it is younger than ``max_age``.

    Reading it takes the week's newest :data:`HISTORY_PARCELS` deliveries and
    all their position scans: most of an idle sweep (``scripts/bench_sweep.py``),
    once a minute by default, though a minute adds a few deliveries to thousands
    and barely moves the durations they teach. So a sweeper's loop reads it
    again once it is ``max_age`` old (``TRACKER_SWEEP_HISTORY_MAX_AGE``), by the
    sweep's own ``now``: a clock that went back, or another zone, reads it again
    too. ``max_age`` 0 reads it every sweep. One per process (one sweeper's loop);
    not shared between threads.
    """

    def __init__(self, max_age: timedelta) -> None:
        self.max_age = max_age
        self._read: tuple[datetime, ZoneInfo, DeliveryHistory] | None = None

    def get(self, conn: Connection, now: datetime, zone: ZoneInfo) -> DeliveryHistory:
        if self._read is not None:
            read_at, read_zone, history = self._read
            if read_zone == zone and read_at <= now < read_at + self.max_age:
                return history
        history = delivery_history(conn, now, zone)
        self._read = (now, zone, history)
        return history


def live_cases(conn: Connection, parcel_ids: list[int]) -> set[tuple[int, str]]:
    rows = conn.execute(
        select(Case.parcel_id, Case.type).where(
            Case.parcel_id.in_(parcel_ids), Case.state != CaseState.RESOLVED
        )
    )
    return {(pid, str(type_)) for pid, type_ in rows}


def apply(
    conn: Connection, rows: list[Any], verdicts: dict[int, Judgement], now: datetime, report: SweepReport
) -> None:
    """Write a chunk's decisions: case changes one by one (they are few), the rest in bulk."""
    live = live_cases(conn, [row.id for row in rows])
    facility = {row.id: row.last_facility for row in rows}
    for pid, verdict in verdicts.items():
        for case_type, why in verdict.close:
            if (pid, case_type.value) in live:
                report.closed += cases.close_case(conn, pid, case_type, now=now, why=why)
        for case_type, reasons in verdict.open:
            _, new = cases.open_case(conn, pid, case_type, reasons, now=now, facility=facility[pid])
            report.opened += new
    bulk.update_parcels(
        conn,
        {
            pid: {
                "eta_start": v.eta[0] if v.eta else None,
                "eta_end": v.eta[1] if v.eta else None,
                "eta_source": v.eta_source if v.eta else None,
                "next_check_at": v.next_check_at,
            }
            for pid, v in verdicts.items()
        },
        updated_at=now,
    )
    outbox.enqueue_sweep_changes(conn, rows, verdicts, live, now=now)
