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

from tracker.keys.store import KeyCache
from tracker.scans.ingest import IngestPolicy
from tracker.settings import Settings
from tracker.sla import load_service_levels


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Callable[[], datetime] = utc_now
    ingest: IngestPolicy = field(init=False)
    keys: KeyCache = field(init=False)

    def __post_init__(self) -> None:
        # Service levels are validated here, at start: a bad file stops the app.
        levels = load_service_levels(self.settings.service_levels_path)
        self.ingest = IngestPolicy(clock_skew=self.settings.clock_skew, levels=levels)
        self.keys = KeyCache()

    def now(self) -> datetime:
        return self.clock()


def runtime() -> Runtime:
    return current_app.extensions["tracker"]  # type: ignore[no-any-return]
