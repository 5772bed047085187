"""ETA windows and at-risk times from recent stage durations.

A parcel moves through stages named after its statuses, and the journey ends
at the event that keeps the promise::

    door:    info_received → in_transit → out_for_delivery → (delivered)
             failed_attempt → out_for_delivery → (delivered)
             available_for_pickup → (collected)
    pickup:  info_received → in_transit → (available_for_pickup)
             out_for_delivery → (available_for_pickup)

Each stage has a :class:`StageEstimate`: the 25th percentile, median and 75th
percentile of how long recent parcels stayed in it. While a stage has fewer
than ``min_observations`` (20) recent durations, a default estimate stands in,
so a new deployment still shows ETAs.

For a parcel in stage S since ``entered_at``, at ``now``, with later stages L::

    remaining(q) = max(q(S) - (now - entered_at), 0) + sum(q(l) for l in L)
    window       = (now + remaining(low), now + remaining(high))

Adding quantiles stage by stage treats the stages as slow together (a
congested network slows them all); the window is wider than independence
would give, which errs toward warning early. A parcel that has outstayed its
stage's high quantile gets an ETA made of the later stages only, which slides
forward with ``now``: catching that parcel is the stale threshold's job.
"""

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Final

from tracker.core.vocabulary import FINAL_STATUSES

MIN_OBSERVATIONS: Final = 20


@dataclass(frozen=True, slots=True)
class StageEstimate:
    low: timedelta
    median: timedelta
    high: timedelta
    observations: int = 0

    @classmethod
    def from_durations(cls, durations: Sequence[timedelta]) -> "StageEstimate":
        """Quartiles of observed durations (at least one)."""
        seconds = sorted(d.total_seconds() for d in durations)
        if len(seconds) == 1:
            only = timedelta(seconds=seconds[0])
            return cls(only, only, only, 1)
        low, median, high = statistics.quantiles(seconds, n=4, method="inclusive")
        return cls(timedelta(seconds=low), timedelta(seconds=median), timedelta(seconds=high), len(seconds))


def _hours(low: float, median: float, high: float) -> StageEstimate:
    return StageEstimate(timedelta(hours=low), timedelta(hours=median), timedelta(hours=high))


# Rough figures for a Chinese express network, used until there is history:
# a label waits about half a day to be picked up, line-haul takes about a day,
# a courier's round a few hours, a failed attempt is retried the next day.
DEFAULT_STAGE_ESTIMATES: Final[Mapping[str, StageEstimate]] = MappingProxyType(
    {
        "info_received": _hours(4, 12, 24),
        "in_transit": _hours(8, 20, 36),
        "out_for_delivery": _hours(2, 4, 8),
        "failed_attempt": _hours(12, 20, 26),
        "available_for_pickup": _hours(4, 24, 48),
    }
)

# Next stage on the way to the promise; None: the stage's end keeps it.
_DOOR: Final = {
    "info_received": "in_transit",
    "in_transit": "out_for_delivery",
    "out_for_delivery": None,
    "failed_attempt": "out_for_delivery",
    "available_for_pickup": None,
}
_PICKUP: Final = {
    "info_received": "in_transit",
    "in_transit": None,
    "out_for_delivery": None,
}


@dataclass(frozen=True, slots=True)
class EtaWindow:
    start: datetime
    likely: datetime
    end: datetime


def stage_estimates(
    history: Mapping[str, Sequence[timedelta] | StageEstimate],
    *,
    defaults: Mapping[str, StageEstimate] = DEFAULT_STAGE_ESTIMATES,
    min_observations: int = MIN_OBSERVATIONS,
) -> dict[str, StageEstimate]:
    """Per-stage estimates from recent history, falling back to ``defaults``.

    ``history`` maps a stage to its recent durations, or to an estimate
    computed elsewhere (say, by the database's percentile functions) whose
    ``observations`` says how many durations it summarises.
    """
    result = dict(defaults)
    for stage, observed in history.items():
        if isinstance(observed, StageEstimate):
            if observed.observations >= min_observations:
                result[stage] = observed
        elif len(observed) >= min_observations:
            result[stage] = StageEstimate.from_durations(observed)
    return result


def remaining_stages(status: str, *, pickup: bool) -> tuple[str, ...] | None:
    """The stages a parcel in ``status`` still has to pass, the current one first.

    Empty when the journey is over (delivered, returned, or at the pickup
    point of a pickup service); None when there is no known way forward
    (an ``exception`` parcel waits on a person, not on a median).
    """
    if status in FINAL_STATUSES or (pickup and status == "available_for_pickup"):
        return ()
    following = _PICKUP if pickup else _DOOR
    if status not in following:
        return None
    stages = [status]
    while (nxt := following[stages[-1]]) is not None:
        stages.append(nxt)
    return tuple(stages)


def eta_window(
    status: str,
    *,
    entered_at: datetime,
    now: datetime,
    estimates: Mapping[str, StageEstimate],
    pickup: bool = False,
) -> EtaWindow | None:
    """Estimate when the parcel keeps its promise (UTC); None when unknown or moot."""
    stages = remaining_stages(status, pickup=pickup)
    if not stages:
        return None
    elapsed = now - entered_at
    current, later = estimates[stages[0]], [estimates[s] for s in stages[1:]]

    def remaining(q: str) -> timedelta:
        left = max(getattr(current, q) - elapsed, timedelta(0))
        return left + sum((getattr(e, q) for e in later), timedelta(0))

    now = now.astimezone(UTC)
    return EtaWindow(now + remaining("low"), now + remaining("median"), now + remaining("high"))


def at_risk(eta_end: datetime, promised_by: datetime, now: datetime) -> bool:
    """A parcel is at risk while its promise still stands but its ETA ends after it.

    Once ``now`` reaches the promise it is a breach, not a risk.
    """
    return now < promised_by < eta_end


def at_risk_from(
    status: str,
    *,
    entered_at: datetime,
    promised_by: datetime,
    estimates: Mapping[str, StageEstimate],
    pickup: bool = False,
) -> datetime | None:
    """The earliest moment a parcel that stays in ``status`` becomes at risk.

    From the window formula, the ETA's end is
    ``max(entered_at + high(S), now) + sum(high(later))``: fixed while the
    parcel is within its stage's high quantile, then sliding with ``now``.
    So the parcel is at risk from the start if the fixed end is already past
    the promise, else from ``promised_by - sum(high(later))`` on. None when
    it never becomes at risk before the promise (the promise itself is then
    the next thing to check) or when there is no estimate.
    """
    stages = remaining_stages(status, pickup=pickup)
    if not stages or entered_at >= promised_by:
        return None
    later = sum((estimates[s].high for s in stages[1:]), timedelta(0))
    if entered_at + estimates[stages[0]].high + later > promised_by:
        return entered_at.astimezone(UTC)
    moment = promised_by - later
    return moment.astimezone(UTC) if moment < promised_by else None
