"""When to try a failed delivery again (pure): exponential backoff with full jitter.

The n-th retry waits a random time in ``[d/2, d]`` where ``d = base * 2**(n-1)``,
capped at ``cap`` ("equal jitter": the wait still grows with every failure,
and receivers that failed together are not all retried in the same second).
A receiver's ``Retry-After`` (seconds, or an HTTP date) is honoured when it
asks for longer than that, up to the cap.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


def delay(
    attempt: int,
    *,
    base: timedelta,
    cap: timedelta,
    retry_after: timedelta | None = None,
    rand: Callable[[], float] = random.random,
) -> timedelta:
    """The wait after the ``attempt``-th failed try (1 for the first)."""
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    wait = ceiling / 2 + (ceiling / 2) * rand()
    if retry_after is not None and retry_after > wait:
        wait = min(retry_after, cap)
    return wait


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """``Retry-After: 120`` or ``Retry-After: <HTTP date>``; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return max(at - now, timedelta(0))
