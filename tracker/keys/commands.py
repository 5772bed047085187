"""``tracker keys``: API keys for machines (couriers' apps, scanners, integrations)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from tracker.core import commandline
from tracker.core.errors import TrackerError


@click.group()
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
        settings = commandline.settings()
        with commandline.engine(settings, migrated=True) as engine, write_transaction(engine) as conn:
            key = create_key(
                conn, Role(role), courier=courier, facility=facility, label=label, now=datetime.now(UTC)
            )
    except TrackerError as exc:
        raise commandline.fail(exc) from None
    click.echo(key)
