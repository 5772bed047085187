"""The parcel API's reads and writes, scoped to the caller (store: a ``Connection`` in, never a commit).

Every query starts from :func:`visible`, the one place that says which
parcels a caller may reach (:mod:`tracker.merchants.access` states the
rules): a merchant's own, a courier's of today, everything for ops. A
parcel outside it is :class:`~tracker.core.errors.NotFound` with the same
message as a tracking number nobody knows, on reads and writes alike.

Corrections and cancellations lock the parcel row (``FOR UPDATE``) before
they look at its scans: ingest locks the same row before it stores a scan
(:mod:`tracker.scans.ingest`), so "has not left the warehouse" cannot
change between the check and the write.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Connection, Select, false, func, select, true, union, update

from tracker.cases import store as cases
from tracker.core.errors import NotFound, ValidationFailed, field_errors
from tracker.core.models import Courier, Parcel, RouteStop, ScanEvent, StationPlan
from tracker.core.timefmt import iso_local_or_none
from tracker.core.vocabulary import CaseType, ParcelStatus, Role
from tracker.keys.principal import Principal
from tracker.merchants.access import (
    ParcelCancelled,
    ParcelLeftWarehouse,
    courier_recipient,
    has_left_warehouse,
    merge_patch,
)
from tracker.scans.ingest import IngestPolicy
from tracker.scans.parcels import correct_registration, parcel_record, registration_of
from tracker.scans.schemas import ParcelIn

#: The cases a cancelled parcel can no longer deserve: it is not expected anywhere.
WATCH_CASES = (CaseType.STALE, CaseType.AT_RISK, CaseType.SLA_BREACH)


@dataclass(frozen=True)
class Scope:
    """Whose parcels a request may reach; a courier's also by which local day."""

    role: Role
    merchant: str | None = None
    courier: str | None = None
    day: date | None = None
    zone: tzinfo | None = None

    @classmethod
    def of(cls, principal: Principal, *, now: datetime, zone: tzinfo) -> Scope:
        if principal.role is Role.MERCHANT:
            return cls(Role.MERCHANT, merchant=principal.merchant_code)
        if principal.role is Role.COURIER:
            return cls(
                Role.COURIER, courier=principal.courier_code, day=now.astimezone(zone).date(), zone=zone
            )
        return cls(principal.role)


@dataclass(frozen=True)
class Filters:
    status: ParcelStatus | None = None
    cancelled: bool | None = None
    service_level: str | None = None
    #: Local days, both inclusive, of the registration (else the first scan).
    registered_from: date | None = None
    registered_to: date | None = None
    #: A prefix of the tracking number.
    search: str | None = None


def _day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


def _courier_route_ids(scope: Scope) -> Select[Any]:
    """The parcels on the courier's route today: its stops in its station's latest plan for the day."""
    station = select(Courier.station_code).where(Courier.code == scope.courier).scalar_subquery()
    latest = (
        select(func.max(StationPlan.id))
        .where(StationPlan.facility_code == station, StationPlan.plan_date == scope.day)
        .scalar_subquery()
    )
    return select(RouteStop.parcel_id).where(
        RouteStop.plan_id == latest, RouteStop.courier_code == scope.courier
    )


def _courier_scanned_ids(scope: Scope) -> Select[Any]:
    assert scope.day is not None and scope.zone is not None
    start, end = _day_bounds(scope.day, scope.zone)
    return select(ScanEvent.parcel_id).where(
        ScanEvent.courier_code == scope.courier,
        ScanEvent.occurred_at >= start,
        ScanEvent.occurred_at < end,
        ScanEvent.voided_at.is_(None),
    )


def visible(scope: Scope) -> ColumnElement[bool]:
    """The condition on ``parcels`` of what ``scope`` may reach."""
    if scope.role is Role.MERCHANT:
        return Parcel.merchant_code == scope.merchant if scope.merchant else false()
    if scope.role is Role.COURIER:
        if not scope.courier:
            return false()
        # One IN over the union: the planner hashes the day's few ids and looks parcels up by
        # key, where an OR of two INs walks the parcels table testing each row.
        return Parcel.id.in_(union(_courier_route_ids(scope), _courier_scanned_ids(scope)))
    return true()


