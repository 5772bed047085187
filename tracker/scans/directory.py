"""The network as the write path sees it: which codes exist, and where.

Facilities and couriers change rarely and are never deleted (scan events
name them), so each process remembers what it has looked up: a code once
found stays valid, and only codes not yet seen cost a query. This saves the
ingest path two round trips on nearly every batch, and a third for the names
its notifications carry. A facility's place and name are therefore as this
process first read them: renaming or moving one (``tracker network load``)
reaches the notifications and promises of a running server after a restart.

:func:`load_network` writes the network (an upsert: running it twice changes
nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, select

from tracker.core.db import upsert
from tracker.core.models import Courier, Facility
from tracker.scans.network import CourierSpec, FacilitySpec
from tracker.sla import Place


class Directory:
    def __init__(self) -> None:
        self._facilities: dict[str, Place] = {}
        self._names: dict[str, str] = {}
        self._couriers: set[str] = set()

    def facilities(self, conn: Connection, codes: set[str]) -> set[str]:
        """Those of ``codes`` that are facilities."""
        unseen = codes - self._facilities.keys()
        if unseen:
            query = select(Facility.code, Facility.name, Facility.region, Facility.city)
            for r in conn.execute(query.where(Facility.code.in_(unseen))):
                self._facilities[r.code] = Place(province=r.region, city=r.city)
                self._names[r.code] = r.name
        return {c for c in codes if c in self._facilities}

    def labels(self, conn: Connection, codes: set[str]) -> dict[str, tuple[str, str]]:
        """Name and city of those of ``codes`` that are facilities, by code."""
        known = self.facilities(conn, codes)
        return {c: (self._names[c], self._facilities[c].city) for c in known}

    def couriers(self, conn: Connection, codes: set[str]) -> set[str]:
        """Those of ``codes`` that are couriers."""
        unseen = codes - self._couriers
        if unseen:
            self._couriers |= set(conn.scalars(select(Courier.code).where(Courier.code.in_(unseen))))
        return codes & self._couriers

    def place(self, conn: Connection, code: str | None) -> Place | None:
        """Where a facility is (province and city), for region classes."""
        if code is None:
            return None
        if code not in self._facilities:
            self.facilities(conn, {code})
        return self._facilities.get(code)


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
