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
@click.option("--merchant", help="merchant code a merchant key is bound to (tracker merchants create)")
@click.option("--label", help="a note to recognise the key by")
def keys_create(
    role: str, courier: str | None, facility: str | None, merchant: str | None, label: str | None
) -> None:
    """Create a key and print it (once: only its hash is kept)."""
    from tracker.core.db import write_transaction
    from tracker.core.vocabulary import Role
    from tracker.keys.store import create_key

    try:
        settings = commandline.settings()
        with commandline.engine(settings, migrated=True) as engine, write_transaction(engine) as conn:
            key = create_key(
                conn,
                Role(role),
                courier=courier,
                facility=facility,
                merchant=merchant,
                label=label,
                now=datetime.now(UTC),
            )
    except TrackerError as exc:
        raise commandline.fail(exc) from None
    click.echo(key)


@keys.command("list")
def keys_list() -> None:
    """Every key: id, prefix, role, binding, label, created, revoked (never the key itself)."""
    from tracker.core.timefmt import iso_local_or_none
    from tracker.keys.store import list_keys

    settings = commandline.settings()
    with commandline.engine(settings, migrated=True) as engine, engine.connect() as conn:
        rows = list_keys(conn)
    zone = settings.timezone
    click.echo("id\tprefix\trole\tbinding\tlabel\tcreated\trevoked")
    for r in rows:
        cells = [
            str(r["key_id"]),
            r["prefix"],
            r["role"],
            r["binding"] or "-",
            r["label"] or "-",
            iso_local_or_none(r["created_at"], zone) or "-",
            iso_local_or_none(r["revoked_at"], zone) or "-",
        ]
        click.echo("\t".join(cells))


@keys.command("revoke")
@click.argument("id_or_prefix")
def keys_revoke(id_or_prefix: str) -> None:
    """Revoke a key by its id or prefix (as ``tracker keys list`` shows them).

    Each server process remembers a valid key for up to 30 seconds, so a
    revoked key stops working everywhere within that time.
    """
    from tracker.core.db import write_transaction
    from tracker.keys.store import revoke_key

    try:
        settings = commandline.settings()
        with commandline.engine(settings, migrated=True) as engine, write_transaction(engine) as conn:
            key_id, was_live = revoke_key(conn, id_or_prefix, now=datetime.now(UTC))
    except TrackerError as exc:
        raise commandline.fail(exc) from None
    if was_live:
        click.echo(f"key {key_id} revoked (servers stop taking it within 30 seconds)")
    else:
        click.echo(f"key {key_id} was already revoked")
