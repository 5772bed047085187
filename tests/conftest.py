"""Fixtures shared by the suite: databases, the app, the clock, personas.

Database tests run twice, on SQLite and on PostgreSQL (a fresh database
created for the session on the server at ``TRACKER_TEST_POSTGRES_URL``).
On a laptop without PostgreSQL those runs skip; in CI ``.ci/run`` sets
``TRACKER_REQUIRE_SERVICES=1`` and every skip becomes a failure, so a
missing service can never pass for a green run.

Each test starts from an empty, migrated database and leaves nothing behind:

* SQLite: every test gets its own copy of a migrated template file.
* PostgreSQL, in-process tests: the ``engine`` fixture holds one connection
  in an outer transaction that is rolled back after the test. The code under
  test still gets a real ``Engine`` and opens connections and
  transactions as in production (``tracker.core.db.write_transaction``,
  ``engine.begin()``), but every transaction it begins is a SAVEPOINT, its
  COMMIT a RELEASE and its ROLLBACK a ROLLBACK TO SAVEPOINT (see
  :class:`_Savepoints`), so nothing is ever committed. Identity sequences
  are not transactional: ids keep growing over the session.
* PostgreSQL, tests marked ``committing`` (several connections, threads,
  subprocesses, live servers from ``tests/live.py``: all need to see each
  other's commits) get an ordinary engine and every table is TRUNCATEd
  after them.

After every PostgreSQL test the tables must be empty; a test that commits
through a connection of its own without the marker fails there instead of
leaking rows into the tests after it, and one whose own connection waits for
a row the outer transaction holds fails on the database's 30 s lock_timeout
instead of hanging.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from tests.live import ARGS, CHROMIUM
from tracker.app import create_app
from tracker.core import migrate
from tracker.core.db import create_database, drop_database, make_engine, write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.merchants.store import create_merchant
from tracker.scans.directory import load_network
from tracker.settings import Settings
from tracker.sim.simulator import build_network

REQUIRE_SERVICES = os.environ.get("TRACKER_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but TRACKER_REQUIRE_SERVICES=1 forbids skips: {reason}"


class FakeClock:
    """The app's clock in tests: fixed until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# 2026-11-20 12:00 in Shanghai.
T0 = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright, one for each browser test module (tracking, console)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def _postgres_admin_engine() -> Engine:
    engine = make_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}")
    return engine


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session: its URL."""
    _postgres_admin_engine().dispose()  # skips when no server answers
    url = create_database(POSTGRES_URL, "tracker_test")
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        # A connection of its own that waits for a row the rolled-back engine holds
        # (a test that needs real commits but lacks the ``committing`` marker) fails
        # after this long instead of hanging the run.
        conn.execute(text(f"ALTER DATABASE \"{make_url(url).database}\" SET lock_timeout = '30s'"))
        conn.commit()
    engine.dispose()
    yield url
    drop_database(POSTGRES_URL, url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file each test copies (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "tracker.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_tables(postgres_database: str) -> Iterator[tuple[Engine, list[str]]]:
    """A connection pool to the session's database and the tables to clean, for the fixtures below."""
    engine = make_engine(postgres_database, pool_size=1)
    with engine.connect() as conn:
        # Every table the migrations made, whatever the models say.
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
    yield engine, names
    engine.dispose()


