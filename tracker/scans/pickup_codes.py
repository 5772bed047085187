"""Pickup codes (取件码): issued when a parcel is made ready at a pickup point, checked at collection.

A store module (the caller owns the transaction), called by
:mod:`tracker.scans.ingest` after it has written the batch's parcel states:

* A parcel's first ``ready_for_pickup`` scan issues it a code: six digits from
  :mod:`secrets` (a guessable code would hand the parcel to whoever guesses),
  unique among the parcels waiting at that pickup point, so that the point's
  staff can find the parcel by the code alone. Six digits and not the shelf
  style "3-2-1045": the shelf is the pickup point's own business (it changes
  when they tidy up), the code is ours and must not.
* A ``collected`` scan may carry the code the customer gave (``pickup_code``):
  the result is kept on the parcel (``pickup_code_check``: ``matched``,
  ``wrong``, ``missing``). The scan is stored whatever it says (the parcel did
  leave); a ``wrong`` one opens a ``pickup_code_mismatch`` case in the sweep
  (:mod:`tracker.sweep.outcomes`); ``missing`` is allowed (older scanners) and
  only recorded.

Uniqueness is checked here, not by an index: codes are drawn from a million,
a point holds a few hundred parcels, and a rare race between two batches at
the same point would give two parcels the same code, which the staff then
tell apart by name, rather than failing a scan batch.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, or_, select

from tracker.core import bulk
from tracker.core.models import Parcel
from tracker.core.vocabulary import ParcelStatus

CODE_DIGITS = 6

MATCHED = "matched"
WRONG = "wrong"
MISSING = "missing"


def new_code(taken: set[str]) -> str:
    """A fresh code not in ``taken``."""
    while True:
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        if code not in taken:
            return code


def issue_many(conn: Connection, wanted: list[tuple[int, str | None]], *, now: datetime) -> dict[int, str]:
    """Give each (parcel id, facility) a code unique among the parcels waiting at that facility.

    In the order given; the codes by parcel id. One query for what the
    facilities already hold, one statement for the new codes: a batch of
    scans may make several parcels ready at once.
    """
    if not wanted:
        return {}
    places = {facility for _, facility in wanted}
    at_place = Parcel.last_facility.in_([f for f in places if f is not None])
    if None in places:
        at_place = or_(at_place, Parcel.last_facility.is_(None))
    waiting = conn.execute(
        select(Parcel.last_facility, Parcel.pickup_code).where(
            Parcel.status == ParcelStatus.AVAILABLE_FOR_PICKUP, at_place, Parcel.pickup_code.is_not(None)
        )
    )
    taken: dict[str | None, set[str]] = {facility: set() for facility in places}
    for facility, code in waiting:
        taken[facility].add(code)
    codes = {}
    for parcel_id, facility in wanted:
        codes[parcel_id] = code = new_code(taken[facility])
        taken[facility].add(code)
    _set(conn, "pickup_code", codes, now)
    return codes


def check(expected: str | None, given: str | None) -> str | None:
    """What a collected scan's code says: matched, wrong, missing; None when no code was issued."""
    if expected is None:
        return None
    if given is None:
        return MISSING
    return MATCHED if secrets.compare_digest(expected, given) else WRONG


def record_checks(conn: Connection, results: dict[int, str], *, now: datetime) -> None:
    """Keep the result of each parcel's collected scan (by parcel id)."""
    _set(conn, "pickup_code_check", results, now)


def _set(conn: Connection, column: str, values: dict[int, str], now: datetime) -> None:
    # One statement for the batch (the ingest's own bulk update), not one per parcel.
    updates = {parcel_id: {column: value} for parcel_id, value in values.items()}
    bulk.update_parcels(conn, updates, updated_at=now)
