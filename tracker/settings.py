"""One settings object, parsed once from the environment.

Every knob of the service is a field of :class:`Settings`, read from a
``TRACKER_*`` variable by :meth:`Settings.from_env`. A bad value fails at start
with a message that names the variable; nothing else in the code reads the
environment, and domain modules receive plain values (a ``timedelta``, a
``ZoneInfo``), never the settings object or ``current_app.config``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A ``TRACKER_*`` variable has a value the service cannot use."""


def _default_instance_path() -> Path:
    return Path.cwd() / "instance"


@dataclass(frozen=True)
class Settings:
    """Configuration of one tracker process (see the README's table)."""

    #: SQLAlchemy URL; empty means an SQLite file under ``instance_path``.
    database_url: str = ""
    #: psycopg prepares a statement run five times on its connection; a pooler
    #: in transaction mode (PgBouncer before 1.21) hands the next transaction
    #: another server connection, where that statement does not exist. False
    #: behind such a pooler.
    database_prepared_statements: bool = True
    instance_path: Path = field(default_factory=_default_instance_path)
    #: Local time zone for display and for day-counted rules.
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    #: Most events accepted in one ``POST /api/v1/scans``.
    batch_limit: int = 5000
    #: Largest request body in bytes; larger bodies get 413 before parsing.
    max_body_bytes: int = 8 * 1024 * 1024
    #: How far in the future an ``occurred_at`` may lie (device clocks drift).
    clock_skew: timedelta = timedelta(minutes=5)
    log_level: str = "INFO"
    #: ``json`` for machines (one object a line), ``text`` for people.
    log_format: str = "json"
    #: gunicorn worker processes and threads for ``tracker serve``.
    workers: int = 2
    threads: int = 4
    #: A service-levels TOML replacing the shipped one (tracker/sla/service_levels.toml).
    service_levels_path: Path | None = None
    #: Seconds between sweeps of the in-process sweeper (one worker of the
    #: installation at a time, elected through the database); 0: this process
    #: does not sweep, a separate ``tracker sweep --every N`` does.
    sweep_interval: float = 60.0
    #: How long a pickup point holds a parcel; the tracking page shows "held until".
    pickup_hold: timedelta = timedelta(hours=72)
    #: Where the public endpoints' rate-limit counters live: ``memory://`` (per
    #: process) or ``redis://host:port`` (shared by every worker and host).
    ratelimit_storage_uri: str = "memory://"
    #: Public reads (tracking pages, ``GET /api/v1/track/...``), per client.
    ratelimit_read: str = "120/minute"
    #: Public writes (verification, feedback, appointments), per client.
    ratelimit_write: str = "20/minute"
    #: Wrong verification codes allowed per tracking number, and per client,
    #: within ``verification_window``; further tries are refused until it passes.
    verification_max_failures: int = 5
    verification_max_failures_per_client: int = 10
    verification_window: timedelta = timedelta(hours=1)
    #: How long a passed verification lasts in the customer's browser.
    verification_ttl: timedelta = timedelta(minutes=30)
    #: Signs cookies; empty: a random key created once in ``instance_path/secret_key``.
    secret_key: str = field(default="", repr=False)
    #: Reverse proxies in front of tracker whose ``X-Forwarded-For`` is trusted.
    proxy_hops: int = 0
    #: ``/metrics`` wants ``Authorization: Bearer <this>`` when set; open when empty.
    metrics_token: str = field(default="", repr=False)
    #: ``/metrics`` answers only clients in these networks when any is given.
    metrics_allow: tuple[IPNetwork, ...] = ()
    #: How long each process reuses the database gauges of ``/metrics`` (0: read every scrape).
    metrics_cache: timedelta = timedelta(seconds=5)
    #: Route solves at a time per worker process, each in a child process, off
    #: the request threads (:mod:`tracker.routing.slots`); more are answered
    #: 503 ``solver_busy``. 0 solves on the request thread.
    solve_slots: int = 1

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_path / 'tracker.db'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read ``TRACKER_<FIELD>`` for every field; ``overrides`` win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"TRACKER_{f.name.upper()}"
            raw = env.get(name)
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _PARSERS[f.name](raw)
            except (ValueError, ZoneInfoNotFoundError) as exc:
                raise SettingsError(f"{name}={raw!r}: {exc}") from None
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.batch_limit < 1:
            raise SettingsError("TRACKER_BATCH_LIMIT must be at least 1")
        if self.max_body_bytes < 1024:
            raise SettingsError("TRACKER_MAX_BODY_BYTES must be at least 1024")
        if self.log_format not in ("json", "text"):
            raise SettingsError("TRACKER_LOG_FORMAT must be 'json' or 'text'")
        if self.workers < 1 or self.threads < 1:
            raise SettingsError("TRACKER_WORKERS and TRACKER_THREADS must be at least 1")
        if self.verification_max_failures < 1 or self.verification_max_failures_per_client < 1:
            raise SettingsError("TRACKER_VERIFICATION_MAX_FAILURES(_PER_CLIENT) must be at least 1")
        for name in ("pickup_hold", "verification_window", "verification_ttl"):
            if getattr(self, name) <= timedelta(0):
                raise SettingsError(f"TRACKER_{name.upper()} must be positive")
        if self.metrics_cache < timedelta(0):
            raise SettingsError("TRACKER_METRICS_CACHE must not be negative")
        if not 0 <= self.solve_slots < self.threads:
            # A thread must stay free for scans and reads whatever the solves do.
            raise SettingsError("TRACKER_SOLVE_SLOTS must be at least 0 and below TRACKER_THREADS")

    def but(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests, the demo)."""
        return replace(self, **changes)


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _seconds(raw: str) -> timedelta:
    return timedelta(seconds=float(raw))


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return level


def _rate_limit(raw: str) -> str:
    from limits import parse_many

    parse_many(raw)  # "120/minute", "10 per second; 1000/hour": ValueError otherwise
    return raw


def _networks(raw: str) -> tuple[IPNetwork, ...]:
    # "10.0.0.0/8, 192.168.1.7": an address alone is a network of one.
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


def _storage_uri(raw: str) -> str:
    if not raw.startswith(("memory://", "redis://", "rediss://", "redis+unix://")):
        raise ValueError("expected memory:// or a redis:// URI")
    return raw


_PARSERS: dict[str, Callable[[str], Any]] = {
    "database_url": str,
    "database_prepared_statements": _bool,
    "instance_path": Path,
    "timezone": ZoneInfo,
    "batch_limit": _positive_int,
    "max_body_bytes": _positive_int,
    "clock_skew": _seconds,
    "log_level": _log_level,
    "log_format": str.lower,
    "workers": _positive_int,
    "threads": _positive_int,
    "service_levels_path": Path,
    "sweep_interval": float,
    "pickup_hold": _seconds,
    "ratelimit_storage_uri": _storage_uri,
    "ratelimit_read": _rate_limit,
    "ratelimit_write": _rate_limit,
    "verification_max_failures": _positive_int,
    "verification_max_failures_per_client": _positive_int,
    "verification_window": _seconds,
    "verification_ttl": _seconds,
    "secret_key": str,
    "proxy_hops": _positive_int,
    "metrics_token": str,
    "metrics_allow": _networks,
    "metrics_cache": _seconds,
    "solve_slots": _positive_int,
}
