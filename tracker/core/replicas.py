"""Reads that may go to a streaming replica, and when they must not.

``TRACKER_DATABASE_REPLICA_URL`` names one or more PostgreSQL hot standbys
of the primary. A :class:`ReadRouter` hands out a connection for reads that
can tolerate a little lag (the public tracking read, ops list pages): the
first replica that is up and whose replay is within ``max_lag`` of the
primary, else the primary. Whatever must see its own writes (scan answers,
verification, feedback, case actions) never asks it: it uses the primary's
engine as before.

**Lag.** A standby knows how far its replay is behind what it has received
but not what the primary has not sent it yet, so one query on the standby
decides (:data:`LAG_SQL`):

* no WAL receiver streaming (the primary is away, the link broken, the
  standby promoted or not a standby at all): not usable, its data may be
  any age;
* everything received is replayed: lag 0, even when the primary has been
  idle for hours (``now() - pg_last_xact_replay_timestamp()`` alone would
  call an idle, caught-up standby hours late);
* otherwise: the age of the last replayed transaction.

**Connections.** :meth:`ReadRouter.run` (the public tracking read, one
statement) goes over a connection the request thread keeps to that server
(:class:`HeldConnections`) on PostgreSQL; :meth:`ReadRouter.connect`
(pages of reads) takes one from the server's pool.

Each process checks each replica at most once per ``check_every`` seconds
(one thread checks, the others use the last verdict), so the check costs a
query a second, not one per read. A read that fails on a replica marks it
down until the next check and is tried once on the primary: the customer
gets an answer either way.

**Metrics.** ``tracker_replica_reads_total{target, reason}``: where each
routed read went (``replica``/``primary``) and why (``healthy``, ``lagging``,
``down``, ``failed``: the replica broke during the read); a fallback to the
primary is a ``primary`` read with any reason but ``healthy``.
``tracker_replica_lag_seconds{replica}`` is the lag last seen (``replica``
is the replica's position in the setting, a bounded set; -1 while it is
down or not streaming).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from prometheus_client import Counter, Gauge
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from tracker.core.db import without_ping

log = logging.getLogger("tracker.replicas")

REPLICA_READS = Counter(
    "tracker_replica_reads_total",
    "Reads routed between replicas and the primary: where they went and why",
    ["target", "reason"],
)
REPLICA_LAG = Gauge(
    "tracker_replica_lag_seconds",
    "Replay lag of each configured replica when last checked (-1: down or not streaming)",
    ["replica"],
    multiprocess_mode="max",
)

#: Lag in seconds, or NULL when the server is not a standby streaming from a primary.
LAG_SQL = text(
    """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN NULL
        WHEN NOT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') THEN NULL
        WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
        ELSE GREATEST(0.0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()))::float8
    END
    """
)

T = TypeVar("T")


class OneStatement(Protocol):
    """What a routed read is given: one statement at a time, its first row's first column."""

    #: ``"postgresql"`` or ``"sqlite"``: which text of a statement to send.
    dialect_name: str

    def first(self, statement: str, params: Mapping[str, Any]) -> Any:
        """The statement's first row's first column (None: no row); a ``DBAPIError`` if it fails."""
        ...


class OnConnection:
    """:class:`OneStatement` on a SQLAlchemy connection (and in its transaction, if any).

    The statement goes through the driver's own cursor: SQLAlchemy's execution
    around one statement costs more than the driver's. A failure is raised as
    SQLAlchemy would raise it (a ``DBAPIError``, parameters hidden), so a
    database that is away is still a 503, and a connection that died is not
    handed out again, nor are the others its pool opened before it (a
    restarted server dropped them all).
    """

    __slots__ = ("conn", "dialect_name")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect_name = conn.dialect.name

    def first(self, statement: str, params: Mapping[str, Any]) -> Any:
        conn = self.conn
        cursor = driver_cursor(conn)
        try:
            return _first_column(cursor, statement, params)
        except conn.dialect.loaded_dbapi.Error as error:
            lost = conn.dialect.is_disconnect(error, conn.connection.dbapi_connection, cursor)
            if lost:
                conn.engine.pool._invalidate(conn.connection, error)
                conn.invalidate()
            raise _as_sqlalchemy(conn.dialect, statement, params, error, lost) from error


