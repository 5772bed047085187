"""Prometheus metrics: what is counted where, and how several workers agree.

Two kinds of metric, and why:

* **Events counted as they happen** (scans ingested, HTTP requests,
  deliveries and their slack, cases opened, damage reports, sweeps, route
  solves) are counters and histograms in this module. Under gunicorn each
  worker is a process; ``tracker serve`` points ``PROMETHEUS_MULTIPROC_DIR``
  at a fresh folder before the workers start, prometheus-client then keeps
  each worker's values in a memory-mapped file there, and ``/metrics`` sums
  them (:func:`render`).
  A separate ``tracker sweep --every`` process serves its own counters on
  its ``--metrics-port`` (:func:`serve_process_metrics`), scraped as a job
  of its own.
* **State** (parcels by status, stale parcels by status, open cases by type,
  the last successful sweep, the last plan's distance) is read from the
  database at scrape time by :class:`DatabaseCollector`, so it is right
  whatever the number of workers, and survives restarts. Every web instance
  reports the same installation-wide values, so the dashboards and alerts
  aggregate these gauges with ``max``, never ``sum`` (two instances would
  count every parcel twice; ``tests/service/test_topology.py`` checks it).
  Each process keeps the gauges it read for a few seconds
  (:class:`GaugeCache`, ``TRACKER_METRICS_CACHE``): a burst of scrapes, or
  several Prometheus servers, run the GROUP BY counts once per window, not
  once per scrape. Who may scrape is :mod:`tracker.web.system`'s business.

Labels are bounded sets: event types, roles, statuses, case types, service
levels, region classes, Flask endpoint names. Never a tracking number, a
courier or a customer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from tracker.core.vocabulary import CaseState, CaseType, ComplaintKind, EventType, ParcelStatus, Role

SCANS = Counter(
    "tracker_scans_total", "Scan events received, by type, source and result", ["type", "source", "result"]
)
#: The HTTP methods the service routes, each its own ``method`` label; any other is ``other``.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The ``method`` label of a request: a client may send any token as its method
    (gunicorn passes ``FOOBAR`` through, answered 405), and each would start new series."""
    return method if method in HTTP_METHODS else "other"


