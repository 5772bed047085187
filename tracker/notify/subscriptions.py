"""Webhook subscriptions (a store): who gets which kinds at which URL.

A subscription is never deleted, only ended (``deleted_at``) or disabled
(``active`` false with a ``disabled_reason``), so its delivery log stays
readable. Its signing secrets are stored sealed (:mod:`tracker.notify.secretbox`);
this module never sees them in the clear.
"""

from __future__ import annotations

import secrets as random_tokens
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tracker.core.models import WebhookSubscription as Sub

COLUMNS = (
    Sub.id,
    Sub.url,
    Sub.events,
    Sub.owner_role,
    Sub.merchant_code,
    Sub.key_id,
    Sub.active,
    Sub.disabled_reason,
    Sub.failure_streak,
    Sub.created_at,
    Sub.previous_secret_until,
)


def new_id() -> str:
    return "wh_" + random_tokens.token_hex(12)


def create(
    conn: Connection,
    *,
    url: str,
    events: list[str],
    owner_role: str,
    merchant_code: str | None,
    key_id: int | None,
    sealed_secret: str,
    now: datetime,
) -> str:
    sub_id = new_id()
    conn.execute(
        insert(Sub).values(
            id=sub_id,
            url=url,
            events=sorted(set(events)),
            owner_role=owner_role,
            merchant_code=merchant_code,
            key_id=key_id,
            secret=sealed_secret,
            active=True,
            failure_streak=0,
            created_at=now,
        )
    )
    return sub_id


def _visible(query: Any, merchant_code: str | None, key_id: int | None, everything: bool) -> Any:
    query = query.where(Sub.deleted_at.is_(None))
    if everything:
        return query
    if merchant_code is not None:
        return query.where(Sub.owner_role == "merchant", Sub.merchant_code == merchant_code)
    return query.where(Sub.key_id == key_id)


def listed(
    conn: Connection,
    *,
    merchant_code: str | None,
    key_id: int | None,
    everything: bool,
    limit: int,
    after: str | None = None,
) -> list[Any]:
    """The caller's live subscriptions (ops and admin: all), by id, ``limit`` of them after ``after``."""
    query = _visible(select(*COLUMNS), merchant_code, key_id, everything).order_by(Sub.id).limit(limit)
    if after is not None:
        query = query.where(Sub.id > after)
    return list(conn.execute(query))


def get(
    conn: Connection, sub_id: str, *, merchant_code: str | None, key_id: int | None, everything: bool
) -> Any | None:
    query = _visible(select(*COLUMNS), merchant_code, key_id, everything).where(Sub.id == sub_id)
    return conn.execute(query).first()


def end(conn: Connection, sub_id: str, *, now: datetime) -> None:
    conn.execute(update(Sub).where(Sub.id == sub_id).values(active=False, deleted_at=now))


def rotate(conn: Connection, sub_id: str, *, sealed_new: str, overlap_until: datetime) -> None:
    """The new secret signs from now on; the current one also signs until ``overlap_until``."""
    conn.execute(
        update(Sub)
        .where(Sub.id == sub_id)
        .values(previous_secret=Sub.secret, secret=sealed_new, previous_secret_until=overlap_until)
    )


def active(conn: Connection) -> list[Any]:
    """Every active subscription with its sealed secrets (the dispatcher's view; the table is small)."""
    query = select(*COLUMNS, Sub.secret, Sub.previous_secret).where(
        Sub.active.is_(True), Sub.deleted_at.is_(None)
    )
    return list(conn.execute(query))


def sealed_secrets(conn: Connection, sub_id: str) -> Any:
    return conn.execute(
        select(Sub.secret, Sub.previous_secret, Sub.previous_secret_until, Sub.active, Sub.url).where(
            Sub.id == sub_id
        )
    ).one()


def succeeded(conn: Connection, sub_id: str) -> None:
    conn.execute(update(Sub).where(Sub.id == sub_id, Sub.failure_streak != 0).values(failure_streak=0))


def failed(conn: Connection, sub_id: str, *, disable_after: int, why: str) -> bool:
    """Count a failed try; at ``disable_after`` in a row, disable the subscription (True: just now)."""
    conn.execute(update(Sub).where(Sub.id == sub_id).values(failure_streak=Sub.failure_streak + 1))
    disabled = conn.execute(
        update(Sub)
        .where(Sub.id == sub_id, Sub.active.is_(True), Sub.failure_streak >= disable_after)
        .values(active=False, disabled_reason=f"{disable_after} failed tries in a row; last: {why}"[:300])
    ).rowcount
    return bool(disabled)


def reenable(conn: Connection, sub_id: str) -> None:
    conn.execute(
        update(Sub).where(Sub.id == sub_id).values(active=True, disabled_reason=None, failure_streak=0)
    )
