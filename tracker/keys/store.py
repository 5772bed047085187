"""API keys in the database: creating, listing and revoking one, and finding the principal behind one.

Only a key's SHA-256 is stored (see :mod:`tracker.keys.principal` for why
that is enough). Functions take a ``Connection`` and never begin or commit:
``tracker keys create|list|revoke`` (:mod:`tracker.keys.commands`) own the
transaction. :class:`KeyCache` is what each process keeps in front of
:func:`lookup`: a revoked key stops working in a process within the cache's
``ttl`` (30 s), not at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from tracker.core.errors import FieldError, NotFound, Unauthenticated, ValidationFailed
from tracker.core.models import ApiKey, Courier, Facility, Merchant
from tracker.core.vocabulary import Role
from tracker.keys.principal import KEY_PREFIX, Principal, hash_key, key_from_header


def create_key(
    conn: Connection,
    role: Role,
    *,
    now: datetime,
    courier: str | None = None,
    facility: str | None = None,
    merchant: str | None = None,
    label: str | None = None,
) -> str:
    """Store a new key and return it; it cannot be shown again.

    Courier, facility and merchant keys must name whom they are bound to
    (``--courier``, ``--facility``, ``--merchant``); other roles may name nobody.
    """
    errors = []
    if role is Role.COURIER and not courier:
        errors.append(FieldError("courier", "a courier key must be bound to a courier (--courier)"))
    if role is Role.FACILITY and not facility:
        errors.append(FieldError("facility", "a facility key must be bound to a facility"))
    if role is not Role.COURIER and courier:
        errors.append(FieldError("courier", f"only courier keys are bound to a courier, not {role}"))
    if role is not Role.FACILITY and facility:
        errors.append(FieldError("facility", f"only facility keys are bound to a facility, not {role}"))
    if role is Role.MERCHANT and not merchant:
        errors.append(FieldError("merchant", "a merchant key must be bound to a merchant (--merchant)"))
    if role is not Role.MERCHANT and merchant:
        errors.append(FieldError("merchant", f"only merchant keys are bound to a merchant, not {role}"))
    if merchant and conn.scalar(select(Merchant.id).where(Merchant.code == merchant)) is None:
        errors.append(
            FieldError(
                "merchant", f"no merchant with code {merchant!r} (create it: tracker merchants create)"
            )
        )
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
            merchant_code=merchant,
            label=label,
            created_at=now,
        )
    )
    return key


def lookup(conn: Connection, key: str) -> Principal:
    row = conn.execute(
        select(ApiKey.id, ApiKey.role, ApiKey.courier_code, ApiKey.facility_code, ApiKey.merchant_code).where(
            ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        raise Unauthenticated("unknown or revoked API key")
    role = Role(row.role)
    return Principal(
        row.id,
        role,
        row.courier_code,
        row.facility_code,
        merchant_code=row.merchant_code,
        scan_places=scan_places(conn, row.courier_code) if role is Role.COURIER else frozenset(),
        own_couriers=own_couriers(conn, row.facility_code) if role is Role.FACILITY else frozenset(),
    )


def list_keys(conn: Connection) -> list[dict[str, Any]]:
    """Every key, oldest first: its prefix, role, binding, label and dates (never the key)."""
    rows = conn.execute(
        select(
            ApiKey.id,
            ApiKey.prefix,
            ApiKey.role,
            ApiKey.courier_code,
            ApiKey.facility_code,
            ApiKey.merchant_code,
            ApiKey.label,
            ApiKey.created_at,
            ApiKey.revoked_at,
        ).order_by(ApiKey.id)
    )
    return [
        {
            "key_id": r.id,
            "prefix": r.prefix,
            "role": Role(r.role).value,
            "binding": _binding(r.courier_code, r.facility_code, r.merchant_code),
            "label": r.label,
            "created_at": r.created_at,
            "revoked_at": r.revoked_at,
        }
        for r in rows
    ]


def _binding(courier: str | None, facility: str | None, merchant: str | None) -> str | None:
    if courier:
        return f"courier {courier}"
    if facility:
        return f"facility {facility}"
    if merchant:
        return f"merchant {merchant}"
    return None


def revoke_key(conn: Connection, id_or_prefix: str, *, now: datetime) -> tuple[int, bool]:
    """Revoke the key with this id or prefix (``trk_AbCdEfGh``); (its id, whether it was live).

    A prefix must name exactly one key: two keys sharing one (12 characters
    of 256-bit randomness: never in practice) are refused rather than guessed.
    Revoking twice is harmless; the first revocation's time stays.
    """
    wanted = id_or_prefix.strip()
    if wanted.isdigit():
        matches = list(conn.scalars(select(ApiKey.id).where(ApiKey.id == int(wanted))))
    else:
        matches = list(conn.scalars(select(ApiKey.id).where(ApiKey.prefix == wanted)))
    if not matches:
        raise NotFound(f"no key with id or prefix {wanted!r} (tracker keys list shows them)")
    if len(matches) > 1:
        raise ValidationFailed(
            f"{len(matches)} keys share the prefix {wanted!r}: revoke by id",
            [FieldError("key", "give the key's id")],
        )
    key_id = matches[0]
    changed = conn.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=now)
    ).rowcount
    return key_id, changed == 1


def scan_places(conn: Connection, courier: str | None) -> frozenset[str]:
    """Where a courier may scan: its station and every facility whose ``parent_code`` is that station."""
    station = select(Courier.station_code).where(Courier.code == courier).scalar_subquery()
    return frozenset(
        conn.scalars(
            select(Facility.code).where(or_(Facility.code == station, Facility.parent_code == station))
        )
    )


def own_couriers(conn: Connection, facility: str | None) -> frozenset[str]:
    """The couriers a facility key may name: those whose station it is."""
    return frozenset(conn.scalars(select(Courier.code).where(Courier.station_code == facility)))


def authenticate(conn: Connection, authorization: str | None) -> Principal:
    """The principal behind an ``Authorization: Bearer <key>`` header."""
    return lookup(conn, key_from_header(authorization))


class KeyCache:
    """Valid keys remembered for ``ttl``: a courier's app posts every few seconds.

    Only successful lookups are cached, keyed by the key's hash, so a revoked
    key keeps working for at most ``ttl`` in a process that has seen it, and
    a courier moved to another station keeps its old places as long.
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
