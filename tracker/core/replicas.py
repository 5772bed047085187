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
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

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


@dataclass
class _Replica:
    index: int
    engine: Engine
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
        #: The primary for :meth:`run`: no ping, no transaction (one retry instead).
        self._primary_reader = _reader(primary)
        self._replicas = [_Replica(i, _reader(engine)) for i, engine in enumerate(replicas)]
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
                return replica.engine, "healthy", replica
            reason = "lagging"
        return self.primary, reason, None

    def run(self, read: Callable[[Connection], T]) -> tuple[T, str]:
        """``read`` on a chosen connection; ``(its result, "replica" or "primary")``.

        A connection the server dropped since its last use (neither pool pings
        at checkout) fails the read: on a replica, the replica is marked down
        and the read goes to the primary; on the primary it is tried once more,
        on a new connection, as :func:`tracker.tracking.http.read` always did.
        """
        engine, reason, replica = self.choose()
        if replica is not None:
            try:
                with engine.connect() as conn:
                    result = read(conn)
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
        return _retry_once(self._primary_reader, read), "primary"

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
            replica.lag = _measure(replica.engine)
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


def _retry_once(engine: Engine, read: Callable[[Connection], T]) -> T:
    try:
        with engine.connect() as conn:
            return read(conn)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    with engine.connect() as conn:
        return read(conn)
