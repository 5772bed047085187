"""The database goes away under a running tracker, and comes back.

The outage test runs ``tracker serve`` (gunicorn, two workers) on a private
PostgreSQL (:mod:`tests.pg_private`: never the shared server the other tests
use), has four clients post batches, stops PostgreSQL for ten seconds and
starts it again. It checks what the issue asks of an outage: clients hear 503
``database_unavailable`` with ``Retry-After``; the log gets one line per
failed request, no tracebacks; the first 2xx comes within 5 seconds of
PostgreSQL accepting connections again, from the same workers (no restart);
and every event a client was told was stored is stored. It prints the figures.

The in-process tests pin the mapping of :mod:`tracker.web.errors`: an
unreachable server or an exhausted pool is a 503, a bug in a statement stays
a 500 with its traceback.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests import pg_private
from tests.conftest import T0
from tests.helpers import at, scan
from tests.live import LiveServer, children, free_port
from tracker.app import create_app
from tracker.core import migrate
from tracker.core.db import make_engine, write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.scans.directory import load_network
from tracker.settings import Settings
from tracker.sim.simulator import build_network
from tracker.web.errors import database_unavailable

OUTAGE = 10.0  # seconds PostgreSQL stays down
CLIENTS = 4
BATCH = 50


def _sqlite_error(code: int, message: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode = code  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (
            OperationalError(
                "SELECT 1", {}, psycopg.OperationalError("connection failed: Connection refused")
            ),
            True,
        ),
        (OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown("terminating connection")), True),
        (OperationalError("SELECT 1", {}, psycopg.errors.CannotConnectNow("starting up")), True),
        (OperationalError("SELECT 1", {}, psycopg.errors.TooManyConnections("too many clients")), True),
        (OperationalError("SELECT 1", {}, psycopg.errors.SerializationFailure("could not serialize")), True),
        (OperationalError("SELECT 1", {}, psycopg.errors.LockNotAvailable("lock timeout")), True),
        (
            InterfaceError(
                "SELECT 1", {}, psycopg.InterfaceError("the connection is lost"), connection_invalidated=True
            ),
            True,
        ),
        (PoolTimeout("QueuePool limit of size 5 overflow 5 reached"), True),
        (OperationalError("SELECT 1", {}, _sqlite_error(5, "database is locked")), True),
        (OperationalError("SELECT 1", {}, _sqlite_error(14, "unable to open database file")), True),
        # Bugs in our statements: 500 and a traceback, whatever the driver's class says.
        (ProgrammingError("SELECT x", {}, psycopg.errors.UndefinedTable("no such table")), False),
        (OperationalError("SELECT x", {}, _sqlite_error(1, "no such table: x")), False),
        (OperationalError("SELECT x", {}, psycopg.errors.ProgramLimitExceeded("too many")), False),
        (InterfaceError("SELECT x", {}, sqlite3.InterfaceError("bad parameter type")), False),
        (IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")), False),
        (RuntimeError("not the database at all"), False),
    ],
)
def test_it_tells_an_unavailable_database_from_a_bug(error: BaseException, unavailable: bool) -> None:
    assert database_unavailable(error) is unavailable


@pytest.fixture
def tracker_log(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], pytest.LogCaptureFixture]]:
    """Call it after ``create_app`` (which sets tracker's handlers): tracker's log from then on."""
    # tracker's logger does not propagate to the root logger caplog listens on.
    logger = logging.getLogger("tracker")

    def listen() -> pytest.LogCaptureFixture:
        logger.addHandler(caplog.handler)
        return caplog

    yield listen
    logger.removeHandler(caplog.handler)


def test_an_unreachable_database_answers_503_with_retry_after_and_logs_one_line(
    settings: Settings, tracker_log: Callable[[], pytest.LogCaptureFixture]
) -> None:
    nobody = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    client = create_app(settings, engine=nobody).test_client()
    log = tracker_log()

    answer = client.get("/api/v1/parcels/TRK000001", headers={"Authorization": "Bearer trk_whatever"})
    ready = client.get("/readyz")

    assert answer.status_code == 503
    assert answer.headers["Retry-After"].isdigit() and 1 <= int(answer.headers["Retry-After"]) <= 10
    assert answer.json["error"]["code"] == "database_unavailable" and answer.json["error"]["fields"] == []
    assert "127.0.0.1" not in answer.json["error"]["message"]  # the client learns nothing of our network
    assert ready.status_code == 503
    [line] = [r for r in log.records if r.levelno >= logging.WARNING]
    assert line.getMessage() == "database unavailable" and line.exc_info is None
    assert line.fields["path"] == "/api/v1/parcels/TRK000001"  # type: ignore[attr-defined]
    nobody.dispose()


def test_an_exhausted_pool_answers_503(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "pool.db"
    migrate.upgrade(make_engine(f"sqlite:///{path}"))
    tight = make_engine(f"sqlite:///{path}", pool_size=1, max_overflow=0, pool_timeout=0.1)
    client = create_app(settings, engine=tight).test_client()
    with tight.connect():  # the pool's only connection, held
        answer = client.get("/api/v1/parcels/TRK000001", headers={"Authorization": "Bearer trk_whatever"})
    assert answer.status_code == 503 and answer.json["error"]["code"] == "database_unavailable"
    tight.dispose()


def test_a_bug_in_a_statement_stays_a_500_with_its_traceback(
    settings: Settings, engine: Engine, tracker_log: Callable[[], pytest.LogCaptureFixture]
) -> None:
    app = create_app(settings, engine=engine)
    log = tracker_log()

    def broken() -> str:
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    app.add_url_rule("/broken", view_func=broken)
    answer = app.test_client().get("/broken")

    assert answer.status_code == 500 and answer.json["error"]["code"] == "internal_server_error"
    assert "Retry-After" not in answer.headers
    [logged] = [r for r in log.records if r.exc_info]
    assert "no_such_table" in str(logged.exc_info[1])  # type: ignore[index]


@dataclass
class Traffic:
    """What the clients saw: (sent, answered, status) per request, acknowledged event ids."""

    seen: list[tuple[float, float, int | str]] = field(default_factory=list)
    unavailable: list[requests.Response] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    gave_up: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


def _batch(client: int, number: int) -> dict[str, Any]:
    return {
        "events": [
            scan(
                f"out-{client}-{number:05d}-{i:02d}",
                f"TRKO{client}{(number % 20) * BATCH + i:05d}",
                "arrived",
                at(T0 - timedelta(hours=2), number + i / 100),
                facility="SC-SH-01",
            )
            for i in range(BATCH)
        ]
    }


def _client(url: str, key: str, number: int, traffic: Traffic, deadline: float) -> None:
    """Post batches until told to stop; a batch is retried, as the 503 asks, until acknowledged."""
    headers = {"Authorization": f"Bearer {key}"}
    with requests.Session() as session:
        for batch_number in range(10**6):
            if traffic.stop.is_set():
                return
            body = _batch(number, batch_number)
            while True:
                if time.monotonic() > deadline:
                    traffic.gave_up.append(f"client {number} batch {batch_number}")
                    return
                sent = time.monotonic()
                try:
                    answer = session.post(f"{url}/api/v1/scans", json=body, headers=headers, timeout=10)
                except requests.RequestException as exc:
                    traffic.seen.append((sent, time.monotonic(), type(exc).__name__))
                    time.sleep(0.2)
                    continue
                traffic.seen.append((sent, time.monotonic(), answer.status_code))
                if answer.status_code == 200:
                    results = answer.json()["results"]
                    traffic.acknowledged.update(
                        r["event_id"] for r in results if r["result"] in ("accepted", "duplicate")
                    )
                    break
                if answer.status_code == 503:
                    traffic.unavailable.append(answer)
                    time.sleep(float(answer.headers.get("Retry-After", "1")))
                else:
                    time.sleep(0.2)


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def private_postgres() -> Iterator[pg_private.PrivatePostgres]:
    reason = pg_private.unavailable()
    if reason:
        pytest.skip(f"no private PostgreSQL: {reason}")
    server = pg_private.PrivatePostgres()
    yield server
    server.close()


@pytest.mark.slow
@pytest.mark.committing  # its own connections, to a database of its own
def test_the_pools_pre_ping_replaces_connections_that_died_with_the_server(
    private_postgres: pg_private.PrivatePostgres,
) -> None:
    pinged = make_engine(private_postgres.url, pool_size=1)
    unpinged = make_engine(private_postgres.url, pool_size=1, pool_pre_ping=False)
    for engine in (pinged, unpinged):
        with engine.connect() as conn:  # leaves one live connection in each pool
            conn.execute(text("SELECT 1"))
    private_postgres.stop("immediate")
    private_postgres.start()

    with pinged.connect() as conn:  # the first checkout after the restart works
        assert conn.scalar(text("SELECT 1")) == 1
    # Without the ping the dead connection fails the first request that draws it.
    with pytest.raises(OperationalError) as failed, unpinged.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert database_unavailable(failed.value)
    pinged.dispose()
    unpinged.dispose()


@pytest.mark.slow
@pytest.mark.committing  # a live server, several clients, a database of its own
def test_a_database_outage_answers_503_then_recovers_without_losing_an_acknowledged_event(
    private_postgres: pg_private.PrivatePostgres, tmp_path: Path
) -> None:
    pg = private_postgres
    engine = make_engine(pg.url)
    migrate.upgrade(engine)
    network = build_network()
    with write_transaction(engine) as conn:
        load_network(conn, network.facilities, network.couriers)
        key = create_key(conn, Role.FACILITY, facility="SC-SH-01", now=T0)
    engine.dispose()  # nothing of the test's may sit in the pool while the server is down

    live = LiveServer(pg.url, tmp_path / "instance", TRACKER_WORKERS="2")
    traffic = Traffic()
    threads = [
        threading.Thread(target=_client, args=(live.url, key, n, traffic, time.monotonic() + 60))
        for n in range(CLIENTS)
    ]
    try:
        workers = sorted(children(live.process.pid))
        for thread in threads:
            thread.start()
        _wait(lambda: len(traffic.acknowledged) >= CLIENTS * BATCH * 2, 20, "traffic before the outage")

        log_before = live.log.stat().st_size
        pg.stop("immediate")
        down = time.monotonic()
        ready_during = requests.get(f"{live.url}/readyz", timeout=5).status_code
        time.sleep(max(0.0, down + OUTAGE - time.monotonic()))
        outage_log = live.log.read_bytes()[log_before:]
        restart = time.monotonic()
        pg.start(wait=False)
        up = pg.wait_accepting()

        def first_2xx_after_restart() -> float | None:
            answered = [done for _, done, status in list(traffic.seen) if done > restart and status == 200]
            return min(answered) if answered else None

        _wait(lambda: first_2xx_after_restart() is not None, 15, "a 2xx after PostgreSQL came back")
        time.sleep(1.0)  # some traffic after recovery too
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        ready_after = requests.get(f"{live.url}/readyz", timeout=5).status_code
        workers_after = sorted(children(live.process.pid))
        alive = live.process.poll() is None
    finally:
        traffic.stop.set()
        live.stop()

    engine = make_engine(pg.url)
    with engine.connect() as conn:
        stored = set(conn.scalars(text("SELECT event_id FROM scan_events")))
    engine.dispose()

    during = [status for sent, done, status in traffic.seen if sent >= down and done <= restart]
    statuses = sorted({str(status) for _, _, status in traffic.seen})
    recovery = first_2xx_after_restart()
    assert recovery is not None
    # pg_isready is polled: a client may hear its 2xx first, which proves the server was accepting.
    up = min(up, recovery)
    lines = outage_log.decode().splitlines()
    # One line per failed request; a statement cut off by the stop may add psycopg's
    # one-line "error ignored terminating <Pipeline>" (a request in flight, at most one per client).
    refused = [line for line in lines if '"msg":"database unavailable"' in line]
    cut_off = [line for line in lines if '"logger":"psycopg"' in line and "error ignored" in line]
    print(
        f"\noutage {OUTAGE:.0f} s, {CLIENTS} clients x {BATCH} events a batch, {len(traffic.seen)} requests:"
        f"\n  statuses seen over the run: {statuses}; during the outage: {sorted(set(map(str, during)))}"
        f" ({len(during)} requests, {len(traffic.unavailable)} 503s in all)"
        f"\n  first 2xx {recovery - up:.2f} s after PostgreSQL accepted connections again"
        f"\n  server log during the outage: {len(outage_log)} bytes in {len(lines)} lines"
        f" ({len(outage_log) / OUTAGE:.0f} bytes/s; {len(refused)} refusals, {len(cut_off)} from psycopg)"
        f"\n  acknowledged events {len(traffic.acknowledged)}, stored {len(stored)}"
    )

    assert not traffic.gave_up and not any(thread.is_alive() for thread in threads)
    assert during and set(during) == {503}
    for answer in traffic.unavailable:
        assert answer.headers["Retry-After"].isdigit()
        assert answer.json()["error"]["code"] == "database_unavailable"
        assert answer.json()["error"]["fields"] == []
    assert ready_during == 503 and ready_after == 200
    # pool_pre_ping replaced every connection the pools held from before the outage:
    # no request sent once PostgreSQL accepted connections again failed.
    assert {status for sent, _, status in traffic.seen if sent >= up} == {200}
    assert recovery - up < 5.0
    assert alive and workers_after == workers, "tracker restarted a worker"
    assert b"Traceback" not in outage_log and b'"exc"' not in outage_log
    assert refused and len(refused) + len(cut_off) == len(lines), "\n".join(
        set(lines) - set(refused + cut_off)
    )
    assert len(refused) <= len(traffic.unavailable) and len(cut_off) <= CLIENTS
    assert traffic.acknowledged <= stored
    assert stored == traffic.acknowledged  # every client finished its batch: nothing stored unacknowledged
