"""Proving you are the recipient: the last four digits of the phone, limited.

Four digits are only 10,000 codes, so the number of wrong tries is what
protects a parcel, and the limit must hold across gunicorn workers, hosts
and restarts: it lives in the database (``verification_attempts``).

A try goes through two transactions, which the caller owns:

1. :func:`record_attempt` inserts it as ``pending`` and the caller commits.
   From then on every concurrent try sees it.
2. :func:`settle_attempt` counts the ``pending`` and ``failed`` tries of the
   last ``window`` for the tracking number and for the client, this one
   included. Over either limit the try is ``refused`` without looking at
   the code (a right code is refused too, until the oldest failure leaves
   the window). Otherwise the code is compared: ``passed`` or ``failed``.
   It returns a :class:`Verdict`; the caller commits the outcome, *then*
   calls :meth:`Verdict.raise_unless_passed` (:class:`VerificationFailed`,
   or :class:`VerificationLocked` saying when to come back), so that a
   failed try is stored although the request fails.

Why insert first: had we counted first and inserted only failures, a burst
of parallel requests would all count the same few failures and all be
checked, testing far more codes than the limit. Inserted first, the k-th
committed try counts at least k, so at most ``max`` tries are ever checked
per window. A worker killed between the steps leaves a ``pending`` row that
counts as a failure: it errs toward refusing.

Refused tries are kept but not counted, so a locked-out customer who keeps
trying is not locked out for longer. An unknown tracking number, a parcel
without a phone and a wrong code all answer the same
:class:`VerificationFailed` after the same queries: verifying reveals no
more than the public page (which says whether a parcel exists).

The limit per tracking number lets a stranger lock the recipient out for an
hour by spending the tries; that is the price of a 4-digit code, and the
public page still works meanwhile.

Verified browsers carry a signed cookie (:func:`sign_verified`), with our own
expiry so that the app's clock governs it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Connection, delete, func, insert, select, update

from tracker.core.errors import FieldError, Forbidden, TooManyRequests, ValidationFailed
from tracker.core.models import Parcel, VerificationAttempt
from tracker.tracking import masking

CODE_LENGTH = 4
#: Outcomes that count against the limits.
COUNTED = ("pending", "failed")
#: Attempts are kept at least this long (as a log), then pruned.
RETENTION = timedelta(days=1)
#: A browser stays verified for this many tracking numbers at once.
MAX_VERIFIED_IN_COOKIE = 5


class VerificationFailed(Forbidden):
    """The code is not the last four digits of the recipient's phone; ``tries_left`` before the lock."""

    code = "verification_failed"
    tries_left: int | None = None


class VerificationLocked(TooManyRequests):
    """Too many wrong codes: no code is checked until ``retry_after`` seconds pass."""

    code = "verification_locked"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    max_per_number: int
    max_per_client: int
    window: timedelta


def check_code_format(code: Any, field: str = "verification") -> str:
    """The code as a string of four digits, else a 422 naming ``field`` (not a counted try)."""
    if not isinstance(code, str) or len(code) != CODE_LENGTH or not code.isascii() or not code.isdigit():
        raise ValidationFailed(
            "the verification code is the last four digits of the recipient's phone",
            [FieldError(field, "expected four digits")],
        )
    return code


def client_network(address: str | None) -> str:
    """The unit a client is limited by: its IPv4 address, or its IPv6 /64.

    One IPv6 subscriber holds a whole /64, so counting single addresses
    would give them billions of fresh limits.
    """
    network = address or "unknown"
    try:
        ip = ipaddress.ip_address(network)
    except ValueError:
        return network
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return network


def client_id(address: str | None, secret: bytes) -> str:
    """A keyed hash of :func:`client_network`: what is stored, never the address."""
    return hmac.new(secret, client_network(address).encode(), hashlib.sha256).hexdigest()[:32]


def bucket(tracking_number: str) -> str:
    # Lookups accept a number as typed or upper-cased; so must the limit,
    # or switching case would open a fresh bucket.
    return tracking_number.strip().upper()[:40]


def record_attempt(conn: Connection, tracking_number: str, *, client: str, now: datetime) -> int:
    """Step 1: store the try as pending (the caller commits before step 2)."""
    conn.execute(delete(VerificationAttempt).where(VerificationAttempt.at < now - RETENTION))
    attempt_id = conn.scalar(
        insert(VerificationAttempt)
        .values(tracking_number=bucket(tracking_number), client=client, at=now, outcome="pending")
        .returning(VerificationAttempt.id)
    )
    assert attempt_id is not None
    return attempt_id


