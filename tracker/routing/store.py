"""Route plans in the database: due parcels, storing a plan, reading plans and routes (store).

Every function takes a SQLAlchemy ``Connection`` and runs its statements on
it; none begins, commits or opens anything: the caller owns the transaction
(:mod:`tracker.routing.service`, for :mod:`tracker.routing.views` and
:mod:`tracker.routing.commands`). The rules (which window, which ETA) are
in the pure :mod:`tracker.routing.planning`.

"Due out" (:func:`due_parcels`) means: not delivered, no pickup point (those
go to the pickup point in bulk, not to a door), and the scan that set the
parcel's status put it at the station: ``arrived`` there, or
``out_for_delivery`` / ``delivery_failed`` there or by one of its couriers (a
courier's failed-attempt scan usually names no facility). A ``damaged`` scan
sets no status, so it changes nothing here.

Storing a plan (:func:`store_plan`) writes a ``route_plans`` row (with the
problem in the form of :func:`tracker.routing.schemas.problem_json`, so
``tracker routes optimize`` can solve it again), one ``route_stops`` row per
parcel (a courier's n-th stop with its ETA, or left out and why), each served
parcel's ETA window on the parcel with ``eta_source = "route"`` (the sweep
keeps it instead of its stage estimate, see :func:`tracker.sweep.run.judge`)
and the plan's distance for ``/metrics``.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, insert, select

from tracker.core import bulk
from tracker.core.errors import NotFound
from tracker.core.models import Courier, Facility, Parcel, RouteStop, ScanEvent, StationPlan
from tracker.core.service_state import record_state
from tracker.core.timefmt import iso_local, iso_local_or_none
from tracker.core.vocabulary import CustomerTier, EventType, ParcelStatus
from tracker.routing.model import Location
from tracker.routing.plan import RoutePlan
from tracker.routing.planning import (
    ETA_AFTER,
    ETA_BEFORE,
    Candidate,
    PlanOptions,
    StationDay,
    build_day,
    eta_window,
)
from tracker.routing.schemas import problem_json

#: ``service_state`` key of the last stored plan's distance (``tracker_route_objective_meters``).
OBJECTIVE_STATE = "route.last_objective"

#: Statuses and status-setting scans of a parcel waiting at (or out from) a station.
_AT_STATION_STATUSES = (ParcelStatus.IN_TRANSIT, ParcelStatus.OUT_FOR_DELIVERY, ParcelStatus.FAILED_ATTEMPT)
_AT_STATION_SCANS = (EventType.ARRIVED, EventType.OUT_FOR_DELIVERY, EventType.DELIVERY_FAILED)


def due_parcels(conn: Connection, facility: str) -> list[Candidate]:
    """Parcels due out of ``facility`` (see the module docstring), in id order."""
    # The status index narrows the scan to parcels on the move; the join to the
    # scan that set each one's status says where that happened.
    place = func.coalesce(ScanEvent.facility_code, Courier.station_code)
    rows = conn.execute(
        select(
            Parcel.id,
            Parcel.tracking_number,
            Parcel.dest_lat,
            Parcel.dest_lon,
            Parcel.weight_kg,
            Parcel.customer_tier,
            Parcel.appointment_start,
            Parcel.appointment_end,
            Parcel.promised_by,
            Parcel.eta_source,
            Parcel.status,
            Parcel.hold_at,
            ScanEvent.courier_code,
        )
        .join(ScanEvent, ScanEvent.event_id == Parcel.status_event_id)
        .outerjoin(Courier, Courier.code == ScanEvent.courier_code)
        .where(
            Parcel.status.in_(_AT_STATION_STATUSES),
            Parcel.status_event_type.in_(_AT_STATION_SCANS),
            Parcel.delivered_at.is_(None),
            Parcel.pickup_point.is_(None),
            # Cancelled by its merchant (tracker.merchants): nobody is to deliver it.
            Parcel.cancelled_at.is_(None),
            place == facility,
            # Re-derivation keeps a voided scan from being the status event; this says so here too.
            ScanEvent.voided_at.is_(None),
        )
        .order_by(Parcel.id)
    )
    return [
        Candidate(
            parcel_id=r.id,
            tracking_number=r.tracking_number,
            lat=r.dest_lat,
            lon=r.dest_lon,
            weight_kg=r.weight_kg or 0.0,
            tier="vip" if r.customer_tier == CustomerTier.VIP else "normal",
            appointment_start=r.appointment_start,
            appointment_end=r.appointment_end,
            promised_by=r.promised_by,
            route_eta=r.eta_source == "route",
            carried_by=r.courier_code if r.status == ParcelStatus.OUT_FOR_DELIVERY else None,
            # Only while it waits at the station after the failed attempt: once out again, it is out.
            hold_at=r.hold_at if r.status == ParcelStatus.FAILED_ATTEMPT else None,
        )
        for r in rows
    ]


def read_day(
    conn: Connection, facility: str, options: PlanOptions, *, now: datetime, zone: ZoneInfo
) -> StationDay:
    """The station, its couriers and its due parcels, laid out by :func:`.planning.build_day`."""
    station = conn.execute(select(Facility.lat, Facility.lon).where(Facility.code == facility)).first()
    if station is None:
        raise NotFound(f"no facility with code {facility}")
    couriers = list(
        conn.scalars(select(Courier.code).where(Courier.station_code == facility).order_by(Courier.code))
    )
    candidates = due_parcels(conn, facility)
    return build_day(
        facility, Location(station.lat, station.lon), couriers, candidates, options, now=now, zone=zone
    )


def store_plan(
    conn: Connection, day: StationDay, plan: RoutePlan, *, now: datetime, requested_by: str
) -> int:
    """Write the plan, its stops and the parcels' ETAs (see the module docstring); the plan's id."""
    # Plans of one station are stored one at a time. Without this lock, two
    # plans solved at once could take their ids in one order and write their
    # ETAs in the other, and "the latest plan" would disagree with the ETAs
    # customers see. (SQLite's writers queue anyway.)
    conn.execute(select(Facility.id).where(Facility.code == day.facility).with_for_update(key_share=True))
    # A parcel delivered while the solver ran keeps its stop in the plan as it
    # was solved, but gets no ETA. Locked in id order, as ingest locks them.
    ids = sorted(c.parcel_id for c in day.parcels.values())
    live = set(
        conn.scalars(
            select(Parcel.id)
            .where(Parcel.id.in_(ids), Parcel.delivered_at.is_(None))
            .order_by(Parcel.id)
            .with_for_update(key_share=True)
        )
    )
    left_out = [*day.left_out, *((x.stop_id, x.reason, x.detail) for x in plan.left_out)]
    totals = plan.totals
    plan_id: int = conn.execute(
        insert(StationPlan)
        .values(
            facility_code=day.facility,
            plan_date=day.day,
            created_at=now,
            requested_by=requested_by,
            solver_status=plan.solver_status,
            solve_seconds=plan.solve_seconds,
            distance_m=totals.distance_m,
            duration_s=totals.duration_s,
            served=totals.served,
            left_out=len(left_out),
            vehicles_used=totals.vehicles_used,
            problem=problem_json(day.problem),
            result=plan.to_dict(),
        )
        .returning(StationPlan.id)
    ).scalar_one()

    windows = {s.id: s.window for s in day.problem.stops}
    rows: list[dict[str, Any]] = []
    updates: dict[int, dict[str, Any]] = {}
    for route in plan.routes:
        for sequence, stop in enumerate(route.stops, start=1):
            parcel = day.parcels[stop.stop_id]
            window = windows[stop.stop_id]
            eta_start, eta_end = eta_window(
                stop.service_start, leaves=route.start, opens=window.start, closes=window.end
            )
            rows.append(
                _stop_row(
                    plan_id,
                    parcel.parcel_id,
                    courier_code=route.vehicle_id,
                    sequence=sequence,
                    arrival=stop.arrival,
                    service_start=stop.service_start,
                    departure=stop.departure,
                    eta_start=eta_start,
                    eta_end=eta_end,
                )
            )
            if parcel.parcel_id in live:
                updates[parcel.parcel_id] = _eta(eta_start, eta_end, "route", now)
    for tracking_number, reason, detail in left_out:
        parcel = day.parcels[tracking_number]
        rows.append(_stop_row(plan_id, parcel.parcel_id, reason=reason, detail=detail))
        if parcel.route_eta and parcel.parcel_id in live:
            # An earlier plan's ETA no longer holds: the sweep estimates again at once.
            updates[parcel.parcel_id] = _eta(None, None, None, now)
    if rows:
        conn.execute(insert(RouteStop), rows)
    bulk.update_parcels(conn, updates, updated_at=now)
    record_state(conn, OBJECTIVE_STATE, now, totals.distance_m)
    return plan_id


def _stop_row(plan_id: int, parcel_id: int, **values: Any) -> dict[str, Any]:
    row = dict.fromkeys(
        (
            "courier_code",
            "sequence",
            "arrival",
            "service_start",
            "departure",
            "eta_start",
            "eta_end",
            "reason",
            "detail",
        )
    )
    row.update(values, plan_id=plan_id, parcel_id=parcel_id)
    return row


def _eta(start: datetime | None, end: datetime | None, source: str | None, now: datetime) -> dict[str, Any]:
    # Due now: the sweep re-judges at-risk against the new ETA.
    return {"eta_start": start, "eta_end": end, "eta_source": source, "next_check_at": now}


def _window(start: datetime | None, end: datetime | None, zone: tzinfo) -> dict[str, str | None] | None:
    if start is None and end is None:
        return None
    return {"start": iso_local_or_none(start, zone), "end": iso_local_or_none(end, zone)}


def _stored(value: str | None, zone: tzinfo) -> str | None:
    """A time of a stored ``RoutePlan.to_dict()`` in the API's one form."""
    return iso_local(datetime.fromisoformat(value), zone) if value else None


