"""API keys: creation, storage as a hash, and who a request speaks for.

A key is ``trk_`` followed by 43 random URL-safe characters (256 bits).
Only its SHA-256 is stored: the key is as random as a password hash's salt
and output together, so a slow hash buys nothing and would cost every
request a millisecond. A stolen database therefore yields no usable key.

Which keys may do what is decided in the views with :func:`require`; the
binding rules for scans (a courier key reports only as its courier, a
facility key only at its facility) live in :func:`check_scan_binding`.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select

from tracker.core.errors import FieldError, Forbidden, Unauthenticated, ValidationFailed
from tracker.core.models import ApiKey, Courier, Facility
from tracker.core.vocabulary import Role

KEY_PREFIX = "trk_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and, for couriers and facilities, whom it is bound to."""

    key_id: int
    role: Role
    courier_code: str | None = None
    facility_code: str | None = None

    def describe(self) -> str:
        if self.role is Role.COURIER:
            return f"courier key for {self.courier_code}"
        if self.role is Role.FACILITY:
            return f"facility key for {self.facility_code}"
        return f"{self.role.value} key"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    conn: Connection,
    role: Role,
    *,
    now: datetime,
    courier: str | None = None,
    facility: str | None = None,
    label: str | None = None,
) -> str:
    """Store a new key and return it; it cannot be shown again."""
    errors = []
    if role is Role.COURIER and not courier:
        errors.append(FieldError("courier", "a courier key must be bound to a courier (--courier)"))
    if role is Role.FACILITY and not facility:
        errors.append(FieldError("facility", "a facility key must be bound to a facility"))
    if role is not Role.COURIER and courier:
        errors.append(FieldError("courier", f"only courier keys are bound to a courier, not {role}"))
    if role is not Role.FACILITY and facility:
        errors.append(FieldError("facility", f"only facility keys are bound to a facility, not {role}"))
    if courier and conn.scalar(select(Courier.id).where(Courier.code == courier)) is None:
        errors.append(FieldError("courier", f"no courier with code {courier!r}"))
    if facility and conn.scalar(select(Facility.id).where(Facility.code == facility)) is None:
        errors.append(FieldError("facility", f"no facility with code {facility!r}"))
    if errors:
        raise ValidationFailed("cannot create the key", errors)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        insert(ApiKey).values(
            prefix=key[:12],
            key_hash=hash_key(key),
            role=role,
            courier_code=courier,
            facility_code=facility,
            label=label,
            created_at=now,
        )
    )
    return key


def key_from_header(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("malformed Authorization header: expected 'Bearer <key>'")
    return key.strip()


def lookup(conn: Connection, key: str) -> Principal:
    row = conn.execute(
        select(ApiKey.id, ApiKey.role, ApiKey.courier_code, ApiKey.facility_code).where(
            ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        raise Unauthenticated("unknown or revoked API key")
    return Principal(row.id, Role(row.role), row.courier_code, row.facility_code)


def authenticate(conn: Connection, authorization: str | None) -> Principal:
    """The principal behind an ``Authorization: Bearer <key>`` header."""
    return lookup(conn, key_from_header(authorization))


class KeyCache:
    """Valid keys remembered for ``ttl``: a courier's app posts every few seconds.

    Only successful lookups are cached, keyed by the key's hash, so a revoked
    key keeps working for at most ``ttl`` in a process that has seen it.
    """

    def __init__(self, ttl: timedelta = timedelta(seconds=30), clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl.total_seconds()
        self._clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}

    def principal(self, authorization: str | None, connect: Callable[[], Any]) -> Principal:
        key = key_from_header(authorization)
        digest = hash_key(key)
        hit = self._entries.get(digest)
        now = self._clock()
        if hit is not None and hit[0] > now:
            return hit[1]
        with connect() as conn:
            principal = lookup(conn, key)
        if len(self._entries) > 10_000:  # bounded: forget everything rather than grow
            self._entries.clear()
        self._entries[digest] = (now + self._ttl, principal)
        return principal


def require(principal: Principal, *roles: Role) -> None:
    if principal.role not in roles and principal.role is not Role.ADMIN:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"a {principal.role.value} key cannot do this; it needs a key of role: {allowed}")


def check_scan_binding(
    principal: Principal, index: int, event_id: str, courier: str | None, facility: str | None
) -> None:
    """Refuse a scan that a bound key reports on someone else's behalf."""
    where = f"event {index} ({event_id!r})"
    if principal.role is Role.COURIER and courier not in (None, principal.courier_code):
        raise Forbidden(
            f"{where}: a {principal.describe()} cannot report scans as courier {courier}",
            [FieldError(f"events.{index}.courier_id", f"must be {principal.courier_code}")],
        )
    if principal.role is Role.FACILITY and facility not in (None, principal.facility_code):
        raise Forbidden(
            f"{where}: a {principal.describe()} cannot scan at facility {facility}",
            [FieldError(f"events.{index}.facility", f"must be {principal.facility_code}")],
        )
