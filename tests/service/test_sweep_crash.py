"""A sweeper killed mid-sweep leaves whole chunks, and the next sweep finishes the work.

``tracker sweep`` (:mod:`tracker.sweep.commands`) runs as a process of its own
over a few thousand parcels that went silent three days ago, so that every one
of them is due and gets a ``stale`` case. As soon as the first chunk's cases
are visible the test SIGKILLs it. What was committed must be whole chunks
(:data:`tracker.sweep.run.CHUNK` parcels judged, each with its case and the
case's ``opened`` history row; no case without its history, no parcel with two
live cases of a type); what was not must still be due. A second
``tracker sweep`` must then judge every parcel the first one left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tracker.core.db import write_transaction
from tracker.scans.directory import load_network
from tracker.scans.ingest import IngestPolicy, store_scans
from tracker.scans.schemas import ScanEventIn
from tracker.sim.simulator import build_network
from tracker.sweep.run import CHUNK

pytestmark = [pytest.mark.slow, pytest.mark.committing]  # another process reads and writes the database

PARCELS = 3000


def _silent_parcels(engine: Engine, now: datetime) -> None:
    """``PARCELS`` parcels whose last scan is three days old: all due, all stale."""
    network = build_network()
    policy = IngestPolicy(clock_skew=timedelta(minutes=5))
    scanned = (now - timedelta(days=3)).isoformat()
    with write_transaction(engine) as conn:
        load_network(conn, network.facilities, network.couriers)
    for start in range(0, PARCELS, 1000):
        events = [
            ScanEventIn.model_validate({
                "event_id": f"silent-{n:05d}", "tracking_number": f"TRKW{n:06d}", "type": "arrived",
                "occurred_at": scanned, "facility": "SC-SH-01",
            })
            for n in range(start, min(start + 1000, PARCELS))
        ]  # fmt: skip
        with write_transaction(engine) as conn:
            store_scans(conn, events, source="facility", now=now, policy=policy)


def _sweep(database_url: str, instance: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_INSTANCE_PATH": str(instance),
        "TRACKER_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "sweep"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text(sql), params) or 0)


def _judged(engine: Engine, ingested_at: datetime) -> int:
    # Ingest made every parcel due at ``ingested_at``; the sweep moves a judged one past it.
    return _scalar(
        engine,
        "SELECT count(*) FROM parcels WHERE next_check_at IS NULL OR next_check_at > :at",
        at=ingested_at,
    )


def _consistency(engine: Engine) -> dict[str, int]:
    return {
        "cases": _scalar(engine, "SELECT count(*) FROM cases"),
        "cases without their opened row": _scalar(
            engine,
            "SELECT count(*) FROM cases c WHERE NOT EXISTS "
            "(SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action = 'opened')",
        ),
        "history rows": _scalar(engine, "SELECT count(*) FROM case_events"),
        "parcels with two live cases of a type": _scalar(
            engine,
            "SELECT count(*) FROM (SELECT parcel_id, type FROM cases WHERE state <> 'resolved' "
            "GROUP BY parcel_id, type HAVING count(*) > 1) AS twice",
        ),
        "parcels with a case": _scalar(engine, "SELECT count(DISTINCT parcel_id) FROM cases"),
    }


def _wait_for_no_open_transaction(engine: Engine) -> None:
    """PostgreSQL: until the killed sweeper's backend has rolled back and let go of its rows."""
    if engine.dialect.name != "postgresql":
        return  # SQLite's lock went with the process
    deadline = time.monotonic() + 10
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
    )
    while _scalar(engine, sql):
        assert time.monotonic() < deadline, "the killed sweeper's transaction is still open"
        time.sleep(0.05)


def test_a_sweeper_killed_mid_sweep_leaves_whole_chunks_and_the_next_sweep_finishes(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ingested_at = datetime.now(UTC) - timedelta(minutes=1)
    _silent_parcels(engine, ingested_at)
    assert _judged(engine, ingested_at) == 0

    first = _sweep(database_url, tmp_path / "instance")
    try:
        deadline = time.monotonic() + 60
        while _scalar(engine, "SELECT count(*) FROM cases") == 0:
            assert first.poll() is None, f"the sweep ended before any chunk was seen: {first.communicate()}"
            assert time.monotonic() < deadline, "the sweep committed no chunk within 60 s"
            time.sleep(0.01)
        finished_before_the_kill = first.poll() is not None
        first.send_signal(signal.SIGKILL)
    finally:
        if first.poll() is None:
            first.kill()
        first.communicate(timeout=30)
    assert not finished_before_the_kill, "the sweep finished before it could be killed"
    _wait_for_no_open_transaction(engine)

    after_kill = _consistency(engine)
    judged = _judged(engine, ingested_at)
    print(f"\nkilled after {judged} of {PARCELS} parcels ({judged // CHUNK} chunks of {CHUNK}): {after_kill}")
    assert after_kill["cases without their opened row"] == 0
    assert after_kill["parcels with two live cases of a type"] == 0
    assert 0 < judged < PARCELS and judged % CHUNK == 0, "a chunk was committed in part"
    assert after_kill["parcels with a case"] == after_kill["cases"] == after_kill["history rows"] == judged

    second = _sweep(database_url, tmp_path / "instance")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])

    done = _consistency(engine)
    print(f"the next sweep: {report}; then {done}")
    assert report["examined"] == PARCELS - judged and report["failed"] == 0
    assert _judged(engine, ingested_at) == PARCELS
    assert done["cases"] == done["history rows"] == done["parcels with a case"] == PARCELS
    assert done["cases without their opened row"] == 0
    assert done["parcels with two live cases of a type"] == 0
