"""``tracker notify``: the dispatcher as a process of its own, and a key for secrets.

``tracker notify dispatch`` fans out and sends everything due, then exits;
``--loop`` keeps doing so (every ``--interval`` seconds when idle) until
SIGTERM, which lets the current turn finish. Run one or several: they share
the work safely (:mod:`tracker.notify.deliveries`). ``--metrics-port`` serves
the process's counters (``tracker_notifications_total``) for Prometheus.
"""

from __future__ import annotations

import json
import logging

import click

from tracker.core import commandline

log = logging.getLogger("tracker.notify")


@click.group()
def notify() -> None:
    """Webhooks and customer messages."""


@notify.command()
@click.option("--loop", "keep_going", is_flag=True, help="keep dispatching until SIGTERM")
@click.option("--interval", type=float, default=1.0, show_default=True, help="seconds between idle turns")
@click.option("--metrics-port", type=int, help="serve this process's Prometheus metrics on this port")
@click.option("--metrics-host", default="0.0.0.0", show_default=True, help="address for --metrics-port")
def dispatch(keep_going: bool, interval: float, metrics_port: int | None, metrics_host: str) -> None:
    """Send the notifications that are due (webhooks, email, SMS)."""
    import os
    import signal

    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # this process counts and serves its own
    from tracker.core import logs, metrics
    from tracker.notify.dispatch import from_settings

    settings = commandline.settings()
    logs.configure(settings.log_level, settings.log_format)
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    with commandline.engine(settings, migrated=True) as engine:
        dispatcher = from_settings(engine, settings)
        if metrics_port is not None:
            metrics.serve_process_metrics(host=metrics_host, port=metrics_port)
        if not keep_going:
            click.echo(json.dumps(dispatcher.turn().to_dict()))
            return
        log.info("dispatcher started", extra={"fields": {"interval_s": interval}})
        dispatcher.loop(interval=interval, should_stop=lambda: bool(stopping))


@notify.command("new-key")
def new_key() -> None:
    """Print a fresh value for TRACKER_WEBHOOK_SECRET_KEY."""
    from tracker.notify.secretbox import new_key as make

    click.echo(make())
