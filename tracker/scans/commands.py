"""``tracker network``: facilities and couriers, loaded from a file."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy.exc import IntegrityError

from tracker.core import commandline
from tracker.core.errors import TrackerError


@click.group()
def network() -> None:
    """Facilities and couriers."""


@network.command("load")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def network_load(path: Path) -> None:
    """Load facilities and couriers from a JSON file (see the README)."""
    from tracker.core.db import write_transaction
    from tracker.scans.directory import load_network
    from tracker.scans.network import parse_network

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{path} is not a JSON file: {exc}") from None
    try:
        facilities, couriers = parse_network(data)
    except TrackerError as exc:
        raise click.ClickException(f"{path}: {commandline.fail(exc).message}") from None
    with commandline.engine(commandline.settings(), migrated=True) as engine:
        try:
            with write_transaction(engine) as conn:
                nf, nc = load_network(conn, facilities, couriers)
        except IntegrityError as exc:
            # The one thing the file cannot show: a station code nobody defined.
            raise click.ClickException(
                f"{path}: a courier's station_code or a facility's parent_code names no facility "
                f"in the file or the database ({type(exc.orig).__name__})"
            ) from None
    click.echo(f"loaded {nf} facilities and {nc} couriers")
