"""Who a request speaks for, and what that caller may do (pure).

A key is ``trk_`` followed by 43 random URL-safe characters (256 bits).
Only its SHA-256 is stored: the key is as random as a password hash's salt
and output together, so a slow hash buys nothing and would cost every
request a millisecond. A stolen database therefore yields no usable key.

Which keys may do what is decided in the views with :func:`require`; the
binding rules for scans live in :func:`check_scan_binding` and hold both ways,
so that no key can put its scans on someone else's scorecard:

* a courier key reports only as its courier, and only at its station or at a
  place that station serves (a facility whose ``parent_code`` is the station:
  its pickup points, a grid warehouse it supplies); an event without a
  facility (a doorstep delivery) is its own. A courier without a station
  reports only events without a facility.
* a facility key scans only at its facility, and names only the couriers of
  that facility (``couriers.station_code``), or no courier.

A merchant key is bound to one merchant (``merchant_code``): it registers,
reads, corrects and cancels that merchant's parcels only
(:mod:`tracker.merchants`); another merchant's parcel answers exactly like an
unknown one.

The places and couriers a key may name are read with the key
(:func:`tracker.keys.store.lookup`) and cached with it, so a change to the
network reaches a process within the key cache's lifetime.
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
    merchant_code: str | None = None
    #: Courier keys: where this courier may scan (its station and the places the station serves).
    scan_places: frozenset[str] = frozenset()
    #: Facility keys: the couriers this facility may name (those based at it).
    own_couriers: frozenset[str] = frozenset()

    def describe(self) -> str:
        if self.role is Role.COURIER:
            return f"courier key for {self.courier_code}"
        if self.role is Role.FACILITY:
            return f"facility key for {self.facility_code}"
        if self.role is Role.MERCHANT:
            return f"merchant key for {self.merchant_code}"
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
    """Refuse a scan that a bound key reports on someone else's behalf, or somewhere not its own.

    Called for every event of a batch: the event's description is only written for a refusal.
    """
    if principal.role is Role.COURIER:
        _check_courier_key(principal, index, event_id, courier, facility)
    elif principal.role is Role.FACILITY:
        _check_facility_key(principal, index, event_id, courier, facility)


def _where(index: int, event_id: str) -> str:
    return f"event {index} ({event_id!r})"


def _check_courier_key(
    principal: Principal, index: int, event_id: str, courier: str | None, facility: str | None
) -> None:
    if courier not in (None, principal.courier_code):
        raise Forbidden(
            f"{_where(index, event_id)}: a {principal.describe()} cannot report scans as courier {courier}",
            [FieldError(f"events.{index}.courier_id", f"must be {principal.courier_code}")],
        )
    if facility is not None and facility not in principal.scan_places:
        places = ", ".join(sorted(principal.scan_places)) or "none: the courier has no station"
        raise Forbidden(
            f"{_where(index, event_id)}: a {principal.describe()} cannot scan at facility {facility}; "
            f"courier {principal.courier_code} scans at its station and the places it serves ({places})",
            [FieldError(f"events.{index}.facility", f"must be one of: {places}")],
        )


def _check_facility_key(
    principal: Principal, index: int, event_id: str, courier: str | None, facility: str | None
) -> None:
    if facility not in (None, principal.facility_code):
        raise Forbidden(
            f"{_where(index, event_id)}: a {principal.describe()} cannot scan at facility {facility}",
            [FieldError(f"events.{index}.facility", f"must be {principal.facility_code}")],
        )
    if courier is not None and courier not in principal.own_couriers:
        raise Forbidden(
            f"{_where(index, event_id)}: a {principal.describe()} cannot name courier {courier}, "
            f"who is not a courier of {principal.facility_code}",
            [FieldError(f"events.{index}.courier_id", f"must be a courier of {principal.facility_code}")],
        )
