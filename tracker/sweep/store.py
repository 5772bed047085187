"""What the sweep reads and writes; the caller owns the transaction.

* :func:`claim` takes a chunk of due parcels, ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL so that two sweeps take disjoint chunks;
* :func:`observed_estimates` measures stage durations over the last week;
* :func:`apply` writes a chunk's :class:`~tracker.sweep.judge.Judgement` s:
  case changes one by one (they are few), ETAs and due times in one bulk
  update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from tracker.cases import store as cases
from tracker.core import bulk
from tracker.core.models import Case, Parcel, ScanEvent
from tracker.core.vocabulary import CaseState, EventType, ParcelStatus
from tracker.scans.ingest import STATE_COLUMNS
from tracker.sla import DEFAULT_STAGE_ESTIMATES, StageEstimate
from tracker.sla.eta import stage_estimates
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
    Parcel.next_check_at,
    Parcel.eta_start,
    Parcel.eta_end,
    Parcel.eta_source,
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
        .where(and_(Parcel.status == ParcelStatus.DELIVERED, Parcel.last_event_at >= now - HISTORY))
        .order_by(Parcel.last_event_at.desc())
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
