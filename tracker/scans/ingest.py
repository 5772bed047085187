"""Storing scan events and the parcel state they imply, in one transaction.

This is where a scan goes after the scan API has validated it (and where the
demo's simulated day goes too). :func:`store_scans` runs inside a transaction
the caller owns; it never commits. The steps:

1. Refuse what cannot be stored, each with its field: events the schema
   rejected (:mod:`tracker.core.inputs`: control characters, times before
   2000 or overflowing, non-finite numbers), times too far in the future,
   unknown facility or courier codes. A later copy of an ``event_id`` in the
   same batch is not inserted; it is judged in step 3.
2. Make sure a parcel row exists for every tracking number (a scan for a
   parcel nobody registered is a fact: the parcel is created unregistered),
   in tracking-number order; its id is all step 3 needs.
3. Insert the events, skipping ids already stored (``ON CONFLICT (event_id)
   DO NOTHING``, on PostgreSQL only after a plain insert met one: see
   :func:`tracker.core.bulk.insert_events`). The unique index decides
   idempotency, also between concurrent requests; an event that was not
   inserted is a ``duplicate`` if its content hash matches the
   stored one and a conflict otherwise. A later copy in the same batch is
   judged the same way, against what is stored once the first copy is
   settled: ``duplicate`` only if that is what it holds.
4. Lock the rows of the parcels that got new events, in id order (two
   batches touching the same parcels queue instead of deadlocking), fold the
   inserted events into each one's stored state
   (:func:`tracker.scans.timeline.apply` is order-independent, so no history is
   reloaded) and write the changed parcels back, with the outbox's notices of
   the statuses that changed (built while the server writes the parcels:
   :func:`tracker.core.bulk.pipelined`).

The parcel locks come after the insert, so a batch sharing parcels with
another (one time-ordered stream dealt to several senders) waits only for
the other's fold and writes, not its insert too. No deadlock comes of it: a
transaction waits in steps 2 and 3 only for another's uncommitted rows of
the same keys, which both take in the same order, and once it holds parcel
locks (step 4) it waits for nothing but parcel locks, taken in id order.
Each inserted event is folded once, by the batch that inserted it, onto
whatever state the parcel holds when that batch gets its lock.

The caller commits; a worker killed before the commit leaves nothing, and the
client's retry is then stored whole (or answered ``duplicate`` if it was).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from tracker.core import bulk
from tracker.core.db import upsert
from tracker.core.errors import FieldError
from tracker.core.models import Parcel, ScanEvent
from tracker.core.vocabulary import EventType, ParcelStatus
from tracker.notify import outbox
from tracker.scans import pickup_codes, promises, timeline
from tracker.scans.directory import Directory
from tracker.scans.schemas import RejectedEvent, ScanEventIn, content_hashes
from tracker.scans.state import state_columns, state_from_row
from tracker.sla import Place, ServiceLevels, held_to, load_service_levels


@dataclass
class EventOutcome:
    event_id: str | None
    result: str  # accepted | duplicate | rejected
    errors: list[FieldError] | None = None
    type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event_id": self.event_id, "result": self.result}
        if self.errors:
            out["errors"] = [e.to_dict() for e in self.errors]
        return out


@dataclass
class IngestReport:
    outcomes: list[EventOutcome]
    #: Ids of parcels whose state changed: after-commit work starts here.
    changed_parcels: list[int] = field(default_factory=list)
    #: Promises kept or missed by this batch, for the delivery metrics.
    deliveries: list[promises.Delivery] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for o in self.outcomes if o.result == result)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.count("accepted"),
            "duplicates": self.count("duplicate"),
            "rejected": self.count("rejected"),
            "results": [o.to_dict() for o in self.outcomes],
        }


@dataclass(frozen=True)
class IngestPolicy:
    """What the write path needs besides the data: limits, levels, the network."""

    clock_skew: timedelta
    levels: ServiceLevels = field(default_factory=load_service_levels)
    directory: Directory = field(default_factory=Directory)


def store_scans(
    conn: Connection,
    events: Sequence[ScanEventIn | RejectedEvent],
    *,
    source: str,
    now: datetime,
    policy: IngestPolicy,
) -> IngestReport:
    """Store what is valid of ``events``; one outcome per event, in order."""
    outcomes: list[EventOutcome | None] = [None] * len(events)
    hashes: dict[int, str] = {}
    copies: list[int] = []
    candidates = _screen(conn, events, outcomes, hashes, copies, now=now, policy=policy)

    ids = _parcel_ids(conn, sorted({events[i].tracking_number for i in candidates}), now)  # type: ignore[union-attr]
    inserted = _insert_events(conn, events, candidates, ids, hashes, source, now)
    _sort_out_existing(conn, events, candidates, inserted, copies, hashes, outcomes)

    parcels = _lock_parcels(conn, sorted({ids[events[i].tracking_number] for i in inserted}))
    news, deliveries, updates = _fold_into_parcels(conn, events, inserted, parcels, now, policy)
    places = policy.directory.labels(conn, {n.last_facility for n in news if n.last_facility})
    with bulk.pipelined(conn):
        bulk.update_parcels(conn, updates, updated_at=now)
        # Built while the server writes the parcels: nothing here waits for it.
        notes = outbox.outbox_rows(outbox.parcel_change_notices(news, places=places), now=now)
    _pickup_codes(conn, events, inserted, parcels, updates, now)
    outbox.write_rows(conn, notes)
    changed = [n.parcel_id for n in news]
    final = [o for o in outcomes if o is not None]
    assert len(final) == len(events)
    return IngestReport(final, changed, deliveries)


def _screen(
    conn: Connection,
    events: Sequence[ScanEventIn | RejectedEvent],
    outcomes: list[EventOutcome | None],
    hashes: dict[int, str],
    copies: list[int],
    *,
    now: datetime,
    policy: IngestPolicy,
) -> list[int]:
    """Step 1: the indexes of events worth trying to insert; later copies of an id go to ``copies``."""
    latest = now + policy.clock_skew
    facilities = {e.facility for e in events if isinstance(e, ScanEventIn) and e.facility}
    couriers = {e.courier_id for e in events if isinstance(e, ScanEventIn) and e.courier_id}
    known_facilities = policy.directory.facilities(conn, facilities)
    known_couriers = policy.directory.couriers(conn, couriers)

    first_by_id: dict[str, int] = {}
    candidates: list[int] = []
    valid: list[int] = []
    for i, event in enumerate(events):
        if isinstance(event, RejectedEvent):
            outcomes[i] = EventOutcome(event.event_id, "rejected", event.errors)
            continue
        errors = []
        if event.occurred_at > latest:
            ahead = event.occurred_at - now
            errors.append(
                FieldError(
                    "occurred_at",
                    f"lies {_human(ahead)} in the future; at most {_human(policy.clock_skew)} "
                    "of clock skew is accepted",
                )
            )
        if event.facility and event.facility not in known_facilities:
            errors.append(FieldError("facility", f"unknown facility code {event.facility!r}"))
        if event.courier_id and event.courier_id not in known_couriers:
            errors.append(FieldError("courier_id", f"unknown courier {event.courier_id!r}"))
        if errors:
            outcomes[i] = EventOutcome(event.event_id, "rejected", errors, event.type.value)
            continue
        valid.append(i)
    # Hashed together: one serialiser call for the batch (see content_hashes).
    hashes.update(zip(valid, content_hashes([events[i] for i in valid]), strict=True))  # type: ignore[misc]
    for i in valid:
        event = events[i]
        if event.event_id in first_by_id:
            # The same id twice in one batch: settled like a retry would be,
            # once the first copy is (it may conflict with a stored event).
            copies.append(i)
            continue
        first_by_id[event.event_id] = i
        candidates.append(i)
    return candidates


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _replay_outcome(event: ScanEventIn, same_content: bool) -> EventOutcome:
    if same_content:
        return EventOutcome(event.event_id, "duplicate", type=event.type.value)
    return EventOutcome(
        event.event_id,
        "rejected",
        [FieldError("event_id", "already used for an event with different content (conflict)")],
        event.type.value,
    )


STATE_COLUMNS = (
    Parcel.id,
    Parcel.tracking_number,
    Parcel.registered,
    Parcel.service_level,
    Parcel.ordered_at,
    Parcel.origin_facility,
    Parcel.dest_region,
    Parcel.dest_city,
    Parcel.promised_by,
    Parcel.event_count,
    Parcel.status_event_id,
    Parcel.status_event_type,
    Parcel.status_event_at,
    Parcel.last_event_id,
    Parcel.last_event_type,
    Parcel.last_event_at,
    Parcel.last_facility,
    Parcel.last_lat,
    Parcel.last_lon,
    Parcel.first_event_at,
    Parcel.outbound_at,
    Parcel.delivered_at,
    Parcel.ready_for_pickup_at,
    Parcel.pickup_code,
)
#: What ingest reads of each parcel it locks: its state, when the sweep is due to look at it, and
#: the end of a window the customer booked (a later one moves the promise: tracker.sla.held_to).
LOCKED_COLUMNS = (*STATE_COLUMNS, Parcel.next_check_at, Parcel.appointment_end)


def _parcel_ids(conn: Connection, numbers: list[str], now: datetime) -> dict[str, int]:
    """Step 2: the id of every parcel of the batch, created if new (not locked yet)."""
    if not numbers:
        return {}
    ids = bulk.parcel_ids(conn, numbers)
    missing = [n for n in numbers if n not in ids]
    if missing:
        new_row = {
            "registered": False,
            "first_seen_at": now,
            "status": ParcelStatus.INFO_RECEIVED,
            "customer_tier": "normal",
            "event_count": 0,
            "updated_at": now,
        }
        conn.execute(
            upsert(conn, Parcel).on_conflict_do_nothing(index_elements=["tracking_number"]),
            [{"tracking_number": n, **new_row} for n in missing],
        )
        # Rows another transaction created meanwhile are found here too.
        ids.update(bulk.parcel_ids(conn, missing))
    return ids


def _lock_parcels(conn: Connection, ids: list[int]) -> dict[str, Any]:
    """Step 4: the rows of these parcels by tracking number, locked in id order."""
    if not ids:
        return {}
    columns = [c.key for c in LOCKED_COLUMNS]
    return {r.tracking_number: r for r in bulk.lock_parcels(conn, columns, ids)}


def _insert_events(
    conn: Connection,
    events: Sequence[Any],
    candidates: list[int],
    ids: dict[str, int],
    hashes: dict[int, str],
    source: str,
    now: datetime,
) -> list[int]:
    """Step 3: insert; the indexes of the events that were new."""
    if not candidates:
        return []
    # Sorted by event_id so that concurrent batches sharing event ids take
    # the unique index's locks in the same order.
    ordered = sorted(candidates, key=lambda i: events[i].event_id)
    rows = []
    for i in ordered:
        e: ScanEventIn = events[i]
        rows.append(
            (  # in the order of bulk.EVENT_COLUMNS
                e.event_id,
                ids[e.tracking_number],
                e.type.value,
                e.occurred_at,
                e.facility,
                e.courier_id,
                e.lat,
                e.lon,
                e.accuracy_m,
                e.temperature_c,
                e.pod.model_dump(exclude_none=True) if e.pod else None,
                e.damage.model_dump(exclude_none=True) if e.damage else None,
                e.reason,
                e.note,
                hashes[i],
            )
        )
    new_ids = bulk.insert_events(conn, rows, received_at=now, source=source)
    return [i for i in candidates if events[i].event_id in new_ids]


def _sort_out_existing(
    conn: Connection,
    events: Sequence[Any],
    candidates: list[int],
    inserted: list[int],
    copies: list[int],
    hashes: dict[int, str],
    outcomes: list[EventOutcome | None],
) -> None:
    """Step 3, continued: replay or conflict for events already stored, and for later copies."""
    for i in inserted:
        outcomes[i] = EventOutcome(events[i].event_id, "accepted", type=events[i].type.value)
    # What each id of the batch holds once this batch is stored: its new row, or the old one.
    stored = {events[i].event_id: hashes[i] for i in inserted}
    known = [i for i in candidates if outcomes[i] is None]
    if known:
        query = select(ScanEvent.event_id, ScanEvent.content_hash).where(
            ScanEvent.event_id.in_([events[i].event_id for i in known])
        )
        stored.update((event_id, content_hash) for event_id, content_hash in conn.execute(query))
    # A later copy is a duplicate only of what is stored: after X, [X', X'] is
    # two conflicts (the second copy is not stored either), [X', X] a conflict
    # and a duplicate.
    for i in (*known, *copies):
        outcomes[i] = _replay_outcome(events[i], stored.get(events[i].event_id) == hashes[i])


def journey_of(conn: Connection, row: Any, directory: Directory) -> promises.Journey:
    destination = None
    if row.dest_region and row.dest_city:
        destination = Place(province=row.dest_region, city=row.dest_city)
    return promises.Journey(
        service_level=row.service_level if row.registered else None,
        ordered_at=row.ordered_at,
        origin=directory.place(conn, row.origin_facility),
        destination=destination,
    )


def _clock_moved(before: timeline.ParcelState, after: timeline.ParcelState) -> bool:
    return before.outbound_at != after.outbound_at or before.first_event_at != after.first_event_at


def _handed_over(before: timeline.ParcelState, after: timeline.ParcelState) -> bool:
    """The batch delivered the parcel or put it at a pickup point (maybe keeping its promise)."""
    return (
        before.delivered_at != after.delivered_at or before.ready_for_pickup_at != after.ready_for_pickup_at
    )


def _fold_into_parcels(
    conn: Connection,
    events: Sequence[Any],
    inserted: list[int],
    parcels: dict[str, Any],
    now: datetime,
    policy: IngestPolicy,
) -> tuple[list[outbox.ParcelNews], list[promises.Delivery], dict[int, dict[str, Any]]]:
    """Step 4: new state for each parcel that got events; their news (for the outbox), deliveries,
    and the columns to write by parcel id (not written yet)."""
    by_parcel: dict[str, list[timeline.TimelineEvent]] = {}
    for i in inserted:
        e: ScanEventIn = events[i]
        by_parcel.setdefault(e.tracking_number, []).append(
            timeline.TimelineEvent(e.event_id, e.type, e.occurred_at, e.facility, e.lat, e.lon)
        )
    updates: dict[int, dict[str, Any]] = {}
    deliveries = []
    news = []
    for number, facts in by_parcel.items():
        row = parcels[number]
        before = state_from_row(row)
        after = timeline.derive(facts, start=before)
        promised_by = row.promised_by
        # The promise depends on the registration and the clock-start times:
        # recomputed only when one of those times moved (or none is stored yet).
        if row.registered and (promised_by is None or _clock_moved(before, after)):
            if promises.not_started(policy.levels, row.service_level, after):
                promised_by = None  # what promise() answers, without building the journey
            else:
                journey = journey_of(conn, row, policy.directory)
                promised_by = promises.promise(policy.levels, journey, after)
        if _handed_over(before, after):
            journey = journey_of(conn, row, policy.directory)
            # Counted on time by the promise, or by a later window the customer chose.
            held = held_to(promised_by, row.appointment_end)
            delivery = promises.newly_met(policy.levels, journey, before, after, held)
            if delivery is not None:
                deliveries.append(delivery)
        # Due now: the sweep judges stale, at-risk, breach and detection
        # rules for every parcel that got news (and survives our crash).
        # Only ever earlier (as tracker.epcis.store.mark_due): a parcel already
        # due keeps its time, so the sweep takes it no later, and the row's
        # indexed columns stay as they were, which lets PostgreSQL update it in
        # place (a HOT update, no new index entries; see migration 0017). The
        # sweep cannot move it meanwhile: it claims parcels FOR NO KEY UPDATE,
        # as the lock this batch holds on the row.
        due = row.next_check_at if row.next_check_at is not None and row.next_check_at <= now else now
        columns = updates[row.id] = {**state_columns(after), "promised_by": promised_by, "next_check_at": due}
        news.append(
            outbox.ParcelNews(
                row.id,
                number,
                before.status,
                columns["status"],
                columns["status_event_type"],
                columns["status_event_at"],
                columns["last_facility"],
                promised_by,
                after.delivered_at,
            )
        )
    return news, deliveries, updates


def _pickup_codes(
    conn: Connection,
    events: Sequence[Any],
    inserted: list[int],
    parcels: dict[str, Any],
    updates: dict[int, dict[str, Any]],
    now: datetime,
) -> None:
    """Issue codes to parcels made ready at a pickup point, check the codes of collected scans.

    After the batch's states are written, so that a code is unique among what
    this batch put at the point too. Both are rare among scans: at most a query
    and two statements a batch, however many parcels they touch.
    A parcel the same news shows collected already gets no code (nobody could use it).
    """
    involved = [i for i in inserted if events[i].type in _PICKUP_TYPES]
    if not involved:
        return  # most batches: nothing to issue or check
    codes = {events[i].tracking_number: parcels[events[i].tracking_number].pickup_code for i in involved}
    ready: list[tuple[int, str | None]] = []
    collected: list[tuple[int, str | None, str | None]] = []  # parcel, code known then, code given
    for i in sorted(involved, key=lambda i: events[i].occurred_at):
        e: ScanEventIn = events[i]
        row = parcels[e.tracking_number]
        waiting = updates[row.id]["status"] == ParcelStatus.AVAILABLE_FOR_PICKUP
        if e.type is EventType.READY_FOR_PICKUP and codes[e.tracking_number] is None and waiting:
            codes[e.tracking_number] = _TO_ISSUE
            ready.append((row.id, e.facility))
        elif e.type is EventType.COLLECTED:
            collected.append((row.id, codes[e.tracking_number], e.pickup_code))
    issued = pickup_codes.issue_many(conn, ready, now=now)
    results = {}
    for parcel_id, known, given in collected:
        expected = issued[parcel_id] if known is _TO_ISSUE else known
        result = pickup_codes.check(expected, given)
        if result is not None:
            results[parcel_id] = result  # the last one in time order stays, as scan by scan
    pickup_codes.record_checks(conn, results, now=now)


_PICKUP_TYPES = frozenset({EventType.READY_FOR_PICKUP, EventType.COLLECTED})
#: A code this batch issues (all at once, after the loop over its scans).
_TO_ISSUE = "(to issue)"