def _filtered(statement: Select[Any], scope: Scope, filters: Filters, zone: tzinfo) -> Select[Any]:
    statement = statement.where(visible(scope))
    if filters.status is not None:
        statement = statement.where(Parcel.status == filters.status)
    if filters.cancelled is not None:
        cancelled = Parcel.cancelled_at.is_not(None)
        statement = statement.where(cancelled if filters.cancelled else ~cancelled)
    if filters.service_level is not None:
        statement = statement.where(Parcel.service_level == filters.service_level)
    since = func.coalesce(Parcel.registered_at, Parcel.first_seen_at)
    if filters.registered_from is not None:
        statement = statement.where(since >= _day_bounds(filters.registered_from, zone)[0])
    if filters.registered_to is not None:
        statement = statement.where(since < _day_bounds(filters.registered_to, zone)[1])
    if filters.search:
        # Tracking numbers are letters, digits and dashes (the query checks it): no LIKE wildcards.
        statement = statement.where(Parcel.tracking_number.like(f"{filters.search}%"))
    return statement


_SUMMARY_COLUMNS = (
    Parcel.id,
    Parcel.tracking_number,
    Parcel.merchant_code,
    Parcel.registered,
    Parcel.status,
    Parcel.cancelled_at,
    Parcel.service_level,
    Parcel.customer_tier,
    Parcel.registered_at,
    Parcel.first_seen_at,
    Parcel.ordered_at,
    Parcel.origin_facility,
    Parcel.dest_lat,
    Parcel.dest_lon,
    Parcel.dest_region,
    Parcel.dest_city,
    Parcel.dest_district,
    Parcel.dest_postcode,
    Parcel.dest_address,
    Parcel.recipient_name,
    Parcel.recipient_phone,
    Parcel.pickup_point,
    Parcel.weight_kg,
    Parcel.appointment_start,
    Parcel.appointment_end,
    Parcel.promised_by,
    Parcel.eta_start,
    Parcel.eta_end,
    Parcel.last_event_at,
    Parcel.last_facility,
    Parcel.delivered_at,
)


