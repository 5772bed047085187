"""Signing secrets at rest (pure): encrypted with a key from the environment.

A webhook's signing secret must be readable by the dispatcher (it signs
with it), so it cannot be hashed like an API key. It is stored as a Fernet
token (AES-128-CBC with HMAC-SHA256, from the ``cryptography`` package)
under ``TRACKER_WEBHOOK_SECRET_KEY``: a database dump alone does not let an
attacker sign payloads. Without that key set, subscriptions cannot be
created (the API answers 503) and the dispatcher refuses to start: there is
no silent plaintext fallback.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken


class SecretsUnavailable(RuntimeError):
    """No key, or a key that does not open the stored secrets."""


class SecretBox:
    def __init__(self, key: str) -> None:
        if not key:
            raise SecretsUnavailable(
                "TRACKER_WEBHOOK_SECRET_KEY is not set: webhook secrets cannot be stored or used"
            )
        self._fernet = Fernet(key)

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretsUnavailable(
                "a stored webhook secret does not open with TRACKER_WEBHOOK_SECRET_KEY (was the key changed?)"
            ) from None


def new_key() -> str:
    """A fresh value for ``TRACKER_WEBHOOK_SECRET_KEY``."""
    return Fernet.generate_key().decode()
