"""``tracker merchants``: the merchants whose keys register parcels."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from tracker.core import commandline
from tracker.core.errors import TrackerError


@click.group()
def merchants() -> None:
    """Merchants (then: tracker keys create --role merchant --merchant CODE)."""


@merchants.command("create")
@click.argument("code")
@click.option("--name", required=True, help="the merchant's name, as ops know it")
def merchants_create(code: str, name: str) -> None:
    """Create a merchant with this CODE."""
    from tracker.core.db import write_transaction
    from tracker.merchants.store import create_merchant

    try:
        settings = commandline.settings()
        with commandline.engine(settings, migrated=True) as engine, write_transaction(engine) as conn:
            merchant = create_merchant(conn, code, name, now=datetime.now(UTC))
    except TrackerError as exc:
        raise commandline.fail(exc) from None
    click.echo(
        f"merchant {merchant['code']} created; its keys: tracker keys create --role merchant"
        f" --merchant {merchant['code']}"
    )


@merchants.command("list")
def merchants_list() -> None:
    """Every merchant: code, name, created."""
    from tracker.core.timefmt import iso_local
    from tracker.merchants.store import list_merchants

    settings = commandline.settings()
    with commandline.engine(settings, migrated=True) as engine, engine.connect() as conn:
        rows = list_merchants(conn)
    click.echo("code\tname\tcreated")
    for r in rows:
        click.echo(f"{r['code']}\t{r['name']}\t{iso_local(r['created_at'], settings.timezone)}")