def driver_cursor(conn: Connection) -> Any:
    """The driver's own cursor, on the connection (and transaction) SQLAlchemy holds."""
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


class HeldConnections:
    """Each thread's own autocommit driver connection to one PostgreSQL server, for routed reads.

    The public tracking read is the request the service answers most, and
    one statement. Taking a connection from the pool for it (SQLAlchemy's
    ``Connection``, the pool's checkout and check-in, autocommit set and
    reset) cost more CPU than the statement: about 150 against 70 µs per
    read, in process (see the README's Benchmarks). So a thread that reads
    keeps a connection of its own and reuses it; a request thread runs one
    request at a time, so nothing else uses it meanwhile. (A server that
    starts a thread per request, such as the development server, pays a
    connect per read instead.)

    The connections come from a pool of their own that holds none
    (``NullPool``: the engine's connect arguments and the "connect" hooks it
    has when this is made, such as the UTC session; no limit, one per
    reading thread, so the engine's pool keeps its size for everything else)
    and stay checked out. They are in autocommit: a read of one statement
    sees one snapshot, with no BEGIN or ROLLBACK. One that the server dropped
    fails its statement (nothing pings it): it is closed and forgotten, the
    other threads replace theirs opened before it at their next read, and
    the statement fails as SQLAlchemy's would (a ``DBAPIError``, which
    :class:`ReadRouter` answers by trying the primary once more, or by
    moving a replica's read to the primary). A connect that fails raises a
    ``DBAPIError`` too, as ``Engine.connect`` would. Disposing of the
    engine closes this process's connections; a forked child leaves its
    parent's alone.
    """

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        self.dialect_name = engine.dialect.name
        # Pool has no public way to copy its creator and hooks; recreate() passes the same
        # ones. The hooks are copied now: a listener added to the engine later is not run.
        self._pool = NullPool(
            engine.pool._creator,
            reset_on_return=None,
            dialect=engine.dialect,
            _dispatch=engine.pool.dispatch,
        )
        self._local = threading.local()
        #: When a thread last found its connection dropped: the others' older ones are replaced.
        self._lost_at = float("-inf")
        #: Every thread's connection, with the process and thread that opened it.
        self._all: dict[Any, tuple[int, threading.Thread]] = {}
        self._lock = threading.Lock()
        event.listen(engine, "engine_disposed", self._on_dispose)

    def first(self, statement: str, params: Mapping[str, Any]) -> Any:
        held, driver = self._held()
        try:
            # The driver connection itself, not the pool's handle on it: closed by a dispose
            # meanwhile, it fails here as a lost connection would (and is replaced).
            return _first_column(driver.cursor(), statement, params)
        except self.dialect.loaded_dbapi.Error as error:
            lost = self.dialect.is_disconnect(error, driver, None)
            if lost:
                self._forget(held, error)
            raise _as_sqlalchemy(self.dialect, statement, params, error, lost) from error

    def _held(self) -> tuple[Any, Any]:
        local = self._local
        held = getattr(local, "fairy", None)
        if held is not None:
            ours = local.pid == os.getpid()
            if ours and held.dbapi_connection is not None and local.opened > self._lost_at:
                return held, local.driver
            if ours:
                # Closed by dispose, or opened before another thread found the server had
                # dropped its connection (a restart drops all: as the engine's pool does).
                self._forget(held)
        try:
            held = self._pool.connect()
        except self.dialect.loaded_dbapi.Error as error:
            # What Engine.connect raises: the web answers it 503, the router moves a replica's read.
            raise DBAPIError.instance(
                None, None, error, self.dialect.loaded_dbapi.Error, hide_parameters=True, dialect=self.dialect
            ) from error
        driver = held.driver_connection
        driver.autocommit = True
        pid = os.getpid()
        # A thread that ended left its connection here (a server may start a thread per
        # request): closed when another thread opens one, so they never pile up.
        mine = (held, (pid, threading.current_thread()))
        self._close_where(lambda owner: not owner[1].is_alive(), also=mine)
        local.fairy, local.driver, local.pid, local.opened = held, driver, pid, time.monotonic()
        return held, driver

    def _forget(self, held: Any, error: BaseException | None = None) -> None:
        if error is not None:
            self._lost_at = time.monotonic()
        with self._lock:
            self._all.pop(held, None)
        if held.dbapi_connection is not None:
            held.invalidate(error)  # closes the driver connection

    def close(self) -> None:
        """Close this process's connections (each thread opens a new one on its next read).

        A forked child's dispose leaves the parent's connections it inherited
        alone, and keeps them referenced: closing one, or letting the collector
        close it, would end the parent's session on the socket they share.
        """
        self._close_where(lambda owner: True)

    def _close_where(
        self, closing: Callable[[tuple[int, threading.Thread]], bool], also: tuple[Any, Any] | None = None
    ) -> None:
        """Close this process's connections whose owner ``closing`` picks; ``also``: one to add."""
        pid = os.getpid()
        with self._lock:
            picked = [f for f, owner in self._all.items() if owner[0] == pid and closing(owner)]
            for fairy in picked:
                del self._all[fairy]
            if also is not None:
                self._all[also[0]] = also[1]
        for fairy in picked:
            if fairy.dbapi_connection is not None:
                fairy.invalidate()

    def _on_dispose(self, _engine: Engine) -> None:
        self.close()


