"""The public tracking read: one statement to the database, and the same answers as before it was one.

Statements are counted where they leave for the database (psycopg's cursor,
sqlite3's trace callback), so whatever runs them (SQLAlchemy or the driver
directly) is counted. The rolled-back PostgreSQL test engine sends no pool
ping; a production pool (``make_engine``) pings at checkout, except for the
public read, which retries once instead (the ``committing`` tests below).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from babel.dates import format_skeleton
from sqlalchemy import Engine, event, select, text, update

from tests.conftest import T0
from tests.helpers import at, scan
from tracker.app import create_app
from tracker.core import replicas
from tracker.core.db import make_engine, write_transaction
from tracker.core.models import Facility
from tracker.tracking import store
from tracker.tracking.i18n import LOCALES, Words


@contextmanager
def statements_sent(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the driver sends while the block runs."""
    sent: list[str] = []
    if engine.dialect.name == "postgresql":
        execute = psycopg.Cursor.execute

        def counting(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            sent.append(str(query))
            return execute(cursor, query, *args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(psycopg.Cursor, "execute", counting)
            yield sent
        return

    def checkout(dbapi_connection: sqlite3.Connection, *_: Any) -> None:
        dbapi_connection.set_trace_callback(sent.append)

    def checkin(dbapi_connection: sqlite3.Connection, *_: Any) -> None:
        dbapi_connection.set_trace_callback(None)

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        yield sent
    finally:
        event.remove(engine, "checkout", checkout)
        event.remove(engine, "checkin", checkin)


def _the_read(sent: list[str], engine: Engine) -> int:
    """How many statements were sent, once checked that each is the tracking read."""
    # sqlite3 traces the statement with its parameters filled in: compare up to them.
    read = store.STATEMENTS[engine.dialect.name].split("WHERE p.tracking_number")[0]
    assert all(statement.startswith(read) for statement in sent), sent
    return len(sent)


@pytest.mark.parametrize("path", ["/api/v1/track/{}", "/track/{}", "/api/v1/track/{}?lang=en"])
def test_a_public_read_sends_one_statement(parcels: Any, client: Any, engine: Engine, path: str) -> None:
    tn = parcels.make("available_for_pickup")  # events, facilities and a pickup point: all in it
    with statements_sent(engine) as sent:
        answer = client.get(path.format(tn))
    assert answer.status_code == 200
    assert _the_read(sent, engine) == 1


def test_a_miss_sends_one_statement_too(client: Any, engine: Engine) -> None:
    with statements_sent(engine) as sent:
        assert client.get("/api/v1/track/TRKNOSUCH0001").status_code == 404
        assert client.get("/track/TRKNOSUCH0001").status_code == 404
    assert _the_read(sent, engine) == 2


def test_a_parcel_made_ready_where_it_was_not_sent_shows_that_pickup_point(
    parcels: Any, client: Any, engine: Engine
) -> None:
    tn = parcels.make("in_transit")  # a door parcel: no pickup point registered
    parcels.scan(tn, scan(f"{tn}-r", tn, "ready_for_pickup", at(T0, -60), facility="PP-SH-011"))
    with engine.connect() as conn:
        point = conn.execute(select(Facility).where(Facility.code == "PP-SH-011")).one()
    pickup = client.get(f"/api/v1/track/{tn}").json["pickup"]
    assert (pickup["name"], pickup["address"], pickup["opening_hours"]) == (
        point.name,
        point.address,
        point.opening_hours,
    )
    assert pickup["address"] and pickup["opening_hours"]


def test_a_facility_name_in_a_translated_sentence_is_escaped(
    parcels: Any, client: Any, engine: Engine
) -> None:
    tn = parcels.make("available_for_pickup")
    with write_transaction(engine) as conn:
        conn.execute(update(Facility).where(Facility.code == "PP-SH-011").values(name="<b>Lockers & Co</b>"))
    html = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    assert "Collect it at &lt;b&gt;Lockers &amp; Co&lt;/b&gt; by " in html
    assert "<b>Lockers" not in html


def test_a_read_that_loses_the_database_answers_503(
    parcels: Any, client: Any, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tn = parcels.make("in_transit")
    dbapi = engine.dialect.loaded_dbapi
    lost = dbapi.OperationalError("server closed the connection unexpectedly")
    if isinstance(lost, sqlite3.Error):
        lost.sqlite_errorcode = 5  # SQLITE_BUSY: the file is held by another process

    class Failing:
        closed = False

        def execute(self, *_: Any) -> None:
            raise lost

        def close(self) -> None:
            pass

    monkeypatch.setattr(replicas, "driver_cursor", lambda conn: Failing())
    answer = client.get(f"/api/v1/track/{tn}")
    assert answer.status_code == 503 and answer.json["error"]["code"] == "database_unavailable"
    assert answer.headers["Retry-After"].isdigit()
    assert tn not in answer.get_data(as_text=True)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York"])
def test_times_read_as_babel_formats_them(locale: str, zone: str) -> None:
    # Words.when keeps Babel's answers for a day and a time of day: check them over
    # two years of instants, daylight saving changes included.
    tz = ZoneInfo(zone)
    words = Words(locale, tz)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for step in range(0, 2 * 365 * 24 * 60, 7919):  # minutes, a prime stride through every hour
        moment = start + timedelta(minutes=step, seconds=step % 60)
        day = format_skeleton("MMMEd", moment, tzinfo=tz, locale=locale)
        clock = format_skeleton("Hm", moment, tzinfo=tz, locale=locale)
        assert words.when(moment) == words.gettext("%(date)s, %(time)s", date=day, time=clock), moment


#: The production pool's ping and the server dropping connections: PostgreSQL's.
ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


@ON_POSTGRES
@pytest.mark.committing  # the app's own pool (make_engine, pre-ping on), not the rolled-back test engine
def test_a_public_read_on_the_production_pool_sends_no_ping(
    parcels: Any, settings: Any, engine: Engine, clock: Any
) -> None:
    tn = parcels.make("in_transit")
    client = create_app(settings, engine=engine, clock=clock).test_client()
    client.get(f"/api/v1/track/{tn}")  # the pool's first connection: a fresh one is never pinged
    with statements_sent(engine) as sent:
        assert client.get(f"/api/v1/track/{tn}").status_code == 200
        assert client.get(f"/track/{tn}").status_code == 200
    assert _the_read(sent, engine) == 2


def _read_once(parcels: Any, settings: Any, engine: Engine, clock: Any) -> tuple[str, Any, Any]:
    """A parcel, a client of an app on the production pool, and the primary's reads after one read."""
    tn = parcels.make("in_transit")
    app = create_app(settings, engine=engine, clock=clock)
    client = app.test_client()
    assert client.get(f"/api/v1/track/{tn}").status_code == 200  # this thread's connection, kept
    return tn, client, app.extensions["tracker"].reads._primary_reads


@ON_POSTGRES
@pytest.mark.committing  # the app's own pool, and connections the server drops
def test_a_read_on_connections_the_server_dropped_is_served(
    parcels: Any, settings: Any, engine: Engine, clock: Any
) -> None:
    # Unpinged, a dropped connection is found dead by the read itself: the read
    # is tried again, and not on another connection from before the drop.
    tn, client, reads = _read_once(parcels, settings, engine, clock)
    held = reads.held._held()[1]
    with engine.connect() as admin:
        dropped = admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": held.info.backend_pid})
        assert dropped.scalar() is True
    answers = [
        client.get(f"/api/v1/track/{tn}"),
        client.get(f"/track/{tn}"),
        client.get(f"/api/v1/track/{tn}"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json["tracking_number"] == tn
    assert reads.held._held()[1] is not held


@ON_POSTGRES
@pytest.mark.committing  # the app's own pool (make_engine), not the rolled-back test engine
def test_a_request_thread_reads_on_a_connection_it_keeps(
    parcels: Any, settings: Any, engine: Engine, clock: Any
) -> None:
    # No checkout from a pool per read (it cost more CPU than the statement): each
    # thread keeps one connection, in autocommit, and the engine's dispose closes them.
    tn, client, reads = _read_once(parcels, settings, engine, clock)
    checkouts: list[object] = []

    def checkout(*_: Any) -> None:
        checkouts.append(_)

    pools = (engine.pool, reads.engine.pool)  # the engine's, and its twin without a ping
    for pool in pools:
        event.listen(pool, "checkout", checkout)
    try:
        with statements_sent(engine) as sent:
            answers = [client.get(path.format(tn)) for path in ("/api/v1/track/{}", "/track/{}") * 3]
        assert [a.status_code for a in answers] == [200] * 6
        assert _the_read(sent, engine) == 6
        assert checkouts == []
        mine = reads.held._held()[1]
        assert mine.autocommit
        # The engine's "connect" hook ran on it: the session's zone is UTC (the server's is not).
        assert reads.held.first("SHOW TIME ZONE", {}) == "UTC"

        def other_thread() -> None:
            assert client.get(f"/api/v1/track/{tn}").status_code == 200
            theirs.append(reads.held._held()[1])

        theirs: list[Any] = []
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert theirs[0] is not mine and theirs[0].info.backend_pid != mine.info.backend_pid
        assert not theirs[0].closed
        # That thread has ended: the next thread to open a connection closes its one.
        third = threading.Thread(target=lambda: client.get(f"/api/v1/track/{tn}"))
        third.start()
        third.join()
        assert theirs[0].closed and not mine.closed
    finally:
        for pool in pools:
            event.remove(pool, "checkout", checkout)
    engine.dispose()
    assert mine.closed and theirs[0].closed
    assert client.get(f"/api/v1/track/{tn}").status_code == 200  # a new one after the dispose


@ON_POSTGRES
@pytest.mark.committing  # the app's own pool, and connections the server drops
def test_once_a_thread_finds_its_connection_dropped_the_others_replace_theirs(
    parcels: Any, settings: Any, engine: Engine, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A restart drops every connection: one failed read tells the others, who open
    # a new one at their next read instead of failing on theirs first.
    tn, client, reads = _read_once(parcels, settings, engine, clock)
    held = reads.held
    failed: list[BaseException] = []
    forget = replicas.HeldConnections._forget

    def counting(self: Any, fairy: Any, error: BaseException | None = None) -> None:
        if error is not None:
            failed.append(error)
        forget(self, fairy, error)

    monkeypatch.setattr(replicas.HeldConnections, "_forget", counting)
    opened, go_on = threading.Event(), threading.Event()
    theirs: list[Any] = []
    answers: list[int] = []

    def other_thread() -> None:
        answers.append(client.get(f"/api/v1/track/{tn}").status_code)
        theirs.append(held._held()[1])
        opened.set()
        go_on.wait(10)
        answers.append(client.get(f"/api/v1/track/{tn}").status_code)

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        assert opened.wait(10)
        assert client.get(f"/api/v1/track/{tn}").status_code == 200
        mine = held._held()[1]
        with engine.connect() as admin:
            admin.execute(
                text("SELECT pg_terminate_backend(pid) FROM unnest(:pids) AS pid"),
                {"pids": [mine.info.backend_pid, theirs[0].info.backend_pid]},
            )
        assert client.get(f"/api/v1/track/{tn}").status_code == 200  # found dropped, tried again
        assert len(failed) == 1
    finally:
        go_on.set()
        thread.join()
    assert answers == [200, 200]
    assert len(failed) == 1  # the other thread did not fail on its dropped connection first
    assert theirs[0].closed


@ON_POSTGRES
@pytest.mark.committing  # the app's own pool, on a server it cannot reach
def test_a_read_that_cannot_connect_answers_503(
    parcels: Any, settings: Any, engine: Engine, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    tn = parcels.make("in_transit")
    app = create_app(settings, engine=engine, clock=clock)
    held = app.extensions["tracker"].reads._primary_reads.held

    def refused() -> Any:
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr(held._pool, "connect", refused)
    client = app.test_client()
    for path in (f"/api/v1/track/{tn}", f"/track/{tn}"):
        answer = client.get(path)
        assert answer.status_code == 503, path
        assert answer.headers["Retry-After"].isdigit()


@ON_POSTGRES
@pytest.mark.committing  # a production engine of its own, and a replica nobody answers on
def test_a_replica_that_refuses_connections_sends_the_read_to_the_primary(database_url: str) -> None:
    primary = make_engine(database_url, prepared_statements=False)
    gone = make_engine("postgresql+psycopg://postgres@127.0.0.1:1/gone")
    router = replicas.ReadRouter(primary, [gone], clock=lambda: 0.0)
    try:
        # Healthy at its last check, refusing since: the read moves, the replica is marked down.
        router._replicas[0].lag, router._replicas[0].checked_at = 0.0, 0.0
        assert router.run(lambda reader: reader.first("SELECT 1", {})) == (1, "primary")
        assert router._replicas[0].lag is None
        # The primary's connection came through make_engine's connect arguments: nothing prepared
        # on the server behind a pooler in transaction mode.
        assert router._primary_reads.held._held()[1].prepare_threshold is None
    finally:
        router.dispose()
        primary.dispose()
