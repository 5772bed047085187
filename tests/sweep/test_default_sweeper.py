"""``tracker serve`` with default settings sweeps by itself: a parcel that goes quiet gets a stale case.

No ``tracker sweep``, no cron job, no setting: the in-process sweeper is on by
default, and one worker of the installation at a time holds the database
lease (:mod:`tracker.sweep.lease`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from tests.helpers import at, scan
from tests.live import LiveServer
from tracker.core.db import write_transaction
from tracker.core.models import Case, Lease
from tracker.scans.directory import load_network
from tracker.scans.ingest import IngestPolicy, store_scans
from tracker.scans.schemas import ScanEventIn
from tracker.sim.simulator import build_network

pytestmark = [pytest.mark.slow, pytest.mark.committing]


@pytest.fixture
def quiet_parcel(engine: Engine) -> str:
    """A parcel whose last scan, an arrival at a sorting centre, was 30 hours ago (limit 24 h)."""
    network = build_network()
    now = datetime.now(UTC)
    event = ScanEventIn.model_validate(
        scan("quiet-1", "TRK-QUIET-1", "arrived", at(now - timedelta(hours=30)), facility="SC-SH-01")
    )
    with write_transaction(engine) as conn:
        load_network(conn, network.facilities, network.couriers)
        store_scans(
            conn, [event], source="facility", now=now, policy=IngestPolicy(clock_skew=timedelta(minutes=5))
        )
    return "TRK-QUIET-1"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    # Two workers, every sweep setting at its default.
    live = LiveServer(
        database_url,
        tmp_path / "instance",
        TRACKER_WORKERS="2",
        TRACKER_SWEEP_INTERVAL=None,
        TRACKER_LOG_LEVEL="INFO",
    )
    yield live
    live.stop()


def test_it_opens_a_stale_case_without_any_other_command(
    quiet_parcel: str, server: LiveServer, engine: Engine
) -> None:
    deadline = time.monotonic() + 60
    cases: list[str] = []
    while time.monotonic() < deadline and not cases:
        with engine.connect() as conn:
            cases = list(conn.scalars(select(Case.type)))
        time.sleep(0.5)

    assert cases == ["stale"], server.log.read_text()
    with engine.connect() as conn:
        holders = conn.execute(select(Lease.name, Lease.holder)).all()
    assert [name for name, _ in holders] == ["sweep"] and holders[0][1]
    assert "sweep: in-process every 60s" in server.log.read_text()
