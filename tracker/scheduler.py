"""An optional in-process sweep, for the demo and small single-host setups.

With ``TRACKER_SWEEP_INTERVAL`` set, every gunicorn worker runs the sweep in
a daemon thread that often. Several workers sweeping at once is safe by
design (:mod:`tracker.sweep.run` claims disjoint chunks), and the sweep's
metrics land in the worker's own registry, which ``/metrics`` sums. Larger
deployments run ``tracker sweep --every N`` as a service of its own instead.
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
        from tracker.sweep.detectors import DETECTORS
        from tracker.sweep.run import sweep

        # Spread the workers' first runs so they do not all wake at once.
        stop.wait(random.uniform(0, interval))
        while not stop.is_set():
            try:
                zone = rt.settings.timezone
                sweep(rt.engine, now=rt.now(), policy=rt.ingest, zone=zone, detectors=DETECTORS)
            except Exception:  # keep the thread alive; the next run retries
                log.exception("scheduled sweep failed")
            stop.wait(interval)

    stop = threading.Event()
    thread = threading.Thread(target=loop, name="tracker-sweep", daemon=True)
    app.extensions["tracker.scheduler"] = stop
    thread.start()
    return thread
