"""The ``tracker`` command group: ``db``, ``serve`` and ``demo`` here, the rest beside their domain.

=========  ==================================
command    module
=========  ==================================
db         here (Alembic, :mod:`tracker.core.migrate`)
serve      here (gunicorn, :mod:`tracker.server`)
demo       here (the only user of :mod:`tracker.sim`)
keys       :mod:`tracker.keys.commands`
merchants  :mod:`tracker.merchants.commands`
users      :mod:`tracker.console.commands` (ops console users)
network    :mod:`tracker.scans.commands`
routes     :mod:`tracker.routing.commands`
sweep      :mod:`tracker.sweep.commands`
=========  ==================================

Each command builds :class:`~tracker.settings.Settings` from the environment
once (:mod:`tracker.core.commandline`) and owns its own transactions; domain
functions do the work.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import Engine

from tracker.core import commandline, migrate


@click.group()
@click.version_option(package_name="tracker")
def main() -> None:
    """tracker: logistics tracking and delivery-SLA monitoring."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (creates the database on first run)."""
    settings = commandline.settings()
    with commandline.engine(settings) as engine:
        migrate.upgrade(engine, revision)
    click.echo(f"database at {settings.sqlalchemy_url.split('@')[-1]} is at {revision}")


@db.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    with commandline.engine(commandline.settings()) as engine:
        migrate.check(engine)


@db.group("partitions")
def db_partitions() -> None:
    """Monthly partitions of scan_events (PostgreSQL; SQLite keeps one table)."""


@contextmanager
def _partitioned_engine() -> Iterator[Engine]:
    from tracker.core import partitions

    settings = commandline.settings()
    with commandline.engine(settings, migrated=True) as engine:
        with engine.connect() as conn:
            if not partitions.partitioned(conn):
                raise click.ClickException(
                    "scan_events is not partitioned here: partitions are a PostgreSQL feature "
                    "(SQLite keeps one table); nothing was changed"
                )
        yield engine


@db_partitions.command("list")
def partitions_list() -> None:
    """Each partition with its month and the planner's row estimate."""
    from tracker.core import partitions

    with _partitioned_engine() as engine, engine.connect() as conn:
        for p in partitions.partitions(conn):
            span = f"{p.start} .. {p.end}" if p.start else "default (what no month covers)"
            click.echo(f"{p.name}\t{span}\t~{p.rows} rows")


@db_partitions.command("ensure")
@click.option(
    "--ahead", default=2, show_default=True, type=click.IntRange(0, 36), help="months after this one"
)
def partitions_ensure(ahead: int) -> None:
    """Make this month's partition, the next AHEAD and any month waiting in the default (run monthly)."""
    from tracker.core import partitions
    from tracker.core.db import write_transaction

    with _partitioned_engine() as engine:
        with write_transaction(engine) as conn:
            made = partitions.ensure(conn, now=datetime.now(UTC), ahead=ahead)
        click.echo(f"made {', '.join(made)}" if made else "every partition was there")


@db_partitions.command("drop-before")
@click.argument("cutoff", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.option("--yes", is_flag=True, help="do not ask")
def partitions_drop_before(cutoff: datetime, yes: bool) -> None:
    """Drop every whole month of scans received before CUTOFF (YYYY-MM-DD, UTC): retention."""
    from tracker.core import partitions
    from tracker.core.db import write_transaction

    day = cutoff.date()
    with _partitioned_engine() as engine:
        with engine.connect() as conn:
            doomed = [p.name for p in partitions.partitions(conn) if p.end is not None and p.end <= day]
        if not doomed:
            click.echo(f"no whole month ends on or before {day}")
            return
        if not yes:
            click.confirm(f"drop {', '.join(doomed)} and every scan in them?", abort=True)
        with write_transaction(engine) as conn:
            dropped = partitions.drop_before(conn, day)
        click.echo(f"dropped {', '.join(dropped)}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", type=int, help="gunicorn worker processes (TRACKER_WORKERS)")
def serve(host: str, port: int, workers: int | None) -> None:
    """Run the service under gunicorn."""
    from tracker.server import serve as run

    settings = commandline.settings()
    if workers:
        settings = settings.but(workers=workers)
    run(settings, host, port)


def _demo_console_user(engine: Any, now: datetime) -> str:
    """An ``ops`` user for the demo's console, with a fresh password to print once."""
    import secrets

    from tracker.console.users import create_user
    from tracker.core.db import write_transaction
    from tracker.core.vocabulary import UserRole

    password = secrets.token_urlsafe(9)
    with write_transaction(engine) as conn:
        create_user(conn, "ops", password, role=UserRole.OPS, now=now, display_name="Demo ops")
    return password


def _examples(engine_url: str) -> list[tuple[str, str, str]]:
    """One tracking number per interesting status, with its verification digits, for the demo's welcome."""
    from sqlalchemy import func, select

    from tracker.core.db import make_engine
    from tracker.core.models import Parcel

    engine = make_engine(engine_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Parcel.status, func.min(Parcel.tracking_number))
                .where(~Parcel.tracking_number.startswith("DEMO"))
                .group_by(Parcel.status)
            ).all()
            found = {str(status): tn for status, tn in rows}
            phones = dict(
                conn.execute(
                    select(Parcel.tracking_number, Parcel.recipient_phone).where(
                        Parcel.tracking_number.in_(list(found.values()))
                    )
                ).all()
            )
    finally:
        engine.dispose()
    wanted = ("in_transit", "out_for_delivery", "available_for_pickup", "delivered", "failed_attempt")
    return [
        (status, found[status], (phones.get(found[status]) or "")[-4:])
        for status in wanted
        if status in found
    ]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--parcels", default=400, show_default=True, type=int)