HTTP_REQUESTS = Counter(
    "tracker_http_requests_total",
    "HTTP requests by endpoint, method and status",
    ["endpoint", "method", "status"],
)
HTTP_CONNECTIONS_REBALANCED = Counter(
    "tracker_http_connections_rebalanced_total",
    "Keep-alive connections answered with Connection: close to even out the workers' busy connections",
)
HTTP_LATENCY = Histogram(
    "tracker_http_request_duration_seconds",
    "HTTP request latency by endpoint and method",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DELIVERIES = Counter(
    "tracker_deliveries_total",
    "Parcels delivered (or ready for pickup where that meets the promise), by outcome",
    ["service_level", "region_class", "outcome"],
)
PROMISE_SLACK = Histogram(
    "tracker_promise_slack_seconds",
    "Promised time minus delivery time; negative is late",
    ["service_level"],
    buckets=(
        -86400,
        -21600,
        -7200,
        -3600,
        -1800,
        -600,
        0,
        600,
        1800,
        3600,
        7200,
        21600,
        43200,
        86400,
        172800,
    ),
)
NOTIFICATIONS = Counter(
    "tracker_notifications_total",
    "Notification tries by kind, channel (webhook, email, sms) and result (sent, failed, dead, skipped)",
    ["kind", "channel", "result"],
)
CASES_OPENED = Counter("tracker_cases_opened_total", "Cases opened, by type", ["type"])
DAMAGE_REPORTS = Counter("tracker_damage_reports_total", "Damage reports, by source", ["source"])
APPOINTMENTS = Counter(
    "tracker_appointments_total", "Deliveries with a chosen window, by outcome (kept, missed)", ["outcome"]
)
COMPLAINTS = Counter("tracker_complaints_total", "Customer complaints, by kind", ["kind"])
COMPLAINT_ANSWER_SECONDS = Histogram(
    "tracker_complaint_answer_seconds",
    "From a complaint to ops' first answer to the customer, by kind (a complaint kind, or rating)",
    ["kind"],
    buckets=(900, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 48 * 3600, 7 * 24 * 3600),
)
SWEEP_DURATION = Histogram(
    "tracker_sweep_duration_seconds",
    "Duration of one sweep over due parcels",
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
ROUTE_SOLVES = Counter("tracker_route_solves_total", "Route optimisations, by result", ["result"])
ROUTE_SOLVE_SECONDS = Histogram(
    "tracker_route_solve_seconds",
    "Time spent solving one routing problem",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
)

SCAN_SOURCES = [r.value for r in Role] + ["demo"]


def initialise_labels() -> None:
    """Create the bounded label combinations at zero so dashboards show 0, not "no data"."""
    for type_ in EventType:
        for result in ("accepted", "duplicate", "rejected"):
            for source in ("courier", "facility", "admin"):
                SCANS.labels(type_.value, source, result)
    for case in CaseType:
        CASES_OPENED.labels(case.value)
    for source in ("scan", "customer"):
        DAMAGE_REPORTS.labels(source)
    for result in ("ok", "error", "invalid", "busy"):
        ROUTE_SOLVES.labels(result)
    for outcome in ("kept", "missed"):
        APPOINTMENTS.labels(outcome)
    for kind in ComplaintKind:
        COMPLAINTS.labels(kind.value)
        COMPLAINT_ANSWER_SECONDS.labels(kind.value)
    COMPLAINT_ANSWER_SECONDS.labels("rating")


class GaugeCache:
    """The database gauges of the last read, reused for ``ttl`` seconds (one per process).

    A lock makes concurrent scrapes of one process wait for the read in
    progress instead of running the same counts beside it. ``ttl`` 0 reads
    on every scrape.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._families: list[GaugeMetricFamily] = []
        self._until: float | None = None

    def families(self, read: Callable[[], list[GaugeMetricFamily]]) -> list[GaugeMetricFamily]:
        with self._lock:
            now = self._clock()
            if self._until is None or now >= self._until:
                self._families = read()
                self._until = now + self._ttl
            return self._families


class DatabaseCollector(Collector):
    """Gauges read from the database when Prometheus scrapes (through ``cache`` when given)."""

    def __init__(
        self,
        engine: Engine,
        extra: Callable[[Any], Iterator[GaugeMetricFamily]] | None = None,
        cache: GaugeCache | None = None,
    ):
        self.engine = engine
        self.extra = extra
        self.cache = cache

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.cache is None:
            yield from self.read()
        else:
            yield from self.cache.families(self.read)

    def read(self) -> list[GaugeMetricFamily]:
        """Every gauge, from the database now."""
        from tracker.core.models import Case, Parcel, ServiceState

        parcels = GaugeMetricFamily("tracker_parcels", "Parcels by current status", labels=["status"])
        cases = GaugeMetricFamily("tracker_open_cases", "Open or acknowledged cases by type", labels=["type"])
        stale = GaugeMetricFamily(
            "tracker_stale_parcels", "Parcels with a live stale case, by status", labels=["status"]
        )
        families = [parcels, cases, stale]
        with self.engine.connect() as conn:
            by_status = dict(
                (str(s), n)
                for s, n in conn.execute(select(Parcel.status, func.count()).group_by(Parcel.status))
            )
            by_type = dict(
                (str(t), n)
                for t, n in conn.execute(
                    select(Case.type, func.count())
                    .where(Case.state != CaseState.RESOLVED)
                    .group_by(Case.type)
                )
            )
            for status in ParcelStatus:
                parcels.add_metric([status.value], by_status.get(status.value, 0))
            for case in CaseType:
                cases.add_metric([case.value], by_type.get(case.value, 0))
            stale_by_status = dict(
                (str(s), n)
                for s, n in conn.execute(
                    select(Parcel.status, func.count())
                    .join(Case, Case.parcel_id == Parcel.id)
                    .where(Case.type == CaseType.STALE, Case.state != CaseState.RESOLVED)
                    .group_by(Parcel.status)
                )
            )
            for status in ParcelStatus:
                stale.add_metric([status.value], stale_by_status.get(status.value, 0))
            facts = {row.key: row for row in conn.execute(select(ServiceState))}
            sweep = facts.get("sweep.last_success")
            # 0 while no sweep ever succeeded: the TrackerSweepNeverRan alert
            # needs a series to see, or an installation that never swept
            # would stay silent.
            families.append(
                GaugeMetricFamily(
                    "tracker_sweep_last_success_timestamp_seconds",
                    "When the last sweep finished (Unix time; 0: never)",
                    value=sweep.at.timestamp() if sweep is not None else 0.0,
                )
            )
            route = facts.get("route.last_objective")
            if route is not None and route.value is not None:
                families.append(
                    GaugeMetricFamily(
                        "tracker_route_objective_meters",
                        "Total distance of the last route plan",
                        value=route.value,
                    )
                )
            families.extend(_notification_gauges(conn))
            if self.extra is not None:
                families.extend(self.extra(conn))
        return families


def _notification_gauges(conn: Any) -> list[GaugeMetricFamily]:
    """The notification backlog: pending by channel, and how long the oldest due one has waited.

    "Waited" counts from when a row became due (written to the outbox, or its
    retry time came), so a delivery resting in its backoff does not age, and a
    stopped dispatcher shows as a steadily growing value.
    """
    from datetime import UTC, datetime

    from tracker.core.models import NotificationDelivery as D
    from tracker.core.models import NotificationEvent as E

    now = datetime.now(UTC)
    pending = GaugeMetricFamily(
        "tracker_notifications_pending",
        "Notifications not yet sent, by channel (outbox: not yet fanned out)",
        labels=["channel"],
    )
    counts = {"outbox": 0, "webhook": 0, "email": 0, "sms": 0}
    oldest = []
    unfanned = conn.execute(
        select(func.count(), func.min(E.created_at)).where(E.fanned_out_at.is_(None))
    ).one()
    counts["outbox"] = unfanned[0]
    if unfanned[1] is not None:
        oldest.append(unfanned[1])
    for channel, n in conn.execute(
        select(D.channel, func.count()).where(D.state == "pending").group_by(D.channel)
    ):
        counts[str(channel)] = n
    due = conn.scalar(
        select(func.min(D.next_attempt_at)).where(D.state == "pending", D.next_attempt_at <= now)
    )
    if due is not None:
        oldest.append(due)
    for channel, n in counts.items():
        pending.add_metric([channel], n)
    age = max((now - min(oldest)).total_seconds(), 0.0) if oldest else 0.0
    return [
        pending,
        GaugeMetricFamily(
            "tracker_notifications_oldest_pending_seconds",
            "How long the oldest notification due for sending has waited (0: none waiting)",
            value=age,
        ),
    ]


def render(
    engine: Engine,
    extra: Callable[[Any], Iterator[GaugeMetricFamily]] | None = None,
    cache: GaugeCache | None = None,
) -> tuple[bytes, str]:
    """The exposition text for ``/metrics`` and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)  # every worker's files, summed
    else:
        counted = REGISTRY  # one process: its own metrics
    state = CollectorRegistry()
    state.register(DatabaseCollector(engine, extra, cache))
    return generate_latest(counted) + generate_latest(state), CONTENT_TYPE_LATEST


def serve_process_metrics(*, host: str, port: int) -> None:
    """Serve this process's own counters on ``http://host:port/metrics`` (a separate sweeper).

    A ``tracker sweep --every`` process is not a web worker: its counters
    (cases opened, sweep durations) live in its memory, and Prometheus
    scrapes them here. The database gauges stay with the web ``/metrics``, so
    nothing is reported twice.
    """
    from prometheus_client import start_http_server

    initialise_labels()
    start_http_server(port, addr=host, registry=REGISTRY)
