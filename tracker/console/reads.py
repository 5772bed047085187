"""What the console's pages read that no other store already answers (store).

The case queue (filtered, in the order of :mod:`tracker.console.queue`),
parcel search by tracking number or the last four digits of the phone, a
parcel's feedback, rating and route stop, the list of station plans and
the coordinates of a plan's stops for its map. Every other page reads
through the domain stores (cases, detection's scorecards and hotspots,
routing's plans, keys). Functions take a ``Connection`` and never begin or commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, select

from tracker.cases.priority import SEVERITY
from tracker.console.queue import PAGE_SIZE, STATUSES, TIER_RANK, QueueFilter
from tracker.core.models import (
    Case,
    Courier,
    Facility,
    Feedback,
    Parcel,
    Rating,
    RouteStop,
    StationPlan,
)


def case_queue(conn: Connection, filters: QueueFilter, *, now: datetime) -> tuple[list[Any], bool]:
    """One page of the queue and whether another follows."""
    tier_rank = case({t.value: r for t, r in TIER_RANK.items()}, value=Parcel.customer_tier, else_=9)
    severity = case({t.value: r for t, r in SEVERITY.items()}, value=Case.type, else_=len(SEVERITY))
    statement = (
        select(
            Case.id,
            Case.type,
            Case.state,
            Case.score,
            Case.facility_code,
            Case.courier_code,
            Case.opened_at,
            Case.due_at,
            Case.assignee,
            Case.reasons,
            Parcel.tracking_number,
            Parcel.customer_tier,
        )
        .join(Parcel, Parcel.id == Case.parcel_id)
        .where(Case.state.in_(STATUSES[filters.status]))
    )
    if filters.type is not None:
        statement = statement.where(Case.type == filters.type)
    if filters.facility:
        statement = statement.where(Case.facility_code == filters.facility)
    if filters.courier:
        statement = statement.where(Case.courier_code == filters.courier)
    if filters.tier is not None:
        statement = statement.where(Parcel.customer_tier == filters.tier)
    before = filters.opened_before(now)
    if before is not None:
        statement = statement.where(Case.opened_at <= before)
    statement = (
        statement.order_by(tier_rank, severity, Case.opened_at, Case.id)
        .offset((filters.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    rows = conn.execute(statement).all()
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


def case_row(conn: Connection, case_id: int) -> Any | None:
    return conn.execute(
        select(*Case.__table__.c, Parcel.tracking_number, Parcel.customer_tier, Parcel.recipient_name)
        .join(Parcel, Parcel.id == Case.parcel_id)
        .where(Case.id == case_id)
    ).first()


def find_parcels(conn: Connection, *, tracking_number: str | None, phone_suffix: str | None) -> list[Any]:
    """Parcels by exact tracking number, or whose recipient's phone ends in the four digits (50 at most)."""
    statement = select(
        Parcel.tracking_number,
        Parcel.status,
        Parcel.recipient_name,
        Parcel.recipient_phone,
        Parcel.dest_city,
        Parcel.dest_district,
        Parcel.updated_at,
    )
    if tracking_number:
        statement = statement.where(Parcel.tracking_number == tracking_number)
    elif phone_suffix:
        # A scan of the column: ops searches are rare and a phone index would not serve a suffix.
        statement = statement.where(Parcel.recipient_phone.like(f"%{phone_suffix}"))
    else:
        return []
    return list(conn.execute(statement.order_by(Parcel.updated_at.desc()).limit(50)))


def parcel_id(conn: Connection, tracking_number: str) -> int | None:
    return conn.scalar(select(Parcel.id).where(Parcel.tracking_number == tracking_number))


def parcel_feedback(conn: Connection, parcel: int) -> tuple[list[Any], Any | None]:
    """The customer's reports, newest first, and the current rating."""
    reports = list(
        conn.execute(
            select(Feedback.kind, Feedback.payload, Feedback.created_at, Feedback.case_id)
            .where(Feedback.parcel_id == parcel)
            .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        )
    )
    rating = conn.execute(
        select(Rating.packaging, Rating.courier, Rating.speed, Rating.comment, Rating.updated_at).where(
            Rating.parcel_id == parcel
        )
    ).first()
    return reports, rating


def parcel_route_stop(conn: Connection, parcel: int) -> Any | None:
    """The parcel's place in the latest plan that included it."""
    return conn.execute(
        select(
            RouteStop.plan_id,
            RouteStop.courier_code,
            RouteStop.sequence,
            RouteStop.eta_start,
            RouteStop.eta_end,
            RouteStop.reason,
            StationPlan.facility_code,
            StationPlan.plan_date,
        )
        .join(StationPlan, StationPlan.id == RouteStop.plan_id)
        .where(RouteStop.parcel_id == parcel)
        .order_by(RouteStop.plan_id.desc())
        .limit(1)
    ).first()


def station_plans(conn: Connection, *, facility: str | None, limit: int = 50) -> list[Any]:
    statement = select(
        StationPlan.id,
        StationPlan.facility_code,
        StationPlan.plan_date,
        StationPlan.created_at,
        StationPlan.requested_by,
        StationPlan.solver_status,
        StationPlan.served,
        StationPlan.left_out,
        StationPlan.vehicles_used,
        StationPlan.distance_m,
    )
    if facility:
        statement = statement.where(StationPlan.facility_code == facility)
    return list(conn.execute(statement.order_by(StationPlan.id.desc()).limit(limit)))


def plan_exists(conn: Connection, plan_id: int) -> bool:
    return conn.scalar(select(StationPlan.id).where(StationPlan.id == plan_id)) is not None


def plan_map(conn: Connection, plan_id: int) -> dict[str, Any]:
    """The station and each courier's stops in order, with coordinates, for the map."""
    station = conn.execute(
        select(Facility.code, Facility.name, Facility.lat, Facility.lon)
        .join(StationPlan, StationPlan.facility_code == Facility.code)
        .where(StationPlan.id == plan_id)
    ).one()
    rows = conn.execute(
        select(
            RouteStop.courier_code,
            RouteStop.sequence,
            Parcel.tracking_number,
            Parcel.dest_lat,
            Parcel.dest_lon,
        )
        .join(Parcel, Parcel.id == RouteStop.parcel_id)
        .where(RouteStop.plan_id == plan_id, RouteStop.courier_code.is_not(None))
        .order_by(RouteStop.courier_code, RouteStop.sequence)
    )
    routes: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.dest_lat is None or r.dest_lon is None:
            continue
        routes.setdefault(r.courier_code, []).append(
            {
                "sequence": r.sequence,
                "tracking_number": r.tracking_number,
                "lat": r.dest_lat,
                "lon": r.dest_lon,
            }
        )
    return {
        "station": {"code": station.code, "name": station.name, "lat": station.lat, "lon": station.lon},
        "routes": [{"courier_id": c, "stops": s} for c, s in routes.items()],
    }


def directory(conn: Connection) -> tuple[list[Any], list[Any]]:
    """Couriers and facilities, for the scorecards' pickers."""
    couriers = list(
        conn.execute(select(Courier.code, Courier.name, Courier.station_code).order_by(Courier.code))
    )
    facilities = list(
        conn.execute(select(Facility.code, Facility.name, Facility.kind).order_by(Facility.code))
    )
    return couriers, facilities
