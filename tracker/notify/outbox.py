"""The outbox: notifications written in the transaction of the change (a store).

Every function here runs in the caller's transaction and never commits: a
change is committed together with its notification or not at all, and a
crash after the commit loses nothing (the dispatcher finds the row). What is
written is one row per *change* (a parcel's new status, a case opened), not
one per subscriber: fanning out to subscriptions and customer channels is the
dispatcher's job (:mod:`tracker.notify.dispatch`), so scan ingestion costs the
same with 0 or 100 subscriptions, and a slow subscriber never holds a
scan's transaction.

Hook points (one call each, so the owners of those modules keep their code):

* :func:`parcel_change_notices`, then :func:`outbox_rows` and
  :func:`write_rows`: scan ingest, once per request (one INSERT, whatever
  the batch size: ingest hands over the states it wrote; the rows are built
  while the server writes the parcels);
* :func:`enqueue_sweep_changes`: the sweep's chunk (ETA changes, newly at risk);
* :func:`enqueue_case_event`: a case's history (opened, answered, resolved);
* :func:`enqueue`: anything else, one notification.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select, update

from tracker.core import bulk
from tracker.core.models import Case, NotificationEvent, Parcel
from tracker.core.vocabulary import CaseType, ParcelStatus
from tracker.notify.payloads import CASE_ACTIONS, Kind, envelope, new_message_ids, utc_text

#: An ETA that moves less than this is not news (the estimate breathes with every sweep).
ETA_NEWS = timedelta(minutes=30)


class Notice(NamedTuple):
    """One change worth telling, before it is written.

    Named tuples here (and :class:`ParcelNews`): immutable like a frozen
    dataclass, built in a third of its time; a scan batch makes hundreds.
    """

    kind: str
    occurred_at: datetime
    tracking_number: str | None = None
    parcel_id: int | None = None
    case_id: int | None = None
    data: dict[str, Any] | None = None


def enqueue_many(conn: Connection, notices: Sequence[Notice], *, now: datetime) -> list[str]:
    """Write the notices (one INSERT statement); their message ids."""
    rows = outbox_rows(notices, now=now)
    write_rows(conn, rows)
    return [r["message_id"] for r in rows]


def outbox_rows(notices: Sequence[Notice], *, now: datetime) -> list[dict[str, Any]]:
    """The outbox rows of ``notices``, each with its new message id, not written yet (pure).

    Apart from :func:`write_rows` so that scan ingest can build them while the
    server is still writing the batch's parcels (:func:`tracker.core.bulk.pipelined`).
    """
    rows = []
    for n, message_id in zip(notices, new_message_ids(len(notices)), strict=True):
        if n.occurred_at.tzinfo is None:
            # Written as JSON on PostgreSQL, where no column type would catch it.
            raise ValueError("naive datetime reached the outbox; times must be aware")
        rows.append(
            {
                "message_id": message_id,
                "kind": str(n.kind),
                "parcel_id": n.parcel_id,
                "case_id": n.case_id,
                "occurred_at": n.occurred_at,
                "payload": envelope(message_id, str(n.kind), n.tracking_number, n.occurred_at, n.data or {}),
                "created_at": now,
            }
        )
    return rows


def write_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write rows made by :func:`outbox_rows` (one statement; none for no rows)."""
    bulk.insert_rows(conn, NotificationEvent.__table__, rows)


