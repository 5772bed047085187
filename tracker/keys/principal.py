"""Who a request speaks for, and what that caller may do (pure).

A key is ``trk_`` followed by 43 random URL-safe characters (256 bits).
Only its SHA-256 is stored: the key is as random as a password hash's salt
and output together, so a slow hash buys nothing and would cost every
request a millisecond. A stolen database therefore yields no usable key.

Which keys may do what is decided in the views with :func:`require`; the
binding rules for scans (a courier key reports only as its courier, a
facility key only at its facility) live in :func:`check_scan_binding`.
Storing and looking keys up is :mod:`tracker.keys.store`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tracker.core.errors import FieldError, Forbidden, Unauthenticated
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


def key_from_header(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("malformed Authorization header: expected 'Bearer <key>'")
    return key.strip()


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
