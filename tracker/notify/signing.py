"""Standard Webhooks signatures (https://www.standardwebhooks.com), pure.

A secret is shown to its owner as ``whsec_<base64 of the key bytes>``. A
message is signed as ``v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>``
and sent with the headers ``webhook-id``, ``webhook-timestamp`` (Unix seconds)
and ``webhook-signature``. During a secret rotation both secrets sign: the
header then holds both signatures separated by a space, as the specification
allows, and a receiver that knows either secret accepts the message.
Receivers can use the specification's published verifier libraries
(``tests/notify/test_signing.py`` checks against the ``standardwebhooks`` package).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime

PREFIX = "whsec_"
#: 32 random bytes: as long as the HMAC-SHA256 key block wants, well above the spec's 24-byte minimum.
KEY_BYTES = 32


def new_secret() -> str:
    """A fresh signing secret in its shown form, ``whsec_...``."""
    return PREFIX + base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key behind a ``whsec_`` secret."""
    if not secret.startswith(PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    return base64.b64decode(secret[len(PREFIX) :])


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>`` for one secret."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key_of(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_: Sequence[str], message_id: str, sent_at: datetime, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; every secret given signs (rotation overlap)."""
    timestamp = int(sent_at.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets_),
    }
