"""Alembic environment: runs migrations on the connection or URL it is given.

``tracker.core.migrate`` passes either a live connection (tests, the demo) in
``config.attributes["connection"]`` or a URL in ``sqlalchemy.url``.
Batch mode lets the same migration scripts alter tables on SQLite.
"""

from alembic import context
from sqlalchemy import Connection

from tracker.core import models  # noqa: F401  (registers every table on Base.metadata)
from tracker.core.db import Base, make_engine

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
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
