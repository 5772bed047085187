"""The SLA rules for one parcel: stale, at risk, breached, and its ETA (pure).

:func:`judge` reads one parcel's stored columns (as the sweep selects them,
:data:`tracker.sweep.store.SWEEP_COLUMNS`) and decides which ``stale``,
``at_risk`` and ``sla_breach`` cases to open or close, the ETA window to
show, and when the parcel next needs looking at. No database, no clock:
``now`` and the observed stage ``estimates`` are passed in, so every rule is
tested with plain values (``tests/sweep``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tracker.cases.reasons import Reason
from tracker.core.timefmt import iso_local
from tracker.core.vocabulary import FINAL_STATUSES, CaseType, ParcelStatus
from tracker.scans import promises
from tracker.scans.state import state_from_row
from tracker.sla import EtaWindow, StageEstimate, at_risk, at_risk_from, eta_window, held_to, next_due
from tracker.sla.eta_shown import DEFAULT_HOURS, DeliveryHistory, DeliveryHours, estimate_delivery, shape_day

if TYPE_CHECKING:
    from tracker.scans.ingest import IngestPolicy


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
    # The API's one time form: never an abbreviation ("CST" is China or US Central).
    return iso_local(at, zone)


def judge(
    row: Any,
    *,
    now: datetime,
    policy: IngestPolicy,
    journey: promises.Journey,
    estimates: dict[str, StageEstimate],
    zone: ZoneInfo,
    history: DeliveryHistory | None = None,
    hours: DeliveryHours = DEFAULT_HOURS,
) -> Judgement:
    """The SLA rules for one parcel (pure: ``row`` is the parcel's columns).

    The ETA the customer is shown is the learned, shaped day of
    :mod:`tracker.sla.eta_shown` (or a planned route's window), and the
    at-risk rule compares that with the promise: the case ops works and the
    delay notice the customer reads come from one estimate. Only a parcel
    with no day to show is judged by the stage quartiles' window.
    """
    state = state_from_row(row)
    status = ParcelStatus(row.status)
    level = promises.level_of(policy.levels, journey)
    stale_after = policy.levels.stale_after_for(level, getattr(row, "customer_tier", None))
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

    # The promise: kept, broken, or at risk (by the end of a later window the recipient chose).
    promised_by = held_to(row.promised_by, getattr(row, "appointment_end", None))
    met = promises.met_at(level, state)
    pickup = bool(level and level.pickup)
    entered = row.status_event_at or last_seen
    # A courier's planned route knows better than stage statistics; it stands
    # (late parcel or not, promise or not) until its window has passed.
    planned = row.eta_source == "route" and row.eta_end is not None and row.eta_end >= now
    if planned and met is None:
        verdict.eta, verdict.eta_source = (row.eta_start, row.eta_end), "route"
    shown_end = None
    shown_day = None
    if met is None and not planned and status not in FINAL_STATUSES:
        estimate = estimate_delivery(
            event_type=row.last_event_type,
            status=status.value,
            facility=row.last_facility,
            service_level=journey.service_level,
            entered_at=last_seen,
            now=now,
            destination=row.dest_city,
            history=history if history is not None and not pickup else DeliveryHistory(),
            tz=zone,
            hours=hours,
            stage_estimates=estimates,
            pickup=pickup,
        )
        if estimate is not None and not estimate.moments:
            # Its leg's parcels are mostly slower than any delivery yet: no day to tell.
            shown_end = estimate.overdue_at
        elif estimate is not None:
            shown_day = shape_day(estimate, now=now, tz=zone, hours=hours)
            verdict.eta, verdict.eta_source = (shown_day.start, shown_day.end), "stages"
            shown_end = shown_day.end
            if estimate.overdue_at is not None and now < estimate.overdue_at < shown_end:
                # Held up (a late departure): estimated again once overdue for the next scan.
                shown_end = estimate.overdue_at

    if promised_by is None or met is not None:
        if met is not None:
            late = f"{_hours(met - promised_by)} late" if promised_by and met > promised_by else "in time"
            verdict.close.append((CaseType.AT_RISK, f"delivered {late}"))
            verdict.close.append((CaseType.SLA_BREACH, f"delivered {late}"))
    elif now >= promised_by:
        if row.promised_by is not None and promised_by > row.promised_by:
            held = (
                f"the window the customer chose ended {_local(promised_by, zone)} "
                f"(promised by {_local(row.promised_by, zone)}, {journey.service_level})"
            )
        else:
            held = f"promised by {_local(promised_by, zone)} ({journey.service_level})"
        verdict.open.append((CaseType.SLA_BREACH, [Reason(
            "promise_missed", f"{held}; {_hours(now - promised_by)} past it and still {status.value}{where}",
        )]))  # fmt: skip
        verdict.close.append((CaseType.AT_RISK, "the promise passed: now a breach"))
    else:
        if planned:
            window: EtaWindow | None = EtaWindow(row.eta_start, row.eta_end, row.eta_end)
        elif shown_day is not None:
            # One judge for ops and the customer: the day the page shows. The stage
            # quartiles' far end often runs past a promise the shown day keeps, and
            # the page then said "may arrive later than promised" beside a day within it.
            window = EtaWindow(shown_day.start, shown_day.start, shown_day.end)
        else:
            # No day to show (a new network, or a leg slower than any delivery yet).
            window = eta_window(status.value, entered_at=entered, now=now, estimates=estimates, pickup=pickup)
        if window is not None:
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
    if shown_end is not None and (verdict.next_check_at is None or shown_end < verdict.next_check_at):
        # A silent parcel's estimate is made again once the day (or part) it showed is
        # over, or once it is overdue for its next scan.
        verdict.next_check_at = shown_end
    return verdict
