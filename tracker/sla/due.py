"""When a parcel next needs looking at (healthchecks' ``alert_after``).

Each parcel stores its next due time (``Parcel.next_check_at``), recomputed
in the transaction that stores its scan, so the sweep is one indexed query
for ``next_check_at <= now``. The due time is the earliest of three
deadlines, each given as a plain value:

* the stale deadline: entering the current status + its stale threshold;
* the promise (``promised_by``), while it is neither kept nor broken;
* the at-risk time (:func:`tracker.sla.eta.at_risk_from`).

``evaluated_at`` is when the caller last acted on this parcel's deadlines
(the sweep, after opening whatever cases were due). Deadlines at or before it
are spent; without it, a deadline already in the past still counts, so a
scan that arrives late (a courier's batch from yesterday) makes the parcel
due at once rather than never.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta

from tracker.core.vocabulary import FINAL_STATUSES


def stale_deadline(
    status: str, *, entered_at: datetime, stale_after: Mapping[str, timedelta]
) -> datetime | None:
    """When a parcel that stays in ``status`` becomes stale; None for unwatched statuses."""
    if status in FINAL_STATUSES or status not in stale_after:
        return None
    return entered_at + stale_after[status]


def next_due(
    status: str,
    *,
    entered_at: datetime,
    stale_after: Mapping[str, timedelta],
    promised_by: datetime | None,
    at_risk_at: datetime | None,
    evaluated_at: datetime | None = None,
) -> datetime | None:
    """The earliest unspent deadline of a parcel, or None when nothing is left to watch.

    Pass ``promised_by=None`` once the promise is kept (or before its clock
    starts), and ``at_risk_at=None`` when there is no ETA.
    """
    if status in FINAL_STATUSES:
        return None
    deadlines = [
        d
        for d in (
            stale_deadline(status, entered_at=entered_at, stale_after=stale_after),
            promised_by,
            at_risk_at,
        )
        if d is not None and (evaluated_at is None or d > evaluated_at)
    ]
    return min(deadlines, default=None)
