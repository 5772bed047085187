"""The deployed topology under a real Prometheus: two web instances, one sweeper, one PostgreSQL.

Run twice: straight to PostgreSQL, and through PgBouncer in transaction mode
(:mod:`tests.pgbouncer`), which proves that nothing of tracker's relies on
session state.

As ``deploy/prometheus/prometheus.yml`` lays it out: two ``tracker serve``
instances (two gunicorn workers each, ``TRACKER_SWEEP_INTERVAL=0``) scraped
as job ``tracker``, and ``tracker sweep --every 2 --metrics-port P`` scraped
as job ``tracker-sweeper``, all on one PostgreSQL database; Prometheus (1 s
scrape, the project's rules) is :mod:`tests.service.scraping`'s.

A simulated day goes through both instances at once, batch by batch (same
``event_id`` s, so they race to store each event), with two parcels of our
own that the sweeper must flag whatever the time of day (:func:`_flagged`:
stale and breached, suspected fake delivery; the day's late parcels bring
at-risk ones), and two stations plan their routes. Then:

* every event is stored once, and no parcel has two live cases of a type;
* what Prometheus scraped from the sweeper shows the cases it opened and
  its sweeps, and the dashboards count the database gauges once, not once
  per instance;
* every recording rule and every panel query of both dashboards answers,
  and answers no NaN.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, func, select

from tests.helpers import at, registration, scan
from tests.live import LiveServer, free_port
from tests.pgbouncer import PGBOUNCER, PgBouncer
from tests.service.scraping import PROMETHEUS, Prometheus, feed, panel_expr, plan_stations, unanswered
from tracker.core.db import write_transaction
from tracker.core.models import Case, Parcel, ScanEvent
from tracker.core.vocabulary import CaseState, Role
from tracker.keys.store import create_key
from tracker.scans.directory import load_network
from tracker.sim.simulator import simulate_day

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.committing,  # live servers and a sweeper read and write the database
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


STALE, FAKE = "TRKTOPOSTALE1", "TRKTOPOFAKE01"


def _flagged(day: Any, now: datetime) -> None:
    """Add to ``day`` two parcels the sweeper must flag, whatever the time of day.

    ``STALE`` left its warehouse three days ago and was never scanned again
    (stale, and its promise broken); ``FAKE`` was "delivered" an hour ago with
    no out-for-delivery scan, no position and no proof of delivery (a
    suspected fake delivery, as in ``tests/detection/db``).
    """

    def when(hours_ago: float) -> str:
        return at(now, -60 * hours_ago)

    for tn, ordered in ((STALE, 80), (FAKE, 12)):
        day.parcels.append(registration(tn, ordered_at=when(ordered)))
    day.events += [
        scan(f"{STALE}-1", STALE, "created", when(79), facility="WH-SH-01"),
        scan(f"{STALE}-2", STALE, "outbound", when(78), facility="WH-SH-01"),
        scan(f"{FAKE}-1", FAKE, "created", when(11), facility="WH-SH-01"),
        scan(f"{FAKE}-2", FAKE, "outbound", when(10), facility="WH-SH-01"),
        scan(f"{FAKE}-3", FAKE, "arrived", when(8), facility="SC-SH-01"),
        scan(f"{FAKE}-4", FAKE, "departed", when(7.5), facility="SC-SH-01"),
        scan(f"{FAKE}-5", FAKE, "arrived", when(6), facility="ST-SH-01"),
        scan(f"{FAKE}-6", FAKE, "delivered", when(1), courier_id="C-SH011"),
    ]
    day.events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))


class Sweeper:
    """``tracker sweep --every N --metrics-port P`` as a process of its own; its reports in ``reports``."""

    def __init__(self, database_url: str, folder: Path, every: float) -> None:
        self.port = free_port()
        self.out = folder / f"sweeper-{self.port}.out"
        environ = {
            **os.environ,
            "TRACKER_DATABASE_URL": database_url,
            "TRACKER_INSTANCE_PATH": str(folder / "sweeper"),
            "TRACKER_LOG_LEVEL": "WARNING",
        }
        with self.out.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tracker.cli", "sweep", "--every", str(every),
                 "--metrics-port", str(self.port), "--metrics-host", "127.0.0.1"],
                env=environ, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.out.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the sweeper serves no metrics:\n{self.out.read_text()}")

    def reports(self) -> list[dict[str, Any]]:
        """The sweep reports it printed (one JSON object a line)."""
        lines = self.out.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # finishes the chunk at hand
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(params=["direct", "pgbouncer"])
def route(
    request: pytest.FixtureRequest, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The database URL the instances and the sweeper use: PostgreSQL itself, or
    PgBouncer in transaction mode in front of it (issue 17)."""
    if request.param == "direct":
        yield database_url
        return
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    monkeypatch.setenv("TRACKER_DATABASE_PREPARED_STATEMENTS", "false")
    bouncer = PgBouncer(database_url)
    try:
        yield bouncer.url
        assert bouncer.server_connections() > 0, "the instances should have gone through PgBouncer"
    finally:
        bouncer.stop()


