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
    """``n`` message ids: ``msg_`` and a random UUID (version 4) in hex, as ``uuid.uuid4().hex``.

    From one read of the OS's randomness: a scan batch writes ~200 notifications.
    """
    randomness = os.urandom(16 * n)
    ids = []
    for i in range(0, 16 * n, 16):
        raw = bytearray(randomness[i : i + 16])
        raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
        raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
        ids.append("msg_" + raw.hex())
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