def list_page(
    conn: Connection, scope: Scope, filters: Filters, *, limit: int, after_id: int | None, zone: tzinfo
) -> tuple[list[dict[str, Any]], int | None]:
    """One page, newest first (by id); and the id to continue after, or None on the last page."""
    statement = _filtered(select(*_SUMMARY_COLUMNS), scope, filters, zone)
    if after_id is not None:
        statement = statement.where(Parcel.id < after_id)
    rows = conn.execute(statement.order_by(Parcel.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    on_route = _on_route(conn, scope, [r.id for r in page])
    more = len(rows) > limit
    return [_summary(r, scope, zone, on_route) for r in page], (page[-1].id if more and page else None)


def export_rows(
    conn: Connection, scope: Scope, filters: Filters, *, zone: tzinfo
) -> Iterator[dict[str, Any]]:
    """Every parcel of the filters, newest first, streamed from the database in chunks."""
    statement = _filtered(select(*_SUMMARY_COLUMNS), scope, filters, zone).order_by(Parcel.id.desc())
    result = conn.execution_options(yield_per=500).execute(statement)
    for chunk in result.partitions():
        on_route = _on_route(conn, scope, [r.id for r in chunk])
        for row in chunk:
            yield _summary(row, scope, zone, on_route)


def _on_route(conn: Connection, scope: Scope, ids: list[int]) -> set[int]:
    if scope.role is not Role.COURIER or not ids or not scope.courier:
        return set()
    route = _courier_route_ids(scope).where(RouteStop.parcel_id.in_(ids))
    return set(conn.scalars(route))


def _summary(r: Any, scope: Scope, zone: tzinfo, on_route: set[int]) -> dict[str, Any]:
    def _iso(value: datetime | None) -> str | None:
        return iso_local_or_none(value, zone)

    recipient: dict[str, str | None] = {"name": r.recipient_name, "phone": r.recipient_phone}
    if scope.role is Role.COURIER:
        recipient = courier_recipient(r.recipient_name, r.recipient_phone, on_route=r.id in on_route)
    return {
        "tracking_number": r.tracking_number,
        "merchant": r.merchant_code,
        "registered": r.registered,
        "status": r.status,
        "cancelled_at": _iso(r.cancelled_at),
        "service_level": r.service_level,
        "customer_tier": r.customer_tier,
        "registered_at": _iso(r.registered_at),
        "first_seen_at": _iso(r.first_seen_at),
        "ordered_at": _iso(r.ordered_at),
        "origin_facility": r.origin_facility,
        "destination": {
            "lat": r.dest_lat,
            "lon": r.dest_lon,
            "region": r.dest_region,
            "city": r.dest_city,
            "district": r.dest_district,
            "postcode": r.dest_postcode,
            "address": r.dest_address,
        },
        "recipient": recipient,
        "pickup_point": r.pickup_point,
        "weight_kg": r.weight_kg,
        "appointment": (
            {"start": _iso(r.appointment_start), "end": _iso(r.appointment_end)}
            if r.appointment_start
            else None
        ),
        "promised_by": _iso(r.promised_by),
        "eta": {"start": _iso(r.eta_start), "end": _iso(r.eta_end)} if r.eta_start else None,
        "last_event_at": _iso(r.last_event_at),
        "last_facility": r.last_facility,
        "delivered_at": _iso(r.delivered_at),
    }


def _not_found(tracking_number: str) -> NotFound:
    # One message for "nobody knows it" and "not yours": the two must be indistinguishable.
    return NotFound(f"no parcel with tracking number {tracking_number}")


def _find(conn: Connection, scope: Scope, tracking_number: str, *, lock: bool = False) -> Any:
    statement = select(Parcel).where(Parcel.tracking_number == tracking_number, visible(scope))
    if lock:
        statement = statement.with_for_update()
    row = conn.execute(statement).first()
    if row is None:
        raise _not_found(tracking_number)
    return row


def read(conn: Connection, scope: Scope, tracking_number: str, *, zone: tzinfo) -> dict[str, Any]:
    """The parcel's record as ``scope`` may see it (:class:`tracker.scans.schemas.ParcelRecordOut`)."""
    row = _find(conn, scope, tracking_number)
    record = parcel_record(conn, tracking_number, zone=zone)
    if scope.role in (Role.OPS, Role.ADMIN):
        return record
    record["cases"] = None  # ops' judgements about couriers and facilities, not the merchant's
    if scope.role is Role.COURIER:
        on_route = bool(_on_route(conn, scope, [row.id]))
        record["recipient"] = courier_recipient(row.recipient_name, row.recipient_phone, on_route=on_route)
        record["events"] = [e for e in record["events"] if e.get("courier_id") == scope.courier]
    return record


def _check_changeable(conn: Connection, row: Any) -> None:
    if row.cancelled_at is not None:
        raise ParcelCancelled(f"parcel {row.tracking_number} is cancelled")
    types = conn.scalars(
        select(ScanEvent.type).where(ScanEvent.parcel_id == row.id, ScanEvent.voided_at.is_(None)).distinct()
    )
    if has_left_warehouse(str(t) for t in types):
        raise ParcelLeftWarehouse(
            f"parcel {row.tracking_number} has left the warehouse: its registration can no longer be"
            " changed or cancelled"
        )


def correct(
    conn: Connection,
    scope: Scope,
    tracking_number: str,
    patch: dict[str, Any],
    *,
    now: datetime,
    policy: IngestPolicy,
) -> None:
    """Apply a JSON merge patch to the parcel's registration while it is still in the warehouse.

    The merged registration is checked as a whole by the registration's own
    rules (a 422 names the field as the patch spells it), and the promise is
    computed again from it (:func:`tracker.scans.parcels.correct_registration`).
    """
    row = _find(conn, scope, tracking_number, lock=True)
    _check_changeable(conn, row)
    merged = merge_patch(registration_of(row), patch)
    try:
        parcel = ParcelIn.model_validate(merged)
    except ValidationError as exc:
        raise ValidationFailed("the corrected registration is not valid", field_errors(exc)) from None
    correct_registration(conn, row.id, parcel, now=now, policy=policy)


def cancel(conn: Connection, scope: Scope, tracking_number: str, *, now: datetime) -> bool:
    """Cancel the parcel while it is still in the warehouse; False when it already was (a replay).

    The sweep stops watching it (``next_check_at`` cleared, its ETA gone) and
    the live stale, at-risk and breach cases close now; a scan that still
    comes makes it due, and the sweep then only closes again
    (:mod:`tracker.sweep.run`). Routing leaves cancelled parcels out.
    """
    row = _find(conn, scope, tracking_number, lock=True)
    if row.cancelled_at is not None:
        return False
    _check_changeable(conn, row)
    conn.execute(
        update(Parcel)
        .where(Parcel.id == row.id)
        .values(
            cancelled_at=now,
            next_check_at=None,
            eta_start=None,
            eta_end=None,
            eta_source=None,
            updated_at=now,
        )
    )
    for case_type in WATCH_CASES:
        cases.close_case(conn, row.id, case_type, now=now, why="the merchant cancelled the parcel")
    return True