@pytest.fixture
def topology(
    database_url: str, route: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[list[LiveServer], Sweeper, Prometheus, str, Any]]:
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    now = datetime.now(UTC)
    day = simulate_day(now, seed=5, parcels=300)
    _flagged(day, now)
    with write_transaction(engine) as conn:
        load_network(conn, day.network.facilities, day.network.couriers)
        key = create_key(conn, Role.ADMIN, now=now)
    # Each instance its own multiprocess folder (under its instance path), as on two hosts.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    servers: list[LiveServer] = []
    sweeper = prometheus = None
    try:
        for name in ("web-1", "web-2"):
            instance = tmp_path / f"{name}-instance"
            servers.append(LiveServer(route, instance, TRACKER_SWEEP_INTERVAL="0", TRACKER_WORKERS="2"))
        sweeper = Sweeper(route, tmp_path, every=2)
        jobs = {
            "tracker": [f"127.0.0.1:{s.port}" for s in servers],
            "tracker-sweeper": [f"127.0.0.1:{sweeper.port}"],
        }
        prometheus = Prometheus(tmp_path, jobs)
        yield servers, sweeper, prometheus, key, day
    finally:
        if prometheus is not None:
            prometheus.stop()
        if sweeper is not None:
            sweeper.stop()
        for server in servers:
            server.stop()


def _settled(read: Any, timeout: float = 10.0) -> tuple[Any, Any]:
    """``read()`` -> (seen, stored), until they agree: a scrape lags the database by up to 1 s,
    and the sweeper keeps sweeping."""
    deadline = time.monotonic() + timeout
    while True:
        seen, stored = read()
        if seen == stored or time.monotonic() > deadline:
            return seen, stored
        time.sleep(0.5)


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table).where(*where)) or 0)


def test_two_instances_and_a_sweeper_store_once_and_fill_every_panel(topology: Any, engine: Engine) -> None:
    servers, sweeper, prometheus, key, day = topology
    headers = {"Authorization": f"Bearer {key}"}
    started = time.monotonic()

    fed = feed([s.url for s in servers], headers, day)
    plan_stations(servers[0].url, headers, day)
    time.sleep(2)  # the sweeper's last turn, and a few more scrapes and rule evaluations

    # Idempotency across instances: each event stored once, accepted by one instance only.
    stored, parcels = _count(engine, ScanEvent), _count(engine, Parcel)
    assert fed.rejected == 0
    assert stored == fed.events == fed.accepted
    assert fed.duplicates == fed.events * (len(servers) - 1)
    assert parcels == fed.parcels
    with engine.connect() as conn:
        doubled = conn.execute(
            select(Case.parcel_id, Case.type)
            .where(Case.state != CaseState.RESOLVED)
            .group_by(Case.parcel_id, Case.type)
            .having(func.count() > 1)
        ).all()
        by_type = {str(t): n for t, n in conn.execute(select(Case.type, func.count()).group_by(Case.type))}
        flagged = {
            (tn, str(type_))
            for tn, type_ in conn.execute(
                select(Parcel.tracking_number, Case.type)
                .join(Case, Case.parcel_id == Parcel.id)
                .where(Parcel.tracking_number.in_([STALE, FAKE]), Case.state != CaseState.RESOLVED)
            )
        }
    assert doubled == []
    assert {(STALE, "stale"), (STALE, "sla_breach"), (FAKE, "suspected_fake_delivery")} <= flagged
    assert by_type.get("at_risk", 0) > 0, by_type  # the day's late parcels

    # What Prometheus scraped from the sweeper (not what the sweeper says now). Only the
    # sweeper opens cases here, so its counter and its printed reports must add up to every
    # case in the database, detectors' included.
    assert prometheus.targets_up() == {"tracker": [1.0, 1.0], "tracker-sweeper": [1.0]}
    opened, cases = _settled(
        lambda: (
            prometheus.value('sum(tracker_cases_opened_total{job="tracker-sweeper"})'),
            _count(engine, Case),
        )
    )
    assert opened == cases > 0
    reported, cases = _settled(
        lambda: (sum(r["cases_opened"] for r in sweeper.reports()), _count(engine, Case))
    )
    assert reported == cases
    sweeps = prometheus.value('sum(tracker_sweep_duration_seconds_count{job="tracker-sweeper"})')
    assert sweeps > 0
    # The web instances (sweep off) opened no case and swept nothing.
    assert prometheus.value('sum(tracker_cases_opened_total{job="tracker"})') == 0
    assert prometheus.value('sum(tracker_sweep_duration_seconds_count{job="tracker"})') == 0

    # Both instances export the database gauges: the dashboards must not count them twice.
    def shown(title: str) -> float:
        return sum(float(series["value"][1]) for series in prometheus.query(panel_expr(title)))

    assert _settled(lambda: (shown("Parcels by status"), parcels)) == (parcels, parcels)
    live = (Case.state != CaseState.RESOLVED,)
    seen, stored_live = _settled(lambda: (shown("Open cases by type"), _count(engine, Case, *live)))
    assert seen == stored_live

    problems = unanswered(prometheus)
    assert not problems, "\n".join(problems)

    print(
        f"\ntopology: {len(servers)} instances x 2 workers + sweeper, {fed.batches} batches:"
        f" events sent {fed.events} to each instance, accepted {fed.accepted}, duplicates {fed.duplicates},"
        f" stored {stored}; parcels {parcels}; cases {by_type}; scraped from tracker-sweeper:"
        f" cases opened {opened:g}, sweeps {sweeps:g}; its reports: {len(sweeper.reports())} sweeps,"
        f" {reported} cases opened; workload and checks {time.monotonic() - started:.1f} s"
    )