def enqueue(
    conn: Connection,
    kind: str,
    *,
    occurred_at: datetime,
    now: datetime,
    tracking_number: str | None = None,
    parcel_id: int | None = None,
    case_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> str:
    """One notification, in the caller's transaction; its message id."""
    notice = Notice(kind, occurred_at, tracking_number, parcel_id, case_id, data)
    return enqueue_many(conn, [notice], now=now)[0]


class ParcelNews(NamedTuple):
    """A parcel's status before and after a batch of scans, as the batch's transaction wrote it.

    Built by scan ingest from the states it derived (nothing is read back):
    ``status`` is what the parcel row now holds, ``previous_status`` what the
    locked row held (``None``: no status event yet).
    """

    parcel_id: int
    tracking_number: str
    previous_status: ParcelStatus | None
    status: ParcelStatus
    status_event_type: str | None
    status_event_at: datetime | None
    last_facility: str | None
    promised_by: datetime | None
    delivered_at: datetime | None


def parcel_change_notices(
    news: Iterable[ParcelNews], *, places: Mapping[str, tuple[str, str | None]]
) -> list[Notice]:
    """Status changes (and deliveries) of the parcels a scan batch changed, not written yet (pure).

    ``places`` holds the name and city of each facility a parcel was last
    seen at (by code), for the notice's ``place``. Scan ingest writes them
    with :func:`outbox_rows` and :func:`write_rows`, building the rows while
    the server writes the parcels.
    """
    notices = []
    for n in news:
        status, was, at = n.status, n.previous_status, n.status_event_at
        if status == was or at is None:
            continue
        place = None
        if n.last_facility:
            name, city = places.get(n.last_facility, (None, None))
            place = {"facility": n.last_facility, "name": name, "city": city}
        data = {
            "status": status.value,
            "previous_status": was.value if was else None,
            "event_type": str(n.status_event_type) if n.status_event_type else None,
            "occurred_at": utc_text(at),
            "place": place,
            "promised_by": utc_text(n.promised_by),
        }
        notices.append(Notice(Kind.STATUS_CHANGED, at, n.tracking_number, n.parcel_id, data=data))
        if status is ParcelStatus.DELIVERED:
            delivered = {**data, "delivered_at": utc_text(n.delivered_at or at)}
            notices.append(Notice(Kind.DELIVERED, at, n.tracking_number, n.parcel_id, data=delivered))
    return notices


def _eta_moved(old: tuple[datetime | None, datetime | None], new: tuple[datetime, datetime]) -> bool:
    if old[1] is None:
        return True
    return abs(new[1] - old[1]) >= ETA_NEWS or abs(new[0] - (old[0] or new[0])) >= ETA_NEWS


def enqueue_sweep_changes(
    conn: Connection,
    rows: Sequence[Any],
    verdicts: Mapping[int, Any],
    live: set[tuple[int, str]],
    *,
    now: datetime,
) -> int:
    """ETA changes worth telling and parcels newly at risk, for one sweep chunk; how many notices.

    ``rows`` are the claimed parcels (with their stored ETA), ``verdicts`` the
    sweep's :class:`~tracker.sweep.judge.Judgement` by parcel id, ``live`` the
    (parcel id, case type) pairs open before the chunk.
    """
    notices = []
    for row in rows:
        verdict = verdicts.get(row.id)
        if verdict is None or verdict.eta is None:
            continue
        eta = {
            "eta_start": utc_text(verdict.eta[0]),
            "eta_end": utc_text(verdict.eta[1]),
            "promised_by": utc_text(row.promised_by),
            "status": str(row.status),
        }
        if _eta_moved((row.eta_start, row.eta_end), verdict.eta):
            data = {
                **eta,
                "previous_eta_start": utc_text(row.eta_start),
                "previous_eta_end": utc_text(row.eta_end),
            }
            notices.append(Notice(Kind.ETA_CHANGED, now, row.tracking_number, row.id, data=data))
        newly_at_risk = (
            any(t == CaseType.AT_RISK for t, _ in verdict.open) and (row.id, "at_risk") not in live
        )
        if newly_at_risk:
            notices.append(Notice(Kind.DELAYED, now, row.tracking_number, row.id, data=eta))
    enqueue_many(conn, notices, now=now)
    return len(notices)


def enqueue_case_event(
    conn: Connection, case_id: int, action: str, *, at: datetime, note: str | None = None
) -> str | None:
    """A case opened, answered (to the customer) or resolved; other history steps notify nobody."""
    kind = CASE_ACTIONS.get(action)
    if kind is None:
        return None
    case = conn.execute(
        select(Case.type, Case.state, Case.resolution, Case.parcel_id, Parcel.tracking_number)
        .join(Parcel, Parcel.id == Case.parcel_id)
        .where(Case.id == case_id)
    ).one()
    data: dict[str, Any] = {
        "case_id": case_id,
        "case_type": str(case.type),
        "action": action,
        "at": utc_text(at),
    }
    if kind is Kind.CASE_RESOLVED:
        data["resolution"] = case.resolution
    if kind is Kind.CASE_ANSWERED:
        data["answer"] = note  # written for the customer
    return enqueue(
        conn,
        kind,
        occurred_at=at,
        now=at,
        tracking_number=case.tracking_number,
        parcel_id=case.parcel_id,
        case_id=case_id,
        data=data,
    )


def claim_new(conn: Connection, limit: int) -> list[Any]:
    """Outbox rows not yet turned into deliveries, oldest first, locked (PostgreSQL: skipping rows
    another dispatcher holds; SQLite serialises writers, and :func:`mark_fanned_out` is conditional)."""
    query = (
        select(
            NotificationEvent.id,
            NotificationEvent.message_id,
            NotificationEvent.kind,
            NotificationEvent.parcel_id,
            NotificationEvent.payload,
            NotificationEvent.created_at,
        )
        .where(NotificationEvent.fanned_out_at.is_(None))
        .order_by(NotificationEvent.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(conn.execute(query))


def mark_fanned_out(conn: Connection, event_ids: list[int], *, now: datetime) -> set[int]:
    """Mark the rows fanned out; the ids this caller marked (another dispatcher may have been first)."""
    if not event_ids:
        return set()
    done = conn.execute(
        update(NotificationEvent)
        .where(NotificationEvent.id.in_(event_ids), NotificationEvent.fanned_out_at.is_(None))
        .values(fanned_out_at=now)
        .returning(NotificationEvent.id)
    )
    return set(done.scalars())


def oldest_pending(conn: Connection) -> datetime | None:
    """When the oldest notification not yet turned into deliveries was written."""
    return conn.scalar(
        select(func.min(NotificationEvent.created_at)).where(NotificationEvent.fanned_out_at.is_(None))
    )
