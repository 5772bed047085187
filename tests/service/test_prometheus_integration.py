"""A real Prometheus scrapes a real tracker: every rule and every panel has data.

The test starts ``tracker serve`` (gunicorn, two workers, the in-process
sweep every 2 s) on a fresh SQLite database, and Debian's ``prometheus`` on
loopback with a 1 s scrape and evaluation interval and the project's rule
files. It feeds a simulated day through the scan API in batches spread over
several scrapes, so that counters move inside every rate window, then asks
Prometheus for every recording rule and every dashboard panel query. The
Prometheus, the feeding and the checks are :mod:`tests.service.scraping`;
the installation of several instances and a separate sweeper on PostgreSQL
is ``tests/service/test_topology.py``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.live import LiveServer
from tests.service.scraping import PROMETHEUS, Prometheus, feed, plan_stations, unanswered
from tracker.core import migrate
from tracker.core.db import make_engine, write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.scans.directory import load_network
from tracker.sim.simulator import simulate_day

pytestmark = [pytest.mark.promtool, pytest.mark.slow]


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    day = simulate_day(now, seed=5, parcels=300)
    with write_transaction(engine) as conn:
        load_network(conn, day.network.facilities, day.network.couriers)
        key = create_key(conn, Role.ADMIN, now=now)
    engine.dispose()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    server = LiveServer(url, tmp_path / "instance", TRACKER_SWEEP_INTERVAL="2", TRACKER_WORKERS="2")
    prometheus = Prometheus(tmp_path, {"tracker": [f"127.0.0.1:{server.port}"]})
    yield server, prometheus, key, day
    prometheus.stop()
    server.stop()


def test_it_gives_every_recording_rule_and_dashboard_panel_data(stack: Any) -> None:
    server, prometheus, key, day = stack
    headers = {"Authorization": f"Bearer {key}"}
    fed = feed([server.url], headers, day)
    assert fed.rejected == 0 and fed.accepted + fed.duplicates == len(day.events)
    plan_stations(server.url, headers, day)
    time.sleep(3)  # a few more scrapes and rule evaluations

    problems = unanswered(prometheus)
    assert not problems, "\n".join(problems)
