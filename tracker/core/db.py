"""Engine, declarative base and column types shared by every model.

Two stores are supported and tested: SQLite (the embedded default, one file
under the instance folder) and PostgreSQL (production). Differences are kept
here and nowhere else:

* SQLite returns naive datetimes even for ``DateTime(timezone=True)``;
  :class:`UTCDateTime` stores UTC and hands back aware UTC datetimes on both.
* A new SQLite file is created with mode 0600 (it holds personal data).
* SQLite runs in WAL mode with foreign keys on, and every transaction starts
  with ``BEGIN IMMEDIATE`` so that two writers queue on the database lock
  instead of failing with "database is locked" when a reader upgrades.

Bound parameters are names, phones and addresses, so an error must not carry
them into a log: engines hide them (``hide_parameters``: SQLAlchemy's error
text and its echo say "parameters hidden"), and on PostgreSQL the row a NOT
NULL or CHECK violation quotes back ("DETAIL: Failing row contains (...)") is
cut from the message too (:func:`_hide_failing_row`). What is left names the
table, the constraint and, for a key, its code: never a recipient.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Alembic needs every constraint and index to have a stable name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored in UTC, returned in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database; times must be aware")
        if value.tzinfo is not UTC:  # the common case is already UTC: skip the work
            value = value.astimezone(UTC)
        # SQLite keeps no offset: store the UTC wall time without it.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        # PostgreSQL sessions run in UTC (see make_engine): usually nothing to do.
        return value if value.tzinfo is UTC else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def upsert(conn: Connection, table: Any) -> Any:
    """An INSERT that knows ``ON CONFLICT`` on both dialects."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


def make_engine(url: str, *, prepared_statements: bool = True, **kwargs: Any) -> Engine:
    """Create an engine with the per-dialect settings described above.

    ``prepared_statements=False`` (``TRACKER_DATABASE_PREPARED_STATEMENTS``)
    stops psycopg from preparing statements on the server, for a pooler in
    transaction mode. The one session setting, ``TIME ZONE``, is safe there:
    PgBouncer tracks ``TimeZone`` per client and sets it on whichever server
    connection the client gets.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _create_private(engine.url.database)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    # A database host that stops answering (rather than refusing) must not
    # hold a request until gunicorn's worker timeout: fail the connect in 5 s,
    # which the web answers as 503 with Retry-After.
    if url.startswith("postgresql"):
        kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 5)
        if not prepared_statements:
            kwargs["connect_args"]["prepare_threshold"] = None
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 5)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "connect")
        def _utc_session(dbapi_connection: Any, _record: Any) -> None:
            # Timestamps come back in UTC whatever the server's TimeZone is.
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'UTC'")
            dbapi_connection.commit()

        event.listen(engine, "handle_error", _hide_failing_row)
    return engine


_TWIN = "_tracker_without_ping"


def without_ping(engine: Engine) -> Engine:
    """``engine`` with a pool of its own that does not ping a connection at checkout.

    ``pool_pre_ping`` (on for PostgreSQL, above) costs one round trip on every
    checkout, so that a connection the server dropped (a restart, a failover)
    is replaced before a statement fails on it. A caller that instead retries
    once when its statement finds the connection dead (a scan batch,
    :func:`run_write`; the routed reads of :mod:`tracker.core.replicas`, whose
    public tracking read on PostgreSQL keeps a connection per thread instead)
    can skip it. The pool is
    ``engine``'s recreated, as :meth:`~sqlalchemy.engine.Engine.dispose` does
    (same connect arguments, sizes and "connect" hooks: the UTC session); the
    engine around it is ``engine`` (dialect, events, hidden parameters). It
    opens its own connections, as many at once as its callers use (a request
    thread holds one for one statement), and closes them when ``engine`` is
    disposed of. An engine whose pool does not ping (SQLite, a test's) is
    returned as it is. Each engine has one twin, whoever asks (the scan
    writes and the routed reads share it), so a worker keeps its idle
    connections without a ping once.
    """
    if not engine.pool._pre_ping:
        return engine
    known: Engine | None = getattr(engine, _TWIN, None)
    if known is not None:
        return known
    twin = copy.copy(engine)
    twin.pool = engine.pool.recreate()
    # Pool has no public setter: the same attribute its constructor sets from pre_ping.
    twin.pool._pre_ping = False
    # Kept on the engine itself, not in a registry keyed by it: the twin shares the
    # engine's listeners, which hold the engine, so a registry would keep both alive.
    setattr(engine, _TWIN, twin)

    # The twin shares the engine's events: disposing of either closes both pools' idle connections.
    @event.listens_for(engine, "engine_disposed")
    def _dispose_twin(_engine: Engine) -> None:
        twin.pool.dispose()

    return twin


_FAILING_ROW = "Failing row contains"


def _hide_failing_row(context: Any) -> None:
    """Cut the row PostgreSQL quotes back from an error's text (and its driver error's)."""
    for error in (context.original_exception, context.sqlalchemy_exception):
        message = error.args[0] if error is not None and error.args else None
        if isinstance(message, str) and _FAILING_ROW in message:
            cut = message[: message.index(_FAILING_ROW)]
            error.args = (f"{cut}{_FAILING_ROW} (hidden: it may hold personal data)", *error.args[1:])


def _create_private(database: str | None) -> None:
    """Create a new SQLite file readable by its owner only: it holds names and phones.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so
    they follow. An existing file keeps the mode its operator gave it.
    """
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    with suppress(FileExistsError):
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit is on disk before the client hears "accepted".
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front (see write_transaction); readers don't.
        if connection.get_execution_options().get("tracker_write"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction meant to write; commits on success.

    On SQLite this is ``BEGIN IMMEDIATE`` (see the module docstring); on
    PostgreSQL an ordinary transaction.
    """
    with engine.connect() as connection:
        connection = connection.execution_options(tracker_write=True)
        with connection.begin():
            yield connection


T = TypeVar("T")


def run_write(engine: Engine, work: Callable[[Connection], T]) -> T:
    """``work`` in a :func:`write_transaction`, run again once if the connection was found dead.

    For a pool that does not ping at checkout (:func:`without_ping`: the scan
    API's, where the ping was a round trip on every batch). A connection the
    server dropped since its last use fails ``work``'s first statement; the
    server has then rolled back whatever the transaction did, so ``work``
    runs once more, on a new connection (SQLAlchemy has meanwhile set aside
    every connection of the pool opened before the drop). A connection lost
    at the commit is not retried: the commit may have happened, and it is the
    client's retry that finds out (scans answer ``duplicate``). ``work`` must
    only touch the database through ``conn``, since it may run twice.
    """
    for last_try in (False, True):
        committing = False
        try:
            with write_transaction(engine) as conn:
                result = work(conn)
                committing = True  # the block's end commits
            return result
        except DBAPIError as error:
            if last_try or committing or not error.connection_invalidated:
                raise
    raise AssertionError("not reached: the last try returns or raises")


def create_database(server_url: str, prefix: str, template: str | None = None) -> str:
    """A new PostgreSQL database on the server at ``server_url``: its URL.

    Empty, or a copy of the database named ``template``. For tests and
    benchmarks, which each want a database of their own.
    """
    import uuid

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(server_url, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        with admin.connect() as conn:
            copy = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    """Drop a database made by :func:`create_database`, even with sessions still open."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    admin = make_engine(server_url, isolation_level="AUTOCOMMIT", pool_size=1)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    finally:
        admin.dispose()
