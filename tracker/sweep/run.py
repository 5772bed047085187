"""The sweep: time-based rules for the parcels that are due, and only those.

This module owns the transactions (one per chunk); what it reads and writes
is :mod:`tracker.sweep.store`, the rules are :mod:`tracker.sweep.judge`, the
detectors it runs are :mod:`tracker.sweep.detectors`, and ``tracker sweep``
is :mod:`tracker.sweep.commands`.

Each parcel stores when it next needs looking at (``next_check_at``): ingest
sets it to "now" when a parcel gets news, and the sweep sets it to the next
deadline it computes (stale, promise, at-risk; :func:`tracker.sla.next_due`).
So one sweep is:

1. Estimate stage durations from parcels delivered in the last week
   (:func:`~tracker.sweep.store.observed_estimates`; defaults while history is thin),
   and read how long they took from each of their scans to the door
   (:func:`~tracker.sweep.store.delivery_history`), which the customer's ETA
   is learned from (:mod:`tracker.sla.eta_shown`); a sweeper's loop reuses that
   for a few minutes (:class:`~tracker.sweep.store.HistoryCache`).
2. Claim a chunk of due parcels — ``next_check_at <= now`` over a partial
   index, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two sweeps running at
   once take disjoint chunks (SQLite serialises writers anyway). The partial
   unique index on live cases is the backstop.
3. For each parcel, decide (:func:`~tracker.sweep.judge.judge`, pure) which ``stale``,
   ``at_risk`` and ``sla_breach`` cases to open or close, its ETA and its
   next due time; then write the chunk's decisions (case changes one by
   one, they are few; ETAs and due times in one bulk update). A parcel whose
   evaluation fails is pushed back by :data:`RETRY_AFTER` instead of failing
   the sweep again and again.
4. Run the detectors (fake delivery, damage, cold chain) on the chunk; each
   says how many cases it opened and closed (:class:`CaseCounts`), and the
   report adds them to the SLA cases', so ``cases_opened`` counts every case
   the sweep opened.
5. Commit, and repeat until nothing is due. Cost grows with the number of
   due parcels, never with all history.

A SIGTERM during ``tracker sweep --every`` lets the current chunk finish.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from tracker.core import metrics
from tracker.core.db import write_transaction
from tracker.core.service_state import record_state
from tracker.core.vocabulary import CaseType
from tracker.scans.ingest import IngestPolicy, journey_of
from tracker.sla.eta_shown import DEFAULT_HOURS, DeliveryHours
from tracker.sweep import lease
from tracker.sweep.judge import Judgement, judge
from tracker.sweep.store import (
    HistoryCache,
    SweepReport,
    apply,
    claim,
    delivery_history,
    observed_estimates,
)

log = logging.getLogger("tracker.sweep")

CHUNK = 500
RETRY_AFTER = timedelta(minutes=5)
#: What a cancelled parcel can no longer deserve: it is expected nowhere.
CANCELLED_CLOSES = (CaseType.STALE, CaseType.AT_RISK, CaseType.SLA_BREACH)
LAST_SUCCESS = "sweep.last_success"


class CaseCounts(Protocol):
    """What a detector did to cases (:class:`tracker.detection.evaluate.CaseCounts` is one)."""

    @property
    def opened(self) -> int: ...

    @property
    def closed(self) -> int: ...


class Detector(Protocol):
    def __call__(self, conn: Connection, parcel_ids: list[int], *, now: datetime) -> CaseCounts: ...


def sweep(
    engine: Engine,
    *,
    now: datetime,
    policy: IngestPolicy,
    zone: ZoneInfo,
    detectors: Sequence[Detector] = (),
    chunk: int = CHUNK,
    should_stop: Callable[[], bool] = lambda: False,
    hours: DeliveryHours = DEFAULT_HOURS,
    history_cache: HistoryCache | None = None,
) -> SweepReport:
    """Evaluate every parcel due at ``now``; see the module docstring.

    ``history_cache``: a sweeper's loop passes its own, kept between sweeps; without one
    the delivery history is read afresh.
    """
    started = time.perf_counter()
    report = SweepReport()
    with engine.connect() as conn:
        estimates = observed_estimates(conn, now)
        history = (
            history_cache.get(conn, now, zone)
            if history_cache is not None
            else delivery_history(conn, now, zone)
        )
    while not should_stop():
        with write_transaction(engine) as conn:
            rows = claim(conn, now, chunk)
            if not rows:
                break
            report.chunks += 1
            verdicts: dict[int, Judgement] = {}
            for row in rows:
                report.examined += 1
                if row.cancelled_at is not None:
                    # Its merchant cancelled it (tracker.merchants): a scan that still came made it
                    # due; nothing is expected of it, so no case stays open and nothing is due.
                    closes = [(t, "the parcel was cancelled") for t in CANCELLED_CLOSES]
                    verdicts[row.id] = Judgement(close=closes)
                    continue
                try:
                    journey = journey_of(conn, row, policy.directory)
                    verdicts[row.id] = judge(
                        row,
                        now=now,
                        policy=policy,
                        journey=journey,
                        estimates=estimates,
                        zone=zone,
                        history=history,
                        hours=hours,
                    )
                except Exception:  # one bad parcel must not stop the sweep, nor come back at once
                    log.exception("sweep failed for a parcel", extra={"fields": {"parcel_id": row.id}})
                    report.failed += 1
                    verdicts[row.id] = Judgement(next_check_at=now + RETRY_AFTER)
            apply(conn, rows, verdicts, now, report)
            ids = [row.id for row in rows]
            for detect in detectors:
                counts = detect(conn, ids, now=now)
                report.opened += counts.opened
                report.closed += counts.closed
    report.seconds = time.perf_counter() - started
    with write_transaction(engine) as conn:
        record_state(conn, LAST_SUCCESS, now, report.seconds)
    metrics.SWEEP_DURATION.observe(report.seconds)
    return report


def lease_ttl(interval: float) -> timedelta:
    """How long a sweeper's lease lasts: a few intervals, so one slow sweep does not hand it over."""
    return timedelta(seconds=max(3 * interval, 30.0))


def sweep_if_leader(
    engine: Engine,
    holder: str,
    *,
    now: datetime,
    interval: float,
    policy: IngestPolicy,
    zone: ZoneInfo,
    detectors: Sequence[Detector] = (),
    should_stop: Callable[[], bool] = lambda: False,
    hours: DeliveryHours = DEFAULT_HOURS,
    history_cache: HistoryCache | None = None,
) -> SweepReport | None:
    """Sweep if ``holder`` gets (or keeps) the installation's sweep lease; None when another holds it."""
    with write_transaction(engine) as conn:
        leader = lease.acquire(conn, lease.SWEEP, holder, now=now, ttl=lease_ttl(interval))
    if not leader:
        return None
    return sweep(
        engine,
        now=now,
        policy=policy,
        zone=zone,
        detectors=detectors,
        should_stop=should_stop,
        hours=hours,
        history_cache=history_cache,
    )
