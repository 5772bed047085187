"""Loading the network (facilities and couriers) into the database.

The network changes rarely and is owned by ops, so it is loaded from a file
(``tracker network load``) or from the simulator (the demo), not through
the scan API. Loading is an upsert: running it twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection

from tracker.db import upsert
from tracker.models import Courier, Facility
from tracker.simulator import CourierSpec, FacilitySpec


def load_network(
    conn: Connection, facilities: Iterable[FacilitySpec], couriers: Iterable[CourierSpec]
) -> tuple[int, int]:
    """Insert or update every facility and courier; the counts loaded."""
    f_rows = [asdict(f) for f in facilities]
    c_rows = [asdict(c) for c in couriers]
    _upsert(conn, Facility, f_rows)
    _upsert(conn, Courier, c_rows)
    return len(f_rows), len(c_rows)


def _upsert(conn: Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    statement = upsert(conn, model)
    columns = [k for k in rows[0] if k != "code"]
    statement = statement.on_conflict_do_update(
        index_elements=["code"], set_={c: statement.excluded[c] for c in columns}
    )
    conn.execute(statement, rows)
