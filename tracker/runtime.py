"""What a running app holds: settings, the engine, the clock.

Views reach it with :func:`runtime`; domain code never does (it is handed
plain values). The clock is a seam: tests replace it to freeze time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import Engine

from tracker.auth import KeyCache
from tracker.ingest import IngestPolicy
from tracker.settings import Settings

#: Service levels a parcel may be registered with.
SERVICE_LEVELS = frozenset({"211", "next_day", "standard", "group_buy"})


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Callable[[], datetime] = utc_now
    service_levels: frozenset[str] = field(default=SERVICE_LEVELS)
    ingest: IngestPolicy = field(init=False)
    keys: KeyCache = field(init=False)

    def __post_init__(self) -> None:
        self.ingest = IngestPolicy(clock_skew=self.settings.clock_skew)
        self.keys = KeyCache()

    def now(self) -> datetime:
        return self.clock()


def runtime() -> Runtime:
    return current_app.extensions["tracker"]  # type: ignore[no-any-return]
