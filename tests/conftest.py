"""Fixtures shared by the suite: databases, the app, the clock, personas.

Database tests run twice, on SQLite and on PostgreSQL (a fresh database
created for the session on the server at ``TRACKER_TEST_POSTGRES_URL``).
On a laptop without PostgreSQL those runs skip; in CI ``.ci/run`` sets
``TRACKER_REQUIRE_SERVICES=1`` and every skip becomes a failure, so a
missing service can never pass for a green run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from tracker.app import create_app
from tracker.core import migrate
from tracker.core.db import create_database, drop_database, make_engine, write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
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
    engine.dispose()
    yield url
    drop_database(POSTGRES_URL, url)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file each test copies (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "tracker.core.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated database; once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "tracker.core.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    yield url
    engine = make_engine(url)
    with engine.begin() as conn:
        # Every table the migrations made, whatever the models say.
        names = [n for n in inspect(conn).get_table_names() if n != "alembic_version"]
        quoted = ", ".join(f'"{name}"' for name in names)
        conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(instance_path=tmp_path / "instance", log_level="WARNING")


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


@dataclass
class Personas:
    courier: Persona  # C-SH011, at station ST-SH-01
    other_courier: Persona  # C-SH012
    station: Persona  # facility key for ST-SH-01
    merchant: Persona
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

        def key(role: Role, **binding: str) -> str:
            return create_key(conn, role, now=clock(), **binding)

        return Personas(
            courier=Persona("courier C-SH011", key(Role.COURIER, courier="C-SH011"), client),
            other_courier=Persona("courier C-SH012", key(Role.COURIER, courier="C-SH012"), client),
            station=Persona("station ST-SH-01", key(Role.FACILITY, facility="ST-SH-01"), client),
            merchant=Persona("merchant", key(Role.MERCHANT), client),
            ops=Persona("ops", key(Role.OPS), client),
            admin=Persona("admin", key(Role.ADMIN), client),
            anonymous=client,
        )
