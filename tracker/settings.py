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
from datetime import time, timedelta
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
    #: PostgreSQL hot standbys of the primary for reads that tolerate a little lag
    #: (public tracking, ops lists): :mod:`tracker.core.replicas`.
    database_replica_url: tuple[str, ...] = ()
    #: A replica further behind than this is skipped (the primary answers instead).
    replica_max_lag: timedelta = timedelta(seconds=5)
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
    #: How long a sweeper reuses the delivery history the customer's ETAs are learned
    #: from (:class:`tracker.sweep.store.HistoryCache`); 0: read it every sweep.
    sweep_history_max_age: timedelta = timedelta(minutes=10)
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
    #: How long a sign-in to the ops console (``/ops``) lasts.
    console_session_lifetime: timedelta = timedelta(hours=8)
    #: Console sign-in tries allowed per client address and, separately, per username.
    console_login_limit: str = "10/minute;50/hour"
    #: Map tiles of the console's route maps (``{z}/{x}/{y}``); ``off``: routes drawn on a blank map.
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    #: How soon ops owes a customer an answer to a complaint (the case's ``due_at``), and for vip customers.
    complaint_answer: timedelta = timedelta(hours=24)
    complaint_answer_vip: timedelta = timedelta(hours=4)
    #: When couriers deliver (local time): every ETA a customer is shown lies within them.
    #: ``(opens, closes)``; :class:`tracker.sla.eta_shown.DeliveryHours` takes them as they are.
    delivery_hours: tuple[time, time] = (time(8, 0), time(21, 0))
    # Notifications (tracker.notify): webhooks and customer messages.
    #: Private, loopback and link-local webhook targets are refused unless one of these admits them.
    webhook_allow_networks: tuple[IPNetwork, ...] = ()
    #: Fernet key encrypting webhook signing secrets at rest; empty: subscriptions cannot be created.
    webhook_secret_key: str = field(default="", repr=False)
    #: Per-request timeout of a webhook POST (connect and read).
    webhook_timeout: timedelta = timedelta(seconds=5)
    #: Tries of one delivery before it goes to the dead letter.
    webhook_max_attempts: int = 10
    #: First retry delay; each further one doubles (with jitter), up to ``webhook_backoff_max``.
    webhook_backoff_base: timedelta = timedelta(seconds=30)
    webhook_backoff_max: timedelta = timedelta(hours=6)
    #: Failed tries in a row (no success between) after which a subscription is disabled.
    webhook_disable_after: int = 50
    #: How long a dispatcher holds a claimed row; a killed dispatcher's rows come back after it.
    notify_lease: timedelta = timedelta(seconds=60)
    #: SMTP server for customer emails, ``smtp://host:port`` (``smtps://`` for TLS); empty: no email.
    smtp_url: str = field(default="", repr=False)
    mail_from: str = "tracker@localhost"
    #: SMS gateway (Aliyun SendSms-shaped JSON over HTTP); empty: no SMS.
    sms_url: str = ""
    sms_sign_name: str = "tracker"
    #: Local hours without SMS, ``start-end`` (``21-8``: from 21:00 to 08:00); empty: none.
    sms_quiet_hours: tuple[int, int] | None = (21, 8)

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
        for name in (
            "pickup_hold",
            "verification_window",
            "verification_ttl",
            "complaint_answer",
            "complaint_answer_vip",
        ):
            if getattr(self, name) <= timedelta(0):
                raise SettingsError(f"TRACKER_{name.upper()} must be positive")
        if any(not url.startswith("postgresql") for url in self.database_replica_url):
            raise SettingsError(
                "TRACKER_DATABASE_REPLICA_URL: replicas are PostgreSQL URLs (postgresql+psycopg://...)"
            )
        if self.database_replica_url and not self.sqlalchemy_url.startswith("postgresql"):
            raise SettingsError("TRACKER_DATABASE_REPLICA_URL needs a PostgreSQL TRACKER_DATABASE_URL")
        if self.replica_max_lag < timedelta(0):
            raise SettingsError("TRACKER_REPLICA_MAX_LAG must not be negative")
        if self.console_session_lifetime <= timedelta(0):
            raise SettingsError("TRACKER_CONSOLE_SESSION_LIFETIME must be positive")
        if self.metrics_cache < timedelta(0):
            raise SettingsError("TRACKER_METRICS_CACHE must not be negative")
        if self.sweep_history_max_age < timedelta(0):
            raise SettingsError("TRACKER_SWEEP_HISTORY_MAX_AGE must not be negative")
        if not 0 <= self.solve_slots < self.threads:
            # A thread must stay free for scans and reads whatever the solves do.
            raise SettingsError("TRACKER_SOLVE_SLOTS must be at least 0 and below TRACKER_THREADS")
        if self.webhook_max_attempts < 1 or self.webhook_disable_after < 1:
            raise SettingsError(
                "TRACKER_WEBHOOK_MAX_ATTEMPTS and TRACKER_WEBHOOK_DISABLE_AFTER must be at least 1"
            )
        if self.webhook_secret_key:
            from cryptography.fernet import Fernet

            try:
                Fernet(self.webhook_secret_key)
            except ValueError:
                raise SettingsError(
                    "TRACKER_WEBHOOK_SECRET_KEY must be a Fernet key (32 url-safe base64-encoded bytes)"
                ) from None

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