def _first_column(cursor: Any, statement: str, params: Mapping[str, Any]) -> Any:
    try:
        cursor.execute(statement, params)
        row = cursor.fetchone()
    finally:
        cursor.close()
    return None if row is None else row[0]


def _as_sqlalchemy(
    dialect: Any, statement: str, params: Mapping[str, Any], error: Exception, lost: bool
) -> DBAPIError:
    return DBAPIError.instance(
        statement,
        params,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=lost,
        dialect=dialect,
    )


class _Reads:
    """Where :meth:`ReadRouter.run` reads from one server: held connections, or the no-ping pool."""

    def __init__(self, engine: Engine) -> None:
        #: For pages of reads and the lag check: no ping, no transaction (see _reader).
        self.engine = _reader(engine)
        # A pool that does not ping is a test's, bound to one connection in a transaction
        # that is rolled back: reads go through it, to see what the test wrote.
        production = engine.dialect.name == "postgresql" and engine.pool._pre_ping
        self.held = HeldConnections(engine) if production else None

    def once(self, read: Callable[[OneStatement], T]) -> T:
        if self.held is not None:
            return read(self.held)
        with self.engine.connect() as conn:
            return read(OnConnection(conn))


@dataclass
class _Replica:
    index: int
    reads: _Reads
    checked_at: float = float("-inf")
    #: Seconds behind when last checked; None: down or not streaming.
    lag: float | None = None


