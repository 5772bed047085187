"""One sweeper per installation: who gets the ``sweep`` lease, and when it passes on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select

from tracker.core.db import write_transaction
from tracker.core.models import Lease
from tracker.sweep.lease import SWEEP, acquire, release

pytestmark = pytest.mark.committing

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TTL = timedelta(minutes=3)


def ask(engine: Engine, holder: str, now: datetime) -> bool:
    with write_transaction(engine) as conn:
        return acquire(conn, SWEEP, holder, now=now, ttl=TTL)


def test_the_first_asker_of_a_fresh_installation_sweeps_at_once(engine: Engine) -> None:
    # Born unexpired, the row made the first asker wait a whole interval to sweep.
    assert ask(engine, "worker-a", NOW)
    assert not ask(engine, "worker-b", NOW + timedelta(seconds=1))


def test_the_holder_renews_and_keeps_its_tenure(engine: Engine) -> None:
    assert ask(engine, "worker-a", NOW)
    assert ask(engine, "worker-a", NOW + timedelta(minutes=1))
    with engine.connect() as conn:
        lease = conn.execute(select(Lease.holder, Lease.acquired_at, Lease.expires_at)).one()
    assert lease.holder == "worker-a"
    assert lease.acquired_at.replace(tzinfo=lease.acquired_at.tzinfo or UTC) == NOW
    assert lease.expires_at.replace(tzinfo=lease.expires_at.tzinfo or UTC) == NOW + timedelta(minutes=1) + TTL


def test_another_takes_over_when_the_holder_stops_renewing(engine: Engine) -> None:
    assert ask(engine, "worker-a", NOW)
    assert not ask(engine, "worker-b", NOW + TTL - timedelta(seconds=1))
    assert ask(engine, "worker-b", NOW + TTL + timedelta(seconds=1))
    assert not ask(engine, "worker-a", NOW + TTL + timedelta(seconds=2))


def test_a_released_lease_is_taken_without_waiting_for_it_to_expire(engine: Engine) -> None:
    assert ask(engine, "worker-a", NOW)
    with write_transaction(engine) as conn:
        release(conn, SWEEP, "worker-a", now=NOW + timedelta(seconds=10))
    assert ask(engine, "worker-b", NOW + timedelta(seconds=11))