def _committing(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("committing") is not None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database; once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "tracker.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    admin, names = request.getfixturevalue("postgres_tables")
    yield url
    quoted = ", ".join(f'"{name}"' for name in names)
    if _committing(request):
        with admin.begin() as conn:
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        return
    nonempty = " UNION ALL ".join(f"SELECT '{n}' WHERE EXISTS (SELECT FROM \"{n}\")" for n in names)
    with admin.connect() as conn:
        leaked = list(conn.scalars(text(nonempty)))
        if leaked:
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
            conn.commit()
    assert not leaked, (
        f"rows committed to {leaked} outside the test's rolled-back transaction: "
        "mark the test @pytest.mark.committing"
    )


class _Savepoints:
    """Make every transaction an engine begins a SAVEPOINT inside one outer transaction.

    Installed on the dialect of an engine whose pool holds a single
    connection; the outer transaction is the one psycopg opens implicitly
    on that connection's first statement, and only the fixture ends it.
    Savepoints nest by depth, so a connection opened while another is in a
    transaction (a read inside ``write_transaction``) works as it would on
    separate connections, minus the isolation.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.ended = False

    def install(self, engine: Engine) -> None:
        # Instance attributes shadow the dialect's methods for this engine only;
        # its Connections call them for every begin, commit and rollback.
        engine.dialect.do_begin = self.begin  # type: ignore[method-assign]
        engine.dialect.do_commit = self.commit  # type: ignore[method-assign]
        engine.dialect.do_rollback = self.rollback  # type: ignore[method-assign]
        # The outer transaction holds the connection, so an isolation level (the
        # tracking reads' AUTOCOMMIT) cannot change under it; every statement is in it anyway.
        engine.dialect.set_isolation_level = self.keep_isolation  # type: ignore[method-assign]

    def begin(self, dbapi_connection: Any) -> None:
        # A thread still holding the engine after its test would otherwise open
        # a transaction nobody ever ends, and its locks would block every test after.
        if self.ended:
            raise RuntimeError("this test engine was used after its test ended")
        self.depth += 1
        self._run(dbapi_connection, f"SAVEPOINT test_{self.depth}")

    def commit(self, dbapi_connection: Any) -> None:
        if self.depth:
            self._run(dbapi_connection, f"RELEASE SAVEPOINT test_{self.depth}")
            self.depth -= 1

    def rollback(self, dbapi_connection: Any) -> None:
        # At depth 0 nothing of the code's is open: there is nothing to undo,
        # and the outer transaction must survive.
        if self.depth:
            self._run(dbapi_connection, f"ROLLBACK TO SAVEPOINT test_{self.depth}")
            self._run(dbapi_connection, f"RELEASE SAVEPOINT test_{self.depth}")
            self.depth -= 1

    @staticmethod
    def keep_isolation(dbapi_connection: Any, level: str) -> None:
        pass

    @staticmethod
    def _run(dbapi_connection: Any, statement: str) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()


@contextmanager
def _rolled_back_engine(url: str) -> Iterator[Engine]:
    """An engine whose commits all land in one transaction, rolled back on exit."""
    # One connection for every checkout (StaticPool), and no rollback when it
    # goes back to the pool: the Connection already ended its transaction.
    engine = create_engine(url, poolclass=StaticPool, pool_reset_on_return=None)
    with engine.connect() as conn:  # connects and lets the dialect initialise, before the hooks
        raw = conn.connection.dbapi_connection
    # psycopg opens the outer transaction with this first statement; it is
    # also the session setting make_engine's "connect" hook makes.
    _Savepoints._run(raw, "SET TIME ZONE 'UTC'")
    savepoints = _Savepoints()
    savepoints.install(engine)
    try:
        yield engine
        status = raw.info.transaction_status
        assert status in (TransactionStatus.INTRANS, TransactionStatus.INERROR), (
            f"the test's outer transaction ended ({status.name}): something committed or disposed its engine"
        )
    finally:
        savepoints.ended = True
        if not raw.closed:
            raw.rollback()
        engine.dispose()


@pytest.fixture
def engine(request: pytest.FixtureRequest, database_url: str) -> Iterator[Engine]:
    """An engine on :func:`database_url`: rolled back after the test on PostgreSQL unless ``committing``."""
    if database_url.startswith("postgresql") and not _committing(request):
        with _rolled_back_engine(database_url) as engine:
            yield engine
        return
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # No in-process sweeper: its thread would outlive the test and sweep the
    # next test's database; tests that want it say so (as tests/live.py does).
    # /metrics reads the database on every scrape: tests look right after a change
    # (tests/web/test_metrics_access.py tests the cache).
    # Solves on the request thread: a child process per test app would cost a
    # second to start each time (tests/routing/service/test_solve_slots.py
    # tests the slots).
    return Settings(
        instance_path=tmp_path / "instance",
        log_level="WARNING",
        sweep_interval=0.0,
        metrics_cache=timedelta(0),
        solve_slots=0,
    )


@pytest.fixture
def app(settings: Settings, engine: Engine, clock: FakeClock) -> Any:
    app = create_app(settings, engine=engine, clock=clock)
    app.config["TESTING"] = True
    return app


@dataclass
class Persona:
    """Someone calling the API with a key: ``courier.post("/api/v1/scans", json=...)``."""

    name: str
    key: str
    client: Any

    def _headers(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        headers = dict(kwargs.pop("headers", {}) or {})
        headers["Authorization"] = f"Bearer {self.key}"
        return headers

    def get(self, url: str, **kwargs: Any) -> Any:
        return self.client.get(url, headers=self._headers(kwargs), **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self.client.post(url, headers=self._headers(kwargs), **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Any:
        return self.client.patch(url, headers=self._headers(kwargs), **kwargs)


@dataclass
class Personas:
    courier: Persona  # C-SH011, at station ST-SH-01
    other_courier: Persona  # C-SH012
    station: Persona  # facility key for ST-SH-01
    merchant: Persona  # bound to merchant SHOP-A
    other_merchant: Persona  # bound to merchant SHOP-B
    ops: Persona
    #: An unbound key, as a carrier integration would hold.
    admin: Persona
    anonymous: Any


@pytest.fixture
def network(engine: Engine) -> Any:
    network = build_network()
    with write_transaction(engine) as conn:
        load_network(conn, network.facilities, network.couriers)
    return network


@pytest.fixture
def personas(app: Any, engine: Engine, network: Any, clock: FakeClock) -> Personas:
    client = app.test_client()
    with write_transaction(engine) as conn:
        create_merchant(conn, "SHOP-A", "Shop A", now=clock())
        create_merchant(conn, "SHOP-B", "Shop B", now=clock())

        def key(role: Role, **binding: str) -> str:
            return create_key(conn, role, now=clock(), **binding)

        return Personas(
            courier=Persona("courier C-SH011", key(Role.COURIER, courier="C-SH011"), client),
            other_courier=Persona("courier C-SH012", key(Role.COURIER, courier="C-SH012"), client),
            station=Persona("station ST-SH-01", key(Role.FACILITY, facility="ST-SH-01"), client),
            merchant=Persona("merchant SHOP-A", key(Role.MERCHANT, merchant="SHOP-A"), client),
            other_merchant=Persona("merchant SHOP-B", key(Role.MERCHANT, merchant="SHOP-B"), client),
            ops=Persona("ops", key(Role.OPS), client),
            admin=Persona("admin", key(Role.ADMIN), client),
            anonymous=client,
        )