class ReadRouter:
    """Connections for lag-tolerant reads: a healthy replica if there is one, else the primary."""

    def __init__(
        self,
        primary: Engine,
        replicas: Sequence[Engine] = (),
        *,
        max_lag: timedelta = timedelta(seconds=5),
        check_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: The primary as it is (pinged at checkout), for :meth:`connect`'s pages of reads.
        self.primary = primary
        #: The primary for :meth:`run`: held connections, no ping, no transaction (one retry instead).
        self._primary_reads = _Reads(primary)
        self._replicas = [_Replica(i, _Reads(engine)) for i, engine in enumerate(replicas)]
        self._replica_engines = list(replicas)
        self.max_lag = max_lag.total_seconds()
        self.check_every = check_every
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def has_replicas(self) -> bool:
        return bool(self._replicas)

    def choose(self) -> tuple[Engine, str, _Replica | None]:
        """The engine to read from, why, and the replica it is (None: the primary)."""
        if not self._replicas:
            return self.primary, "primary", None
        reason = "down"
        for replica in self._replicas:
            lag = self._lag(replica)
            if lag is None:
                continue
            if lag <= self.max_lag:
                return replica.reads.engine, "healthy", replica
            reason = "lagging"
        return self.primary, reason, None

    def run(self, read: Callable[[OneStatement], T]) -> tuple[T, str]:
        """``read`` on a chosen server; ``(its result, "replica" or "primary")``.

        On PostgreSQL the statements go over this thread's own connection to
        that server (:class:`HeldConnections`), elsewhere over a connection of
        the no-ping pool. A connection the server dropped since its last use
        (nothing pings it) fails the read: on a replica, the replica is marked
        down and the read goes to the primary; on the primary it is tried once
        more, on a new connection, as :func:`tracker.tracking.http.read` always did.
        """
        _, reason, replica = self.choose()
        if replica is not None:
            try:
                result = replica.reads.once(read)
            except DBAPIError as error:
                log.warning(
                    "replica read failed, reading from the primary",
                    extra={"fields": {"replica": replica.index, "error": type(error.orig).__name__}},
                )
                self._mark_down(replica)
                reason = "failed"
            else:
                self._count("replica", reason)
                return result, "replica"
        if self._replicas:
            self._count("primary", reason)
        return _retry_once(self._primary_reads, read), "primary"

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for a page of reads (ops lists): a replica's if one is healthy.

        Unlike :meth:`run` it cannot move a half-done read to the primary, so
        a replica that fails mid-read fails the request (503); the next
        request, after the check marks it down, goes to the primary.
        """
        engine, reason, replica = self.choose()
        if self._replicas:
            self._count("replica" if replica is not None else "primary", reason)
        try:
            with engine.connect() as conn:
                yield conn
        except DBAPIError:
            if replica is not None:
                self._mark_down(replica)
            raise

    def _lag(self, replica: _Replica) -> float | None:
        now = self._clock()
        if now - replica.checked_at < self.check_every or not self._lock.acquire(blocking=False):
            return replica.lag  # checked lately, or another thread is checking: its last verdict
        try:
            replica.checked_at = now
            replica.lag = _measure(replica.reads.engine)
            REPLICA_LAG.labels(str(replica.index)).set(-1 if replica.lag is None else replica.lag)
        finally:
            self._lock.release()
        return replica.lag

    def _mark_down(self, replica: _Replica) -> None:
        replica.lag = None
        replica.checked_at = self._clock()
        REPLICA_LAG.labels(str(replica.index)).set(-1)

    @staticmethod
    def _count(target: str, reason: str) -> None:
        REPLICA_READS.labels(target, reason).inc()

    def dispose(self) -> None:
        """Close the replicas' pools (the primary's belongs to the app)."""
        for engine in self._replica_engines:
            engine.dispose()  # and the no-ping twin of its pool (tracker.core.db.without_ping)


def _measure(engine: Engine) -> float | None:
    try:
        with engine.connect() as conn:
            value: Any = conn.execute(LAG_SQL).scalar()
    except DBAPIError:
        # Dropped connection or a server that is away: the pool forgets the connection,
        # the next check opens a new one.
        return None
    return None if value is None else float(value)


def _reader(engine: Engine) -> Engine:
    # No ping at checkout (a round trip on every read: a failed read is retried or
    # moved instead), and on PostgreSQL no transaction of its own: a read of one
    # statement sees one snapshot, and autocommit spares the BEGIN and ROLLBACK
    # round trips. SQLite's transactions cost no round trip. The isolation level is an
    # execution option, set on each checkout and reset at check-in: the twin's pool is
    # the one the scan writes use too (without_ping gives an engine one twin).
    reader = without_ping(engine)
    if engine.dialect.name == "postgresql":
        return reader.execution_options(isolation_level="AUTOCOMMIT")
    return reader


def _retry_once(reads: _Reads, read: Callable[[OneStatement], T]) -> T:
    try:
        return reads.once(read)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    return reads.once(read)
