"""``tracker sweep``: the sweep as a process of its own (once, or ``--every N``).

``--every N`` is the separate sweeper of an installation whose web processes
run with ``TRACKER_SWEEP_INTERVAL=0``. It takes the same database lease as
the in-process sweepers (:mod:`tracker.sweep.lease`), so running two of them
for availability, or one beside in-process sweepers, sweeps once per turn.
Its metrics (cases opened, sweep durations) live in this process: with
``--metrics-port`` (or ``TRACKER_SWEEP_METRICS_PORT``) it serves them on
``/metrics`` for Prometheus to scrape, as the deployment files do.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import click

from tracker.core import commandline

log = logging.getLogger("tracker.sweep")


@click.command()
@click.option("--every", type=float, help="keep sweeping, this many seconds apart (until SIGTERM)")
@click.option(
    "--metrics-port",
    type=int,
    envvar="TRACKER_SWEEP_METRICS_PORT",
    help="serve this process's Prometheus metrics on this port (TRACKER_SWEEP_METRICS_PORT)",
)
@click.option("--metrics-host", default="0.0.0.0", show_default=True, help="address for --metrics-port")
def sweep(every: float | None, metrics_port: int | None, metrics_host: str) -> None:
    """Open and close time-based cases for the parcels that are due."""
    import os
    import signal
    import time as clock

    # This process counts in its own memory and serves what it counted (see
    # the module docstring); files in a web server's multiprocess folder
    # would be summed into the web's /metrics, or lost. The value class is
    # chosen when prometheus_client is first imported, hence this order.
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from tracker.core import logs, metrics
    from tracker.scans.ingest import IngestPolicy
    from tracker.sla import load_service_levels
    from tracker.sla.eta_shown import DeliveryHours
    from tracker.sweep.detectors import DETECTORS
    from tracker.sweep.lease import SWEEP, holder_name, release
    from tracker.sweep.run import sweep as run
    from tracker.sweep.run import sweep_if_leader
    from tracker.sweep.store import HistoryCache

    settings = commandline.settings()
    logs.configure(settings.log_level, settings.log_format)
    policy = IngestPolicy(
        clock_skew=settings.clock_skew, levels=load_service_levels(settings.service_levels_path)
    )
    stopping = []
    # SIGTERM: finish the chunk at hand, then stop (no half-judged chunk).
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    with commandline.engine(settings, migrated=True) as engine:
        if metrics_port is not None:
            metrics.serve_process_metrics(host=metrics_host, port=metrics_port)
        hours = DeliveryHours(*settings.delivery_hours)
        if every is None:  # one sweep, now, whoever else is sweeping (it is safe to)
            click.echo(json.dumps(run(engine, now=datetime.now(UTC), policy=policy, zone=settings.timezone,
                                      detectors=DETECTORS, hours=hours).to_dict()))  # fmt: skip
            return
        holder = holder_name()
        history = HistoryCache(settings.sweep_history_max_age)
        log.info("sweeper started", extra={"fields": {"every_s": every, "holder": holder}})
        while not stopping:
            report = sweep_if_leader(
                engine,
                holder,
                now=datetime.now(UTC),
                interval=every,
                policy=policy,
                zone=settings.timezone,
                detectors=DETECTORS,
                should_stop=lambda: bool(stopping),
                hours=hours,
                history_cache=history,
            )
            if report is not None:
                click.echo(json.dumps(report.to_dict()))
            deadline = clock.monotonic() + every
            while clock.monotonic() < deadline and not stopping:
                clock.sleep(0.2)
        from tracker.core.db import write_transaction

        with write_transaction(engine) as conn:
            release(conn, SWEEP, holder, now=datetime.now(UTC))
