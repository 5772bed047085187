"""The ``tracker`` command: db, serve, keys, network, demo.

Each command builds :class:`~tracker.settings.Settings` from the environment
once and owns its own transactions; domain functions do the work.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import Engine

from tracker.core import migrate
from tracker.core.errors import TrackerError
from tracker.settings import Settings, SettingsError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    from tracker.core.db import make_engine

    if not settings.database_url:
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        yield engine
    finally:
        engine.dispose()


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
    settings = _settings()
    with _engine(settings) as engine:
        migrate.upgrade(engine, revision)
    click.echo(f"database at {settings.sqlalchemy_url.split('@')[-1]} is at {revision}")


@db.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    with _engine(_settings()) as engine:
        migrate.check(engine)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", type=int, help="gunicorn worker processes (TRACKER_WORKERS)")
def serve(host: str, port: int, workers: int | None) -> None:
    """Run the service under gunicorn."""
    from tracker.server import serve as run

    settings = _settings()
    if workers:
        settings = settings.but(workers=workers)
    run(settings, host, port)


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--role", required=True, type=click.Choice(["courier", "facility", "merchant", "ops", "admin"]))
@click.option("--courier", help="courier code a courier key is bound to")
@click.option("--facility", help="facility code a facility key is bound to")
@click.option("--label", help="a note to recognise the key by")
def keys_create(role: str, courier: str | None, facility: str | None, label: str | None) -> None:
    """Create a key and print it (once: only its hash is kept)."""
    from tracker.core.db import write_transaction
    from tracker.core.vocabulary import Role
    from tracker.keys.store import create_key

    try:
        with _engine(_settings()) as engine, write_transaction(engine) as conn:
            key = create_key(
                conn, Role(role), courier=courier, facility=facility, label=label, now=datetime.now(UTC)
            )
    except TrackerError as exc:
        detail = "; ".join(f"{f.field}: {f.message}" for f in exc.fields)
        raise click.ClickException(f"{exc.message}: {detail}" if detail else exc.message) from None
    click.echo(key)


@main.command()
@click.option("--every", type=float, help="keep sweeping, this many seconds apart (until SIGTERM)")
def sweep(every: float | None) -> None:
    """Open and close time-based cases for the parcels that are due."""
    import signal
    import time as clock

    from tracker.scans.ingest import IngestPolicy
    from tracker.sla import load_service_levels
    from tracker.sweep.detectors import DETECTORS
    from tracker.sweep.run import sweep as run

    settings = _settings()
    policy = IngestPolicy(
        clock_skew=settings.clock_skew, levels=load_service_levels(settings.service_levels_path)
    )
    stopping = []
    # SIGTERM: finish the chunk at hand, then stop (no half-judged chunk).
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    with _engine(settings) as engine:
        while True:
            report = run(
                engine,
                now=datetime.now(UTC),
                policy=policy,
                zone=settings.timezone,
                detectors=DETECTORS,
                should_stop=lambda: bool(stopping),
            )
            click.echo(json.dumps(report.to_dict()))
            if every is None or stopping:
                return
            deadline = clock.monotonic() + every
            while clock.monotonic() < deadline and not stopping:
                clock.sleep(0.2)


@main.group()
def network() -> None:
    """Facilities and couriers."""


@network.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def network_load(path: Path) -> None:
    """Load facilities and couriers from a JSON file (see the README)."""
    from tracker.core.db import write_transaction
    from tracker.scans.directory import load_network
    from tracker.scans.network import CourierSpec, FacilitySpec

    data = json.loads(path.read_text())
    try:
        facilities = [FacilitySpec(**f) for f in data.get("facilities", [])]
        couriers = [CourierSpec(**c) for c in data.get("couriers", [])]
    except TypeError as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    with _engine(_settings()) as engine, write_transaction(engine) as conn:
        nf, nc = load_network(conn, facilities, couriers)
    click.echo(f"loaded {nf} facilities and {nc} couriers")


def _examples(engine_url: str) -> list[tuple[str, str]]:
    """One tracking number per interesting status, for the demo's welcome."""
    from sqlalchemy import func, select

    from tracker.core.db import make_engine
    from tracker.core.models import Parcel

    engine = make_engine(engine_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Parcel.status, func.min(Parcel.tracking_number)).group_by(Parcel.status)
            ).all()
    finally:
        engine.dispose()
    wanted = ("in_transit", "out_for_delivery", "available_for_pickup", "delivered", "failed_attempt")
    found = {str(status): tn for status, tn in rows}
    return [(status, found[status]) for status in wanted if status in found]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--parcels", default=400, show_default=True, type=int)
@click.option("--serve/--no-serve", default=True, help="start the server after loading")
def demo(host: str, port: int, seed: int, parcels: int, serve: bool) -> None:
    """A fresh SQLite database with a simulated day, then the server."""
    from tracker.scans.ingest import IngestPolicy
    from tracker.sim import demo as demo_mod
    from tracker.sla import load_service_levels

    settings = _settings()
    path = settings.instance_path / "demo.db"
    # The demo sweeps in-process (every 30 s unless TRACKER_SWEEP_INTERVAL says otherwise).
    settings = settings.but(database_url=f"sqlite:///{path}", sweep_interval=settings.sweep_interval or 30.0)
    now = datetime.now(UTC)
    engine = demo_mod.fresh_database(path)
    levels = load_service_levels(settings.service_levels_path)
    policy = IngestPolicy(clock_skew=settings.clock_skew, levels=levels)
    data = demo_mod.prepare(
        engine, now=now, seed=seed, parcels=parcels, policy=policy, zone=settings.timezone
    )
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
        "open:",
        *[
            f"  {base}/track/{tn}   tracking page, {status}"
            for status, tn in _examples(engine_url=settings.sqlalchemy_url)
        ],
        f"  {base}/docs                  API documentation",
        f"  {base}/metrics               Prometheus metrics",
        f"  {base}/healthz  {base}/readyz",
        f"  curl -H 'Authorization: Bearer {data.keys['ops']}' {base}/api/v1/parcels/{some}",
        "",
    ]
    click.echo("\n".join(lines))
    sys.stdout.flush()
    if serve:
        from tracker.server import serve as run

        run(settings, host, port)


from tracker.routing.commands import routes  # noqa: E402  (its own module; imports nothing from here at load)

main.add_command(routes)


if __name__ == "__main__":
    main()
