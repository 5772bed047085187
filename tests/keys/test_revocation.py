"""Revoking a key, and how soon a process stops taking it (the KeyCache's ``ttl``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import FakeClock
from tracker.core.db import write_transaction
from tracker.core.errors import Unauthenticated
from tracker.core.vocabulary import Role
from tracker.keys.store import KeyCache, create_key, list_keys, revoke_key
from tracker.merchants.store import create_merchant


def test_a_revoked_key_works_in_a_process_for_at_most_the_cache_ttl(engine: Any, clock: FakeClock) -> None:
    with write_transaction(engine) as conn:
        create_merchant(conn, "SHOP-R", "Shop R", now=clock())
        key = create_key(conn, Role.MERCHANT, merchant="SHOP-R", now=clock())
    ticks = [0.0]
    cache = KeyCache(ttl=timedelta(seconds=30), clock=lambda: ticks[0])
    header = f"Bearer {key}"

    assert cache.principal(header, engine.connect).merchant_code == "SHOP-R"
    with write_transaction(engine) as conn:
        key_id, was_live = revoke_key(conn, key[:12], now=clock())
        [listed] = list_keys(conn)
    assert was_live and listed["key_id"] == key_id and listed["revoked_at"] is not None

    ticks[0] = 29.0
    assert cache.principal(header, engine.connect).key_id == key_id  # still cached: documented
    ticks[0] = 30.5
    with pytest.raises(Unauthenticated, match="revoked"):
        cache.principal(header, engine.connect)
