"""``tracker users``: the people who sign in to the ops console (machines hold API keys)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from tracker.core import commandline
from tracker.core.errors import TrackerError


@click.group()
def users() -> None:
    """Ops console users."""


def _password(from_stdin: bool) -> str:
    if from_stdin:
        # One line: a password manager or a secret store pipes it in.
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


@users.command("create")
@click.argument("username")
@click.option("--role", default="ops", show_default=True, type=click.Choice(["ops", "admin"]))
@click.option("--name", "display_name", help="the name shown in the console")
@click.option("--password-stdin", is_flag=True, help="read the password from the first line of stdin")
def users_create(username: str, role: str, display_name: str | None, password_stdin: bool) -> None:
    """Create a user who signs in at /ops (asks for the password unless --password-stdin)."""
    from tracker.console.users import create_user
    from tracker.core.db import write_transaction
    from tracker.core.vocabulary import UserRole

    password = _password(password_stdin)
    try:
        settings = commandline.settings()
        with commandline.engine(settings, migrated=True) as engine, write_transaction(engine) as conn:
            create_user(
                conn,
                username,
                password,
                role=UserRole(role),
                display_name=display_name,
                now=datetime.now(UTC),
            )
    except TrackerError as exc:
        raise commandline.fail(exc) from None
    click.echo(f"created {role} user {username}")


@users.command("list")
def users_list() -> None:
    """Every user: username, role, created, disabled."""
    from tracker.console.users import list_users

    settings = commandline.settings()
    with commandline.engine(settings, migrated=True) as engine, engine.connect() as conn:
        rows = list_users(conn)
    for row in rows:
        disabled = f"disabled {row.disabled_at:%Y-%m-%d %H:%M}Z" if row.disabled_at else "active"
        name = row.display_name or ""
        click.echo(f"{row.username}\t{row.role}\t{name}\tcreated {row.created_at:%Y-%m-%d}\t{disabled}")


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable a user: no more sign-ins, and an open session stops at its next request."""
    from tracker.console.users import disable_user
    from tracker.core.db import write_transaction

    try:
        settings = commandline.settings()
        with commandline.engine(settings, migrated=True) as engine, write_transaction(engine) as conn:
            changed = disable_user(conn, username, now=datetime.now(UTC))
    except TrackerError as exc:
        raise commandline.fail(exc) from None
    click.echo(f"disabled {username}" if changed else f"{username} was already disabled")
