"""Tracking reads from a real streaming replica, and the fall-back to the primary.

A primary and a hot standby are built on loopback ports with PostgreSQL's own
tools (``initdb``, ``pg_basebackup -R``, ``pg_ctl``: :mod:`tests.pg_private`);
the app is pointed at both (``TRACKER_DATABASE_REPLICA_URL``). With the
standby's replay paused, a scan written on the primary is not yet in the
tracking JSON: the answer came from the standby. Past the lag bound, with
the standby stopped, or broken in the middle of a read, the primary answers,
and ``tracker_replica_reads_total`` says where each read went and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, text

from tests import pg_private
from tests.conftest import T0, FakeClock
from tests.helpers import at, scan
from tracker.app import create_app
from tracker.core import migrate
from tracker.core.db import make_engine, write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.scans.directory import load_network
from tracker.settings import Settings
from tracker.sim.simulator import build_network

pytestmark = [pytest.mark.slow, pytest.mark.committing]  # servers of its own


@dataclass
class Pair:
    primary: pg_private.PrivatePostgres
    standby: pg_private.PrivatePostgres
    standby_engine: Engine
    key: str


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    reason = pg_private.unavailable()
    if reason:
        pytest.skip(f"no private PostgreSQL: {reason}")
    primary = pg_private.PrivatePostgres()
    standby = None
    try:
        engine = make_engine(primary.url)
        migrate.upgrade(engine)
        network = build_network()
        with write_transaction(engine) as conn:
            load_network(conn, network.facilities, network.couriers)
            key = create_key(conn, Role.ADMIN, now=T0)
        engine.dispose()
        standby = pg_private.PrivatePostgres(standby_of=primary)
        standby_engine = make_engine(standby.url, pool_size=1)
        with standby_engine.connect() as conn:
            assert conn.scalar(text("SELECT pg_is_in_recovery()")) is True
        yield Pair(primary, standby, standby_engine, key)
        standby_engine.dispose()
    finally:
        if standby is not None:
            standby.close()
        primary.close()


def _reads() -> dict[tuple[str, str], float]:
    counts = {}
    for family in REGISTRY.collect():
        if family.name == "tracker_replica_reads":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[(sample.labels["target"], sample.labels["reason"])] = sample.value
    return counts


def _wait(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_tracking_reads_come_from_the_standby_and_fall_back_to_the_primary(
    pair: Pair, settings: Settings
) -> None:
    settings = settings.but(
        database_url=pair.primary.url,
        database_replica_url=(pair.standby.url,),
        replica_max_lag=timedelta(seconds=30),
    )
    app = create_app(settings, clock=FakeClock(T0 + timedelta(hours=2)))
    client = app.test_client()
    reads = app.extensions["tracker"].reads
    auth = {"Authorization": f"Bearer {pair.key}"}
    tn = "TRKREPLICA01"

    def post(event: dict[str, Any]) -> None:
        answer = client.post("/api/v1/scans", json=event, headers=auth)
        assert answer.status_code == 201, answer.json

    def status() -> str:
        answer = client.get(f"/api/v1/track/{tn}")
        assert answer.status_code == 200, answer.json
        return str(answer.json["status"])

    def standby_has(wanted: str) -> bool:
        with pair.standby_engine.connect() as conn:
            found = conn.scalar(text("SELECT status FROM parcels WHERE tracking_number = :tn"), {"tn": tn})
        return str(found) == wanted

    post(scan("rep-1", tn, "arrived", at(T0), facility="SC-SH-01"))
    _wait(lambda: standby_has("in_transit"), "the standby to replay the first scan")

    before = _reads()
    assert status() == "in_transit"
    after = _reads()
    assert after[("replica", "healthy")] == before.get(("replica", "healthy"), 0) + 1

    # Replay paused: the standby still has the parcel in transit while the primary
    # already has it out for delivery, so an in-transit answer is the standby's.
    with pair.standby_engine.connect() as conn:
        conn.execute(text("SELECT pg_wal_replay_pause()"))
    try:
        post(scan("rep-2", tn, "out_for_delivery", at(T0, 60), courier_id="C-SH011"))
        assert status() == "in_transit"

        # Behind by more than the bound (the last replayed commit is older than it):
        # the primary answers, and the metric says why.
        reads.max_lag = 0.5
        time.sleep(max(reads.check_every, reads.max_lag) + 0.2)
        before = _reads()
        assert status() == "out_for_delivery"
        assert _reads()[("primary", "lagging")] == before.get(("primary", "lagging"), 0) + 1
    finally:
        with pair.standby_engine.connect() as conn:
            conn.execute(text("SELECT pg_wal_replay_resume()"))

    reads.max_lag = 30.0
    _wait(lambda: standby_has("out_for_delivery"), "the standby to catch up")
    time.sleep(reads.check_every + 0.2)
    before = _reads()
    assert status() == "out_for_delivery"
    assert _reads()[("replica", "healthy")] == before[("replica", "healthy")] + 1

    # The standby goes away between two checks: the read that finds it gone is
    # moved to the primary ("failed"), later ones go there at once ("down").
    pair.standby_engine.dispose()
    pair.standby.stop("immediate")
    try:
        before = _reads()
        assert status() == "out_for_delivery"
        time.sleep(reads.check_every + 0.2)
        assert status() == "out_for_delivery"
        after = _reads()
        assert after[("primary", "failed")] == before.get(("primary", "failed"), 0) + 1
        assert after[("primary", "down")] >= before.get(("primary", "down"), 0) + 1
        # An ops list, which would read the replica, is served by the primary too.
        listed = client.get("/api/v1/cases", headers=auth)
        assert listed.status_code == 200, listed.json
        metrics = client.get("/metrics").get_data(as_text=True)
        assert 'tracker_replica_lag_seconds{replica="0"} -1.0' in metrics
    finally:
        pair.standby.start()
        reads.dispose()
        app.extensions["tracker"].engine.dispose()
