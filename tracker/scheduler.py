"""The in-process sweeper: on by default, one worker of the installation at a time.

``tracker serve`` starts this loop in a daemon thread of every gunicorn
worker unless ``TRACKER_SWEEP_INTERVAL=0`` says that a separate
``tracker sweep --every N`` runs instead. Every ``interval`` seconds each
loop asks the database for the sweep lease (:mod:`tracker.sweep.lease`);
the one that holds it sweeps, the others wait for their next turn, and when
the holder's process dies another takes over within a few intervals. So an
installation sweeps whether it has one worker or twenty, on one host or
several, and nobody has to remember a cron job.

The sweep's metrics land in the sweeping worker's own registry, which
``/metrics`` sums across the workers (``PROMETHEUS_MULTIPROC_DIR``).
"""

from __future__ import annotations

import logging
import random
import threading

from flask import Flask

from tracker.web.runtime import Runtime

log = logging.getLogger("tracker.scheduler")


def start(app: Flask, interval: float) -> threading.Thread:
    rt: Runtime = app.extensions["tracker"]

    def loop() -> None:
        from tracker.sla.eta_shown import DeliveryHours
        from tracker.sweep.detectors import DETECTORS
        from tracker.sweep.lease import holder_name
        from tracker.sweep.run import sweep_if_leader
        from tracker.sweep.store import HistoryCache

        holder = holder_name()
        history = HistoryCache(rt.settings.sweep_history_max_age)
        # A fresh start sweeps soon (a restart may have left a backlog); the
        # jitter keeps the workers from asking for the lease all at once.
        stop.wait(random.uniform(0.5, min(interval, 5.0)))
        while not stop.is_set():
            try:
                sweep_if_leader(
                    rt.engine,
                    holder,
                    now=rt.now(),
                    interval=interval,
                    policy=rt.ingest,
                    zone=rt.settings.timezone,
                    detectors=DETECTORS,
                    should_stop=stop.is_set,
                    hours=DeliveryHours(*rt.settings.delivery_hours),
                    history_cache=history,
                )
            except Exception:  # keep the thread alive; the next run retries
                log.exception("scheduled sweep failed")
            stop.wait(interval)

    stop = threading.Event()
    thread = threading.Thread(target=loop, name="tracker-sweep", daemon=True)
    app.extensions["tracker.scheduler"] = stop
    thread.start()
    return thread
