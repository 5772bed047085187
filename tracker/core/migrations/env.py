"""Alembic environment: runs migrations on the connection or URL it is given.

``tracker.core.migrate`` passes either a live connection (tests, the demo) in
``config.attributes["connection"]`` or a URL in ``sqlalchemy.url``.
Batch mode lets the same migration scripts alter tables on SQLite.
"""

import re
from typing import Any

from alembic import context
from sqlalchemy import Connection

from tracker.core import models  # noqa: F401  (registers every table on Base.metadata)
from tracker.core.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


#: Tables the models do not describe, on PostgreSQL only (migration 0015,
#: tracker.core.partitions): scan_events' partitions and its event-id ledger.
_PARTITIONING = re.compile(r"^scan_events_(p\d{6}|default)$|^scan_event_ids$")


def _include(obj: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
    return not (type_ == "table" and reflected and name is not None and _PARTITIONING.match(name))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=_include,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run 'tracker db upgrade'")
run_migrations_online()
