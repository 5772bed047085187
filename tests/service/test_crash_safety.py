"""A worker killed mid-batch leaves the batch whole or absent, on a real server.

The test runs ``tracker serve`` (gunicorn) as a separate process, sends a
5,000-event batch, waits until the worker is inside its write transaction
(PostgreSQL: its backend holds a transaction id; SQLite: the database's
write lock is taken), and SIGKILLs the worker. Then the database must hold
all of the batch or none of it, and the client's retry must settle it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, func, select, text

from tests.conftest import T0
from tests.helpers import at, scan
from tests.live import LiveServer
from tracker.core.db import write_transaction
from tracker.core.models import ScanEvent
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.scans.directory import load_network
from tracker.sim.simulator import build_network

pytestmark = [pytest.mark.slow, pytest.mark.committing]  # a live server reads what the test wrote


@pytest.fixture
def server(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[LiveServer, str]]:
    network = build_network()
    with write_transaction(engine) as conn:
        load_network(conn, network.facilities, network.couriers)
        key = create_key(conn, Role.ADMIN, now=T0)
    # One worker: the test kills the one that holds the request.
    live = LiveServer(database_url, tmp_path / "instance", TRACKER_WORKERS="1")
    yield live, key
    live.stop()


def _in_write_transaction(engine: Engine, database_url: str) -> bool:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return bool(
                conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                    )
                )
            )
    path = database_url.removeprefix("sqlite:///")
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        return "locked" in str(exc)
    finally:
        probe.close()


def _count(engine: Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count()).select_from(ScanEvent).where(ScanEvent.event_id.like(f"{prefix}%"))
            )
        )


def test_it_keeps_a_batch_whole_or_absent_when_the_worker_is_killed(
    server: tuple[LiveServer, str], engine: Engine, database_url: str
) -> None:
    live, key = server
    events = [
        scan(
            f"kill-{n:05d}",
            f"TRKK{n % 700:06d}",
            "arrived",
            at(T0 - timedelta(hours=1), n / 100),
            facility="SC-SH-01",
        )
        for n in range(5000)
    ]
    headers = {"Authorization": f"Bearer {key}"}
    answer: dict[str, Any] = {}

    def send() -> None:
        try:
            answer["response"] = requests.post(
                f"{live.url}/api/v1/scans", json={"events": events}, headers=headers, timeout=60
            )
        except requests.ConnectionError as exc:
            answer["error"] = exc

    worker = live.worker()
    assert worker is not None
    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 30
    while not _in_write_transaction(engine, database_url):
        assert time.monotonic() < deadline, "the worker never started writing"
        assert sender.is_alive(), f"the request finished before it could be interrupted: {answer}"
        time.sleep(0.002)
    os.kill(worker, signal.SIGKILL)
    sender.join(timeout=60)

    assert "error" in answer, "the client should have lost its connection"
    assert _count(engine, "kill-") in (0, 5000)

    live.wait_ready(previous_worker=worker)
    retry = requests.post(f"{live.url}/api/v1/scans", json={"events": events}, headers=headers, timeout=60)
    again = requests.post(f"{live.url}/api/v1/scans", json={"events": events}, headers=headers, timeout=60)

    assert retry.status_code == 200
    assert retry.json()["accepted"] + retry.json()["duplicates"] == 5000
    assert again.json()["duplicates"] == 5000
    assert _count(engine, "kill-") == 5000
