"""Deliveries and their tries (a store): one row per notification and destination.

A row is ``pending`` until it is ``sent``, goes to the dead letter (``dead``)
after the last allowed try, or is ``skipped`` (a customer message not sent:
no address, or one of the same kind went to the parcel within the hour).

Claiming is safe with several dispatchers: a claim takes due rows and, in
the same transaction, counts the try (``attempts + 1``) and pushes
``next_attempt_at`` to the end of a lease. On PostgreSQL the rows are taken
``FOR UPDATE SKIP LOCKED`` (two dispatchers take disjoint rows); on SQLite
each row is taken by a conditional UPDATE (``WHERE attempts = <seen> AND
next_attempt_at <= now``) that only one claimer can win. The outcome is then
written only if the row still carries the claim's try number, so a
dispatcher that stalled past its lease cannot overwrite a newer try. A
dispatcher killed mid-send leaves its rows claimed until the lease ends;
then another (or it, restarted) sends them again, with the same message id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from tracker.core.models import NotificationDelivery as D
from tracker.core.models import NotificationEvent as E
from tracker.core.models import WebhookSubscription as S

PENDING, SENT, DEAD, SKIPPED = "pending", "sent", "dead", "skipped"


def create(conn: Connection, rows: list[dict[str, Any]], *, now: datetime) -> None:
    if rows:
        conn.execute(
            insert(D), [{"attempts": 0, "created_at": now, "next_attempt_at": now, **r} for r in rows]
        )


def claim(
    conn: Connection, *, now: datetime, limit: int, lease: timedelta, per_failing: int | None = None
) -> list[tuple[int, int]]:
    """Take up to ``limit`` due rows; ``(delivery id, this try's number)`` for each one taken.

    With ``per_failing``, a subscription whose last try failed (a slow or dead
    receiver) gets at most that many rows of the batch, and every destination
    with due rows is served, oldest first: a receiver that times out holds a
    few of the dispatcher's threads for one timeout per batch, and its
    backlog never stands in front of the others' deliveries.
    """
    due = and_(D.state == PENDING, D.next_attempt_at <= now)
    oldest = select(D.id, D.attempts).order_by(D.next_attempt_at, D.id)
    picks: list[tuple[Any, int]] = []  # (a query, at most how many of its rows)
    if per_failing is None:
        picks.append((oldest.where(due), limit))
    else:
        destinations = conn.execute(
            select(D.subscription_id, D.channel, func.coalesce(func.max(S.failure_streak), 0))
            .outerjoin(S, S.id == D.subscription_id)
            .where(due)
            .group_by(D.subscription_id, D.channel)
            .order_by(func.min(D.next_attempt_at))
        ).all()
        for sub_id, channel, streak in destinations:
            whose = D.subscription_id == sub_id if sub_id is not None else D.subscription_id.is_(None)
            cap = per_failing if streak else limit
            picks.append((oldest.where(due, whose, D.channel == channel), cap))
    taken: list[tuple[int, int]] = []
    for pick, cap in picks:
        room = limit - len(taken)
        if room <= 0:
            break
        taken += _take(conn, pick.limit(min(room, cap)), now=now, lease=lease)
    return taken


def _take(conn: Connection, pick: Any, *, now: datetime, lease: timedelta) -> list[tuple[int, int]]:
    """Claim the rows ``pick`` selects: PostgreSQL locks them (skipping others' locks); SQLite
    takes each by a conditional update only one claimer can win."""
    if conn.dialect.name == "postgresql":
        rows = list(conn.execute(pick.with_for_update(skip_locked=True, of=D)))
        if rows:
            conn.execute(
                update(D)
                .where(D.id.in_([r.id for r in rows]))
                .values(attempts=D.attempts + 1, next_attempt_at=now + lease, last_attempt_at=now)
            )
        return [(r.id, r.attempts + 1) for r in rows]
    taken = []
    for r in list(conn.execute(pick)):
        won = conn.execute(
            update(D)
            .where(D.id == r.id, D.state == PENDING, D.attempts == r.attempts, D.next_attempt_at <= now)
            .values(attempts=r.attempts + 1, next_attempt_at=now + lease, last_attempt_at=now)
        ).rowcount
        if won == 1:
            taken.append((r.id, r.attempts + 1))
    return taken


def details(conn: Connection, ids: list[int]) -> list[Any]:
    """What sending the claimed rows needs: the notification and the destination."""
    if not ids:
        return []
    query = (
        select(
            D.id,
            D.channel,
            D.subscription_id,
            D.event_id,
            E.message_id,
            E.kind,
            E.parcel_id,
            E.payload,
            E.occurred_at,
        )
        .join(E, E.id == D.event_id)
        .where(D.id.in_(ids))
    )
    return list(conn.execute(query))


def _ours(delivery_id: int, attempt: int) -> Any:
    return and_(D.id == delivery_id, D.attempts == attempt, D.state == PENDING)


def sent_many(
    conn: Connection, ids: list[int], attempt: int, *, status: int | None, now: datetime
) -> set[int]:
    """Mark sent the rows of ``ids`` still holding try ``attempt``; the ids marked."""
    done = conn.execute(
        update(D)
        .where(D.id.in_(ids), D.attempts == attempt, D.state == PENDING)
        .values(state=SENT, sent_at=now, last_status=status, last_error=None, next_attempt_at=None)
        .returning(D.id)
    )
    return set(done.scalars())


def failed(
    conn: Connection,
    delivery_id: int,
    attempt: int,
    *,
    status: int | None,
    error: str,
    retry_at: datetime | None,
) -> bool:
    """A failed try: again at ``retry_at``, or to the dead letter when None."""
    values: dict[str, Any] = {"last_status": status, "last_error": error[:300]}
    if retry_at is None:
        values.update(state=DEAD, next_attempt_at=None)
    else:
        values.update(next_attempt_at=retry_at)
    return conn.execute(update(D).where(_ours(delivery_id, attempt)).values(**values)).rowcount == 1


def postpone(conn: Connection, delivery_id: int, attempt: int, *, until: datetime, why: str) -> None:
    """Not a try (quiet hours): hand the try back and come back at ``until``."""
    conn.execute(
        update(D)
        .where(_ours(delivery_id, attempt))
        .values(attempts=attempt - 1, next_attempt_at=until, last_error=why[:300])
    )


def skip(conn: Connection, delivery_id: int, attempt: int, *, why: str) -> None:
    conn.execute(
        update(D)
        .where(_ours(delivery_id, attempt))
        .values(state=SKIPPED, next_attempt_at=None, last_error=why[:300])
    )


def recent_messages(
    conn: Connection, parcel_id: int, kind: str, channel: str, since: datetime
) -> list[dict[str, Any]]:
    """The payloads of the messages of this kind on this channel sent or queued for this parcel since
    ``since`` (an hour's worth for one parcel: a few rows)."""
    query = (
        select(E.payload)
        .join(D, D.event_id == E.id)
        .where(
            E.parcel_id == parcel_id,
            E.kind == kind,
            D.channel == channel,
            D.state.in_((PENDING, SENT)),
            D.created_at >= since,
        )
    )
    return list(conn.scalars(query))


LOG_COLUMNS = (
    D.id,
    D.state,
    D.attempts,
    D.last_status,
    D.last_error,
    D.last_attempt_at,
    D.next_attempt_at,
    D.sent_at,
    D.created_at,
    E.message_id,
    E.kind,
)


def log(conn: Connection, subscription_id: str, *, limit: int, before_id: int | None) -> list[Any]:
    """A subscription's deliveries, newest first, ``limit`` of them before ``before_id``."""
    query = (
        select(*LOG_COLUMNS)
        .join(E, E.id == D.event_id)
        .where(D.subscription_id == subscription_id)
        .order_by(D.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(D.id < before_id)
    return list(conn.execute(query))


def one(conn: Connection, subscription_id: str, delivery_id: int) -> Any | None:
    return conn.execute(
        select(*LOG_COLUMNS, D.event_id)
        .join(E, E.id == D.event_id)
        .where(D.id == delivery_id, D.subscription_id == subscription_id)
    ).first()


def redeliver(conn: Connection, subscription_id: str, event_id: int, *, now: datetime) -> int:
    """A new delivery of the same notification (same message id) to the subscription, due now."""
    return int(
        conn.scalar(
            insert(D)
            .values(
                event_id=event_id,
                channel="webhook",
                subscription_id=subscription_id,
                state=PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .returning(D.id)
        )
    )


def backlog(conn: Connection) -> list[Any]:
    """Pending deliveries by channel: how many, and when the oldest was created (for /metrics)."""
    return list(
        conn.execute(
            select(D.channel, func.count(), func.min(D.created_at))
            .where(D.state == PENDING)
            .group_by(D.channel)
        )
    )
