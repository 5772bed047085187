"""What a scan settles at once: a parcel reported lost, an appointment kept or missed (a detector).

Runs in the sweep on each chunk of due parcels (a parcel that gets a scan is
due at once, so this follows the scan by one sweep interval), in the chunk's
transaction:

* An ``exception`` scan with reason ``lost`` opens a ``lost`` case naming the
  scan, its facility and courier. A ``lost`` case resolved by a person is not
  opened again for the same scan; a later ``lost`` scan opens a new one. (An
  ``exception`` with reason ``damaged`` is damage evidence for detection,
  which opens the ``damage`` case: :func:`tracker.core.vocabulary.damage_exception`.)
* A parcel delivered with a window the customer chose gets its outcome once:
  ``kept`` when the delivery falls inside the window, else ``missed``
  (``parcels.appointment_outcome``, counted in
  ``tracker_appointments_total{outcome}``); a missed one opens a
  ``missed_appointment`` case.
* A ``collected`` scan whose pickup code was wrong (``parcels.pickup_code_check``,
  see :mod:`tracker.scans.pickup_codes`) opens a ``pickup_code_mismatch`` case
  naming the scan and the pickup point, once per parcel. Its own type, not a
  ``suspected_fake_delivery``: the courier did nothing wrong, the pickup point
  handed the parcel over against a wrong code; the point is whom ops calls, and
  the fake-delivery detector, which re-judges its cases from the door's
  evidence, would close it again.

A store module: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from sqlalchemy import Connection, select, update

from tracker.cases.reasons import Reason
from tracker.cases.store import open_case
from tracker.core import metrics
from tracker.core.models import Case, Parcel, ScanEvent
from tracker.core.timefmt import iso_local
from tracker.core.vocabulary import CaseType, EventType, ParcelStatus, ScanReason, canonical_reason


@dataclass
class OutcomeCounts:
    opened: int = 0
    closed: int = 0


def settle_outcomes(conn: Connection, parcel_ids: list[int], *, now: datetime) -> OutcomeCounts:
    """Open ``lost`` and ``missed_appointment`` cases, record appointment outcomes, for these parcels.

    Times inside the reasons are UTC, as detection stores them (answers show them local).
    """
    zone = UTC
    counts = OutcomeCounts()
    if not parcel_ids:
        return counts
    _lost(conn, parcel_ids, now, zone, counts)
    _appointments(conn, parcel_ids, now, zone, counts)
    _wrong_pickup_codes(conn, parcel_ids, now, zone, counts)
    return counts


def _wrong_pickup_codes(
    conn: Connection, parcel_ids: list[int], now: datetime, zone: tzinfo, counts: OutcomeCounts
) -> None:
    wrong = (
        conn.execute(select(Parcel.id).where(Parcel.id.in_(parcel_ids), Parcel.pickup_code_check == "wrong"))
        .scalars()
        .all()
    )
    if not wrong:
        return
    known = set(
        conn.execute(
            select(Case.parcel_id).where(
                Case.parcel_id.in_(wrong), Case.type == CaseType.PICKUP_CODE_MISMATCH
            )
        ).scalars()
    )
    for parcel_id in wrong:
        if parcel_id in known:
            continue
        scan = conn.execute(
            select(ScanEvent.event_id, ScanEvent.occurred_at, ScanEvent.facility_code, ScanEvent.courier_code)
            .where(
                ScanEvent.parcel_id == parcel_id,
                ScanEvent.type == EventType.COLLECTED,
                ScanEvent.voided_at.is_(None),
            )
            .order_by(ScanEvent.occurred_at.desc())
            .limit(1)
        ).first()
        detail = (
            f"collected scan {scan.event_id} at {scan.facility_code or 'unknown'} at "
            f"{iso_local(scan.occurred_at, zone)} carried a pickup code that is not the parcel's"
            if scan is not None
            else "a collected scan carried a pickup code that is not the parcel's"
        )
        _, opened = open_case(
            conn,
            parcel_id,
            CaseType.PICKUP_CODE_MISMATCH,
            [Reason("wrong_pickup_code", detail)],
            now=now,
            facility=scan.facility_code if scan is not None else None,
            courier=scan.courier_code if scan is not None else None,
        )
        counts.opened += int(opened)


def _lost(
    conn: Connection, parcel_ids: list[int], now: datetime, zone: tzinfo, counts: OutcomeCounts
) -> None:
    scans = conn.execute(
        select(
            ScanEvent.parcel_id,
            ScanEvent.event_id,
            ScanEvent.occurred_at,
            ScanEvent.facility_code,
            ScanEvent.courier_code,
            ScanEvent.reason,
        )
        .where(
            ScanEvent.parcel_id.in_(parcel_ids),
            ScanEvent.type == EventType.EXCEPTION,
            ScanEvent.voided_at.is_(None),
        )
        .order_by(ScanEvent.parcel_id, ScanEvent.occurred_at)
    ).all()
    latest = {s.parcel_id: s for s in scans if canonical_reason(s.reason) == ScanReason.LOST}
    if not latest:
        return
    # The lost scans that already have a case (open or resolved): never the same scan twice.
    details = [
        r.get("detail", "")
        for (reasons,) in conn.execute(
            select(Case.reasons).where(Case.parcel_id.in_(latest), Case.type == CaseType.LOST)
        )
        for r in reasons
    ]
    for parcel_id, scan in latest.items():
        mark = f"exception scan {scan.event_id} "
        if any(mark in detail for detail in details):
            continue
        where = scan.facility_code or scan.courier_code or "unknown"
        reason = Reason(
            "reported_lost",
            f"{mark}reports the parcel lost at {where} at {iso_local(scan.occurred_at, zone)}",
        )
        _, opened = open_case(
            conn,
            parcel_id,
            CaseType.LOST,
            [reason],
            now=now,
            facility=scan.facility_code,
            courier=scan.courier_code,
        )
        counts.opened += int(opened)


def _appointments(
    conn: Connection, parcel_ids: list[int], now: datetime, zone: tzinfo, counts: OutcomeCounts
) -> None:
    rows = conn.execute(
        select(Parcel.id, Parcel.delivered_at, Parcel.appointment_start, Parcel.appointment_end).where(
            Parcel.id.in_(parcel_ids),
            Parcel.status == ParcelStatus.DELIVERED,
            Parcel.delivered_at.is_not(None),
            Parcel.appointment_start.is_not(None),
            Parcel.appointment_end.is_not(None),
            Parcel.appointment_outcome.is_(None),
        )
    ).all()
    for row in rows:
        kept = row.appointment_start <= row.delivered_at <= row.appointment_end
        outcome = "kept" if kept else "missed"
        conn.execute(update(Parcel).where(Parcel.id == row.id).values(appointment_outcome=outcome))
        metrics.APPOINTMENTS.labels(outcome).inc()
        if kept:
            continue
        side = "before" if row.delivered_at < row.appointment_start else "after"
        _, opened = open_case(
            conn,
            row.id,
            CaseType.MISSED_APPOINTMENT,
            [
                Reason(
                    "outside_window",
                    f"delivered {iso_local(row.delivered_at, zone)}, {side} the window the customer chose "
                    f"({iso_local(row.appointment_start, zone)} – {iso_local(row.appointment_end, zone)})",
                )
            ],
            now=now,
        )
        counts.opened += int(opened)
