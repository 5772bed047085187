"""What a running app holds: settings, the engine, the clock, the write policy.

Views reach it with :func:`runtime`; domain code never does (it is handed
plain values). The clock is a seam: tests replace it to freeze time. The
app factory (:func:`tracker.app.create_app`) builds the scans' write policy
(service levels, validated at start, and the clock skew) and hands it in, so
this module, which every blueprint imports, depends on no domain above it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import Engine

from tracker.core.db import make_engine, without_ping
from tracker.core.replicas import ReadRouter
from tracker.keys.store import KeyCache
from tracker.settings import Settings

if TYPE_CHECKING:
    from tracker.scans.ingest import IngestPolicy


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    ingest: IngestPolicy
    clock: Callable[[], datetime] = utc_now
    keys: KeyCache = field(default_factory=KeyCache)
    #: Lag-tolerant reads (public tracking, ops lists): a replica when one is healthy.
    reads: ReadRouter = field(init=False)
    #: The primary without a ping at checkout, for writes that retry instead
    #: (:func:`tracker.core.db.run_write`): the scan API's batches.
    unpinged: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.reads = self.read_router()
        self.unpinged = without_ping(self.engine)

    def read_router(self) -> ReadRouter:
        replicas = [
            make_engine(url, prepared_statements=self.settings.database_prepared_statements)
            for url in self.settings.database_replica_url
        ]
        return ReadRouter(self.engine, replicas, max_lag=self.settings.replica_max_lag)

    def now(self) -> datetime:
        return self.clock()


def runtime() -> Runtime:
    return current_app.extensions["tracker"]  # type: ignore[no-any-return]