@dataclass(frozen=True)
class Verdict:
    """How a try ended: ``passed``, ``failed`` or ``refused`` (with seconds to wait)."""

    outcome: str
    retry_after: int | None = None
    #: After a failed try: how many more wrong codes lock the parcel (or the client).
    tries_left: int | None = None

    def raise_unless_passed(self) -> None:
        """Raise the error for a try that did not pass (after its outcome is committed)."""
        if self.outcome == "refused":
            assert self.retry_after is not None
            raise VerificationLocked(
                "too many wrong verification codes; try again later", retry_after=self.retry_after
            )
        if self.outcome != "passed":
            left = "" if self.tries_left is None else f"; {self.tries_left} tries left before a lock"
            failed = VerificationFailed(
                f"that is not the last four digits of the recipient's phone{left}",
                [FieldError("verification", f"does not match{left}")],
            )
            failed.tries_left = self.tries_left
            raise failed


def settle_attempt(
    conn: Connection,
    attempt_id: int,
    tracking_number: str,
    code: str,
    *,
    client: str,
    now: datetime,
    limits: Limits,
) -> Verdict:
    """Step 2: refuse over the limits, else check the code; the caller commits, then raises."""
    since = now - limits.window
    oldest: list[datetime] = []
    left: list[int] = []
    for column, value, most in (
        (VerificationAttempt.tracking_number, bucket(tracking_number), limits.max_per_number),
        (VerificationAttempt.client, client, limits.max_per_client),
    ):
        counted = conn.execute(
            select(func.count(), func.min(VerificationAttempt.at)).where(
                column == value,
                VerificationAttempt.at > since,
                VerificationAttempt.outcome.in_(COUNTED),
                VerificationAttempt.id != attempt_id,
            )
        ).one()
        if counted[0] >= most:
            oldest.append(counted[1])
        left.append(most - counted[0] - 1)  # should this try fail
    if oldest:
        _set_outcome(conn, attempt_id, "refused")
        # Free again when the oldest counted failure leaves the window.
        wait = (max(oldest) + limits.window - now).total_seconds()
        return Verdict("refused", retry_after=max(1, math.ceil(wait)))
    phone = conn.scalar(
        select(Parcel.recipient_phone).where(
            Parcel.tracking_number.in_({tracking_number, tracking_number.upper()})
        )
    )
    outcome = "passed" if masking.code_matches(phone, code) else "failed"
    _set_outcome(conn, attempt_id, outcome)
    return Verdict(outcome, tries_left=max(0, min(left)) if outcome == "failed" else None)


def _set_outcome(conn: Connection, attempt_id: int, outcome: str) -> None:
    conn.execute(
        update(VerificationAttempt).where(VerificationAttempt.id == attempt_id).values(outcome=outcome)
    )


def _serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="tracker.verified")


def sign_verified(entries: Iterable[tuple[str, float]], secret: bytes) -> str:
    """A cookie value for ``(tracking number, expires at epoch seconds)`` pairs."""
    kept = sorted(entries, key=lambda e: e[1])[-MAX_VERIFIED_IN_COOKIE:]
    return _serializer(secret).dumps([[tn, round(exp)] for tn, exp in kept])


def read_verified(value: str | None, secret: bytes, *, now: datetime) -> dict[str, float]:
    """The unexpired entries of a cookie value; empty when absent, forged or stale."""
    if not value:
        return {}
    try:
        data = _serializer(secret).loads(value)
    except BadSignature:
        return {}
    moment = now.timestamp()
    out: dict[str, float] = {}
    for entry in data if isinstance(data, list) else []:
        well_formed = isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)
        if well_formed and isinstance(entry[1], int | float) and entry[1] > moment:
            out[entry[0]] = float(entry[1])
    return out


def form_token(secret: bytes, tracking_number: str, cookie_value: str) -> str:
    """The anti-forgery token a verified page's forms carry (bound to the cookie)."""
    message = f"form|{tracking_number}|{cookie_value}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def token_matches(secret: bytes, tracking_number: str, cookie_value: str | None, token: str | None) -> bool:
    if not cookie_value or not token:
        return False
    return hmac.compare_digest(form_token(secret, tracking_number, cookie_value), token)