def plan_record(conn: Connection, plan_id: int, *, zone: tzinfo) -> dict[str, Any]:
    """A stored plan: each courier's route in order with ETAs, the parcels left out; times in ``zone``."""

    def _iso(value: datetime | None) -> str | None:
        return iso_local_or_none(value, zone)

    plan = conn.execute(select(StationPlan).where(StationPlan.id == plan_id)).one()
    stops = conn.execute(
        select(RouteStop, Parcel.tracking_number)
        .join(Parcel, Parcel.id == RouteStop.parcel_id)
        .where(RouteStop.plan_id == plan_id)
        .order_by(RouteStop.courier_code, RouteStop.sequence, RouteStop.id)
    ).all()
    by_courier: dict[str, list[dict[str, Any]]] = {}
    left_out = []
    for s in stops:
        if s.courier_code is None:
            left_out.append({"tracking_number": s.tracking_number, "reason": s.reason, "detail": s.detail})
            continue
        by_courier.setdefault(s.courier_code, []).append(
            {
                "sequence": s.sequence,
                "tracking_number": s.tracking_number,
                "arrival": _iso(s.arrival),
                "service_start": _iso(s.service_start),
                "departure": _iso(s.departure),
                "eta": _window(s.eta_start, s.eta_end, zone),
            }
        )
    # ``result`` is a RoutePlan.to_dict(): the routes' summaries as solved.
    routes = [
        {
            "courier_id": r["vehicle_id"],
            "start": _stored(r["start"], zone),
            "end": _stored(r["end"], zone),
            "distance_m": r["distance_m"],
            "duration_s": r["duration_s"],
            "load_parcels": r["load_parcels"],
            "load_kg": r["load_kg"],
            "stops": by_courier.get(r["vehicle_id"], []),
        }
        for r in plan.result["routes"]
    ]
    return {
        "plan_id": plan.id,
        "facility": plan.facility_code,
        "date": plan.plan_date.isoformat(),
        "created_at": _iso(plan.created_at),
        "requested_by": plan.requested_by,
        "solver_status": plan.solver_status,
        "solve_seconds": plan.solve_seconds,
        "eta_margin": {"before_s": ETA_BEFORE.total_seconds(), "after_s": ETA_AFTER.total_seconds()},
        "totals": {**plan.result["totals"], "left_out": plan.left_out},
        "routes": routes,
        "left_out": left_out,
    }


