"""What every ``tracker`` command shares: settings, an engine, errors as click errors.

Each command builds :class:`~tracker.settings.Settings` from the environment
once (a bad variable is a clean error naming it), opens one engine for its
run and owns its own transactions. The command group is :mod:`tracker.cli`;
the commands live beside their domain (``tracker/<domain>/commands.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import Engine

from tracker.core.errors import TrackerError
from tracker.settings import Settings, SettingsError


def settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@contextmanager
def engine(settings: Settings, *, migrated: bool = False) -> Iterator[Engine]:
    """An engine for one command's run; with ``migrated``, refuse a database not at the latest schema."""
    from tracker.core.db import make_engine

    if not settings.database_url:
        settings.instance_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url, prepared_statements=settings.database_prepared_statements)
    try:
        if migrated:
            _require_migrated(engine, settings)
        yield engine
    finally:
        engine.dispose()


def _require_migrated(engine: Engine, settings: Settings) -> None:
    from tracker.core import migrate

    try:
        behind = migrate.pending(engine)
    except Exception as exc:  # an unreachable server says so itself, in one line
        raise click.ClickException(f"cannot reach the database: {type(exc).__name__}: {exc}") from None
    if behind:
        where = settings.sqlalchemy_url.split("@")[-1]
        raise click.ClickException(
            f"the database at {where} is not migrated ({behind}): run 'tracker db upgrade' first"
        )


def fail(exc: TrackerError) -> click.ClickException:
    """A domain error as the one line a terminal user reads (fields included)."""
    detail = "; ".join(f"{f.field}: {f.message}" for f in exc.fields)
    return click.ClickException(f"{exc.message}: {detail}" if detail else exc.message)


def echo_json(answer: dict[str, Any]) -> None:
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