def _urls(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


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


def _tile_url(raw: str) -> str:
    # Its origin goes into the console's Content-Security-Policy: an https or http URL only.
    if raw.strip().lower() == "off":
        return ""
    if not raw.startswith(("https://", "http://")) or "{z}" not in raw:
        raise ValueError("expected an http(s) URL with {z}, {x} and {y}")
    return raw


def _hours(raw: str) -> tuple[time, time]:
    """``08:00-21:00``: local opening and closing times, the first before the second."""
    try:
        first, second = (time.fromisoformat(part.strip()) for part in raw.split("-"))
    except ValueError:
        raise ValueError("expected HH:MM-HH:MM, e.g. 08:00-21:00") from None
    if not first < second:
        raise ValueError("the hours must open before they close")
    return first, second


def _quiet_hours(raw: str) -> tuple[int, int] | None:
    # "21-8": from 21:00 to 08:00 local time; "none": no quiet hours.
    if raw.strip().lower() == "none":
        return None
    start, _, end = raw.partition("-")
    hours = (int(start), int(end))
    if not all(0 <= h <= 23 for h in hours):
        raise ValueError("expected two hours 0-23 as start-end, e.g. 21-8, or none")
    return hours


def _storage_uri(raw: str) -> str:
    if not raw.startswith(("memory://", "redis://", "rediss://", "redis+unix://")):
        raise ValueError("expected memory:// or a redis:// URI")
    return raw


_PARSERS: dict[str, Callable[[str], Any]] = {
    "database_url": str,
    "database_prepared_statements": _bool,
    "database_replica_url": _urls,
    "replica_max_lag": _seconds,
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
    "sweep_history_max_age": _seconds,
    "pickup_hold": _seconds,
    "delivery_hours": _hours,
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
    "console_session_lifetime": _seconds,
    "console_login_limit": _rate_limit,
    "map_tile_url": _tile_url,
    "complaint_answer": _seconds,
    "complaint_answer_vip": _seconds,
    "webhook_allow_networks": _networks,
    "webhook_secret_key": str,
    "webhook_timeout": _seconds,
    "webhook_max_attempts": _positive_int,
    "webhook_backoff_base": _seconds,
    "webhook_backoff_max": _seconds,
    "webhook_disable_after": _positive_int,
    "notify_lease": _seconds,
    "smtp_url": str,
    "mail_from": str,
    "sms_url": str,
    "sms_sign_name": str,
    "sms_quiet_hours": _quiet_hours,
}