def courier_route(conn: Connection, courier: str, day: date, *, zone: tzinfo) -> dict[str, Any]:
    """The courier's stops on ``day`` from the latest plan of the courier's station (times in ``zone``)."""
    station = conn.scalar(select(Courier.station_code).where(Courier.code == courier))
    if station is None:
        raise NotFound(f"no courier with code {courier} (or not based at a station)")
    plan = conn.execute(
        select(StationPlan.id, StationPlan.created_at, StationPlan.result)
        .where(StationPlan.facility_code == station, StationPlan.plan_date == day)
        .order_by(StationPlan.id.desc())
        .limit(1)
    ).first()
    if plan is None:
        raise NotFound(f"no route planned at {station} on {day}")
    route = next((r for r in plan.result["routes"] if r["vehicle_id"] == courier), None)
    rows = conn.execute(
        select(
            RouteStop.sequence,
            RouteStop.arrival,
            RouteStop.service_start,
            RouteStop.departure,
            RouteStop.eta_start,
            RouteStop.eta_end,
            Parcel.tracking_number,
            Parcel.status,
            Parcel.dest_lat,
            Parcel.dest_lon,
            Parcel.dest_district,
            Parcel.dest_address,
            Parcel.recipient_name,
            Parcel.recipient_phone,
            Parcel.customer_tier,
            Parcel.weight_kg,
            Parcel.appointment_start,
            Parcel.appointment_end,
            Parcel.promised_by,
        )
        .join(Parcel, Parcel.id == RouteStop.parcel_id)
        .where(RouteStop.plan_id == plan.id, RouteStop.courier_code == courier)
        .order_by(RouteStop.sequence)
    ).all()
    return {
        "courier_id": courier,
        "facility": station,
        "date": day.isoformat(),
        "plan_id": plan.id,
        "planned_at": iso_local(plan.created_at, zone),
        "start": _stored(route["start"], zone) if route and route["stops"] else None,
        "end": _stored(route["end"], zone) if route and route["stops"] else None,
        "distance_m": route["distance_m"] if route else 0.0,
        "stops": [_courier_stop(row, zone) for row in rows],
    }


def _courier_stop(s: Any, zone: tzinfo) -> dict[str, Any]:
    # The courier's own work list: unmasked, as on the label.
    def _iso(value: datetime | None) -> str | None:
        return iso_local_or_none(value, zone)

    return {
        "sequence": s.sequence,
        "tracking_number": s.tracking_number,
        "status": s.status,
        "arrival": _iso(s.arrival),
        "service_start": _iso(s.service_start),
        "departure": _iso(s.departure),
        "eta": _window(s.eta_start, s.eta_end, zone),
        "destination": {
            "lat": s.dest_lat,
            "lon": s.dest_lon,
            "district": s.dest_district,
            "address": s.dest_address,
        },
        "recipient": {"name": s.recipient_name, "phone": s.recipient_phone},
        "customer_tier": s.customer_tier,
        "weight_kg": s.weight_kg,
        "appointment": _window(s.appointment_start, s.appointment_end, zone),
        "promised_by": _iso(s.promised_by),
    }
