"""Delivery promises: when a parcel of a service level is due.

A promise is computed once, when its clock starts (the level's
``clock_starts_at`` event: outbound for 211, next_day and standard; the order
time for group_buy), and stored on the parcel as ``promised_by``.

Holidays: only levels configured with ``observe_holidays = true`` (standard,
by default) are pushed off a holiday; they count transit in calendar days and
move only the day the promise lands on. 211, next_day and group_buy run on
holidays, as JD's networks do, so a holiday changes nothing for them.
"""

from datetime import UTC, datetime, time, timedelta

from tracker.sla.config import Cutoff, ServiceLevel
from tracker.sla.regions import Locality


def held_to(promised_by: datetime | None, appointment_end: datetime | None) -> datetime | None:
    """The moment the network is held to: the promise, or the end of a later window the recipient chose.

    A delivery window booked after the promise is a delay the customer asked
    for: ops is not told the promise is at risk, nor the customer that it was
    missed, while the parcel can still come within that window (the sweep's
    judge and the tracking page both use this). A window within the promise
    changes nothing: the promise stands, and a delivery outside the window is
    a ``missed_appointment`` of its own.
    """
    if promised_by is None or appointment_end is None:
        return promised_by
    return max(promised_by, appointment_end)


def promise_for(
    level: ServiceLevel, *, clock_start: datetime, origin: Locality, destination: Locality
) -> datetime:
    """Return the moment (aware, UTC) by which the parcel must meet ``level``.

    1. Convert ``clock_start`` to the level's local time: the cut-offs are
       local, and 00:30 in Shanghai is 16:30 UTC on the previous day.
    2. Take the first cut-off whose ``until`` is at or after that local time
       (inclusive: 11:00:00 is "by 11:00"). Past the last cut-off, the start
       counts as the next local day's first instant and takes the first
       cut-off (211: outbound at 23:30 is due by 23:00 the next day).
    3. Due day = that local day + the cut-off's ``add_days`` + the level's
       transit days for the origin→destination region class.
    4. If the level observes holidays, step the due day past any holiday.
    5. The promise is the cut-off's ``deliver_by`` on the due day, local.

    Raises ValueError for a naive ``clock_start``: a wall time with no zone
    cannot be placed against a local cut-off.
    """
    if clock_start.tzinfo is None or clock_start.utcoffset() is None:
        raise ValueError("clock_start must be timezone-aware")
    local = clock_start.astimezone(level.timezone)
    day, cutoff = local.date(), _cutoff_for(level.cutoffs, local.time())
    if cutoff is None:
        day, cutoff = day + timedelta(days=1), level.cutoffs[0]
    day += timedelta(days=cutoff.add_days + level.transit_days[level.region_class(origin, destination)])
    while day in level.holidays:
        day += timedelta(days=1)
    return datetime.combine(day, cutoff.deliver_by, tzinfo=level.timezone).astimezone(UTC)


def _cutoff_for(cutoffs: tuple[Cutoff, ...], local_time: time) -> Cutoff | None:
    return next((c for c in cutoffs if local_time <= c.until), None)
