"""A real ``tracker serve`` (gunicorn) on a database filled by the simulator.

Used by the browser tests; ``scripts/bench_tracking.py`` starts its server
the same way. The day is simulated up to the real current time, because the
server runs on the real clock.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import select

from tracker import demo
from tracker.ingest import IngestPolicy
from tracker.models import Parcel
from tracker.simulator import simulate_day


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Sample:
    tracking_number: str
    phone: str


def fill_database(path: Path, parcels: int = 120) -> dict[str, Sample]:
    """A fresh SQLite file with a simulated day; one parcel per interesting status."""
    engine = demo.fresh_database(path)
    try:
        now = datetime.now(UTC) - timedelta(minutes=1)
        demo.load_day(
            engine, simulate_day(now, parcels=parcels), now=now, policy=IngestPolicy(timedelta(minutes=5))
        )
        with engine.connect() as conn:
            rows = conn.execute(
                select(Parcel.tracking_number, Parcel.status, Parcel.recipient_phone).order_by(
                    Parcel.tracking_number
                )
            ).all()
    finally:
        engine.dispose()
    samples: dict[str, Sample] = {}
    for row in rows:
        samples.setdefault(str(row.status), Sample(row.tracking_number, row.recipient_phone))
    return samples


class LiveServer:
    def __init__(self, database_url: str, instance: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {
            **os.environ,
            "TRACKER_DATABASE_URL": database_url,
            "TRACKER_INSTANCE_PATH": str(instance),
            "TRACKER_WORKERS": "1",
            "TRACKER_LOG_LEVEL": "WARNING",
            **env,
        }
        self.log = instance.parent / f"server-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tracker.cli", "serve", "--port", str(self.port)],
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        with requests.Session() as session:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.log.read_text()
                try:
                    if session.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                        return
                except requests.RequestException:
                    pass  # not listening yet
                time.sleep(0.05)
        raise AssertionError(f"tracker serve did not become ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