@click.option("--serve/--no-serve", default=True, help="start the server after loading")
def demo(host: str, port: int, seed: int, parcels: int, serve: bool) -> None:
    """A fresh SQLite database with a simulated day, then the server."""
    from tracker.scans.ingest import IngestPolicy
    from tracker.server import port_free
    from tracker.sim import demo as demo_mod
    from tracker.sla import load_service_levels

    if serve and not port_free(host, port):
        # Before the keys are made and printed: they would be keys of no server listening there.
        raise click.ClickException(
            f"{host}:{port} is in use (another tracker demo?): "
            f"stop it, or choose another port (--port {port + 1})"
        )
    settings = commandline.settings()
    path = settings.instance_path / "demo.db"
    if settings.database_url:
        # The demo starts from an empty database every time: never someone's real one.
        click.echo(
            f"note: the demo ignores TRACKER_DATABASE_URL and uses a fresh SQLite file, {path}", err=True
        )
    # The demo sweeps in-process (every 30 s unless TRACKER_SWEEP_INTERVAL says otherwise).
    settings = settings.but(database_url=f"sqlite:///{path}", sweep_interval=settings.sweep_interval or 30.0)
    now = datetime.now(UTC)
    engine = demo_mod.fresh_database(path)
    levels = load_service_levels(settings.service_levels_path)
    policy = IngestPolicy(clock_skew=settings.clock_skew, levels=levels)
    data = demo_mod.prepare(
        engine, now=now, seed=seed, parcels=parcels, policy=policy, zone=settings.timezone
    )
    console_password = _demo_console_user(engine, now)
    engine.dispose()
    base = f"http://{host}:{port}"
    some = sorted(data.day.parcels, key=lambda p: p["tracking_number"])[0]["tracking_number"]
    lines = [
        f"demo database: {path}",
        f"{len(data.day.parcels)} parcels, {data.accepted} scans loaded "
        f"({len(data.day.labels)} with something wrong on purpose)",
        "",
        "API keys (shown once):",
        *[f"  {who:<22} {key}" for who, key in data.keys.items()],
        "",
        "sample parcels (verify with the digits shown: the last four of the recipient's phone):",
        *[f"  {base}/track/{s.tracking_number}   verify {s.digits}   {s.what}" for s in data.samples],
        *[
            f"  {base}/track/{tn}   verify {digits}   {status}"
            for status, tn, digits in _examples(engine_url=settings.sqlalchemy_url)
        ],
        *([f"  {data.plan_note}"] if data.plan_note else []),
        "",
        "open:",
        f"  {base}/ops                   ops console: user ops, password {console_password}",
        f"  {base}/docs                  API documentation",
        f"  {base}/metrics               Prometheus metrics",
        f"  {base}/healthz  {base}/readyz",
        f"  curl -H 'Authorization: Bearer {data.keys['ops']}' {base}/api/v1/parcels/{some}",
        "",
    ]
    click.echo("\n".join(lines))
    sys.stdout.flush()
    if serve:
        # A fresh process for the server: this one imported the metrics
        # library while loading, before gunicorn's multiprocess folder was
        # set, and its workers would count where /metrics never looks.
        env = {
            **os.environ,
            "TRACKER_DATABASE_URL": settings.sqlalchemy_url,
            "TRACKER_SWEEP_INTERVAL": str(settings.sweep_interval),
        }
        command = [sys.executable, "-m", "tracker.cli", "serve", "--host", host, "--port", str(port)]
        os.execve(sys.executable, command, env)


from tracker.console.commands import users  # noqa: E402
from tracker.keys.commands import keys  # noqa: E402  (commands live beside their domain)
from tracker.merchants.commands import merchants  # noqa: E402
from tracker.notify.commands import notify  # noqa: E402
from tracker.routing.commands import routes  # noqa: E402
from tracker.scans.commands import network  # noqa: E402
from tracker.sweep.commands import sweep  # noqa: E402

for command in (keys, merchants, network, notify, routes, sweep, users):
    main.add_command(command)


if __name__ == "__main__":
    main()
