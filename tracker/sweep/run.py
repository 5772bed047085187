"""The sweep: time-based rules for the parcels that are due, and only those.

Each parcel stores when it next needs looking at (``next_check_at``): ingest
sets it to "now" when a parcel gets news, and the sweep sets it to the next
deadline it computes (stale, promise, at-risk; :func:`tracker.sla.next_due`).
So one sweep is:

1. Estimate stage durations from parcels delivered in the last week
   (:func:`observed_estimates`; defaults while history is thin).
2. Claim a chunk of due parcels — ``next_check_at <= now`` over a partial
   index, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two sweeps running at
   once take disjoint chunks (SQLite serialises writers anyway). The partial
   unique index on live cases is the backstop.
3. For each parcel, decide (:func:`judge`, pure) which ``stale``,
   ``at_risk`` and ``sla_breach`` cases to open or close, its ETA and its
   next due time; then write the chunk's decisions (case changes one by
   one, they are few; ETAs and due times in one bulk update). A parcel whose
   evaluation fails is pushed back by :data:`RETRY_AFTER` instead of failing
   the sweep again and again.
4. Run the detectors (fake delivery, damage, cold chain) on the chunk.
5. Commit, and repeat until nothing is due. Cost grows with the number of
   due parcels, never with all history.

A SIGTERM during ``tracker sweep --every`` lets the current chunk finish.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, and_, func, select

from tracker.cases import store as cases
from tracker.cases.store import Reason
from tracker.core import bulk, metrics
from tracker.core.db import write_transaction
from tracker.core.models import Case, Parcel, ScanEvent
from tracker.core.service_state import record_state
from tracker.core.vocabulary import FINAL_STATUSES, CaseState, CaseType, EventType, ParcelStatus
from tracker.scans import promises
from tracker.scans.ingest import STATE_COLUMNS, IngestPolicy, journey_of, state_from_row
from tracker.sla import (
    DEFAULT_STAGE_ESTIMATES,
    EtaWindow,
    StageEstimate,
    at_risk,
    at_risk_from,
    eta_window,
    next_due,
)
from tracker.sla.eta import stage_estimates

log = logging.getLogger("tracker.sweep")

CHUNK = 500
RETRY_AFTER = timedelta(minutes=5)
HISTORY = timedelta(days=7)
LAST_SUCCESS = "sweep.last_success"


class Detector(Protocol):
    def __call__(self, conn: Connection, parcel_ids: list[int], *, now: datetime) -> None: ...


@dataclass
class SweepReport:
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


@dataclass
class Judgement:
    """What the rules decided for one parcel."""

    open: list[tuple[CaseType, list[Reason]]] = field(default_factory=list)
    close: list[tuple[CaseType, str]] = field(default_factory=list)
    eta: tuple[datetime, datetime] | None = None
    eta_source: str = "stages"
    next_check_at: datetime | None = None


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def _local(at: datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def judge(
    row: Any,
    *,
    now: datetime,
    policy: IngestPolicy,
    journey: promises.Journey,
    estimates: dict[str, StageEstimate],
    zone: ZoneInfo,
) -> Judgement:
    """The SLA rules for one parcel (pure: ``row`` is the parcel's columns)."""
    state = state_from_row(row)
    status = ParcelStatus(row.status)
    level = promises.level_of(policy.levels, journey)
    stale_after = level.stale_after if level else policy.levels.stale_after
    verdict = Judgement()

    # Stale: silent for longer than the current status allows.
    last_seen = row.last_event_at or row.first_seen_at
    limit = stale_after.get(status)
    where = f" at {row.last_facility}" if row.last_facility else ""
    if status not in FINAL_STATUSES and limit is not None and now - last_seen >= limit:
        verdict.open.append((CaseType.STALE, [Reason(
            "silent",
            f"no scan for {_hours(now - last_seen)} while {status.value} (limit {_hours(limit)}); "
            f"last scan {row.last_event_type or 'none'}{where} at {_local(last_seen, zone)}",
        )]))  # fmt: skip
    else:
        verdict.close.append((CaseType.STALE, "the parcel moved on" if status not in FINAL_STATUSES
                              else f"parcel {status.value}"))  # fmt: skip

    # The promise: kept, broken, or at risk.
    promised_by = row.promised_by
    met = promises.met_at(level, state)
    pickup = bool(level and level.pickup)
    entered = row.status_event_at or last_seen
    # A courier's planned route knows better than stage statistics; it stands
    # (late parcel or not, promise or not) until its window has passed.
    planned = row.eta_source == "route" and row.eta_end is not None and row.eta_end >= now
    if planned and met is None:
        verdict.eta, verdict.eta_source = (row.eta_start, row.eta_end), "route"
    if promised_by is None or met is not None:
        if met is not None:
            late = f"{_hours(met - promised_by)} late" if promised_by and met > promised_by else "in time"
            verdict.close.append((CaseType.AT_RISK, f"delivered {late}"))
            verdict.close.append((CaseType.SLA_BREACH, f"delivered {late}"))
    elif now >= promised_by:
        verdict.open.append((CaseType.SLA_BREACH, [Reason(
            "promise_missed",
            f"promised by {_local(promised_by, zone)} ({journey.service_level}); "
            f"{_hours(now - promised_by)} past it and still {status.value}{where}",
        )]))  # fmt: skip
        verdict.close.append((CaseType.AT_RISK, "the promise passed: now a breach"))
    else:
        if planned:
            window: EtaWindow | None = EtaWindow(row.eta_start, row.eta_end, row.eta_end)
        else:
            window = eta_window(status.value, entered_at=entered, now=now, estimates=estimates, pickup=pickup)
        if window is not None:
            verdict.eta = (window.start, window.end)
            if at_risk(window.end, promised_by, now):
                verdict.open.append((CaseType.AT_RISK, [Reason(
                    "eta_after_promise",
                    f"ETA {_local(window.start, zone)} – {_local(window.end, zone)} ends after the promise "
                    f"{_local(promised_by, zone)}; {status.value}{where}",
                )]))  # fmt: skip
            else:
                verdict.close.append((CaseType.AT_RISK, "the ETA is back within the promise"))

    risk_at = None
    if promised_by is not None and met is None and now < promised_by:
        risk_at = at_risk_from(
            status.value, entered_at=entered, promised_by=promised_by, estimates=estimates, pickup=pickup
        )
    verdict.next_check_at = next_due(
        status.value,
        entered_at=last_seen,
        stale_after=stale_after,
        promised_by=promised_by if met is None else None,
        at_risk_at=risk_at,
        evaluated_at=now,
    )
    return verdict


_SWEEP_COLUMNS = (
    *STATE_COLUMNS,
    Parcel.status,
    Parcel.first_seen_at,
    Parcel.promised_by,
    Parcel.next_check_at,
    Parcel.eta_start,
    Parcel.eta_end,
    Parcel.eta_source,
)


def _claim(conn: Connection, now: datetime, chunk: int) -> list[Any]:
    query = (
        select(*_SWEEP_COLUMNS)
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
        .where(ScanEvent.parcel_id == Parcel.id, ScanEvent.type == EventType.OUT_FOR_DELIVERY)
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


def _live_cases(conn: Connection, parcel_ids: list[int]) -> set[tuple[int, str]]:
    rows = conn.execute(
        select(Case.parcel_id, Case.type).where(
            Case.parcel_id.in_(parcel_ids), Case.state != CaseState.RESOLVED
        )
    )
    return {(pid, str(type_)) for pid, type_ in rows}


def _apply(
    conn: Connection, rows: list[Any], verdicts: dict[int, Judgement], now: datetime, report: SweepReport
) -> None:
    """Write a chunk's decisions: case changes one by one (they are few), the rest in bulk."""
    live = _live_cases(conn, [row.id for row in rows])
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


def sweep(
    engine: Engine,
    *,
    now: datetime,
    policy: IngestPolicy,
    zone: ZoneInfo,
    detectors: Sequence[Detector] = (),
    chunk: int = CHUNK,
    should_stop: Callable[[], bool] = lambda: False,
) -> SweepReport:
    """Evaluate every parcel due at ``now``; see the module docstring."""
    started = time.perf_counter()
    report = SweepReport()
    with engine.connect() as conn:
        estimates = observed_estimates(conn, now)
    while not should_stop():
        with write_transaction(engine) as conn:
            rows = _claim(conn, now, chunk)
            if not rows:
                break
            report.chunks += 1
            verdicts: dict[int, Judgement] = {}
            for row in rows:
                report.examined += 1
                try:
                    journey = journey_of(conn, row, policy.directory)
                    verdicts[row.id] = judge(
                        row, now=now, policy=policy, journey=journey, estimates=estimates, zone=zone
                    )
                except Exception:  # one bad parcel must not stop the sweep, nor come back at once
                    log.exception("sweep failed for a parcel", extra={"fields": {"parcel_id": row.id}})
                    report.failed += 1
                    verdicts[row.id] = Judgement(next_check_at=now + RETRY_AFTER)
            _apply(conn, rows, verdicts, now, report)
            ids = [row.id for row in rows]
            for detect in detectors:
                detect(conn, ids, now=now)
    report.seconds = time.perf_counter() - started
    with write_transaction(engine) as conn:
        record_state(conn, LAST_SUCCESS, now, report.seconds)
    metrics.SWEEP_DURATION.observe(report.seconds)
    return report
