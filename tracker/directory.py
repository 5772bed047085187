"""The network as the write path sees it: which codes exist, and where.

Facilities and couriers change rarely and are never deleted (scan events
name them), so each process remembers what it has looked up: a code once
found stays valid, and only codes not yet seen cost a query. This saves the
ingest path two round trips on nearly every batch.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from tracker.models import Courier, Facility
from tracker.sla import Place


class Directory:
    def __init__(self) -> None:
        self._facilities: dict[str, Place] = {}
        self._couriers: set[str] = set()

    def facilities(self, conn: Connection, codes: set[str]) -> set[str]:
        """Those of ``codes`` that are facilities."""
        unseen = codes - self._facilities.keys()
        if unseen:
            rows = conn.execute(
                select(Facility.code, Facility.region, Facility.city).where(Facility.code.in_(unseen))
            )
            self._facilities.update((r.code, Place(province=r.region, city=r.city)) for r in rows)
        return {c for c in codes if c in self._facilities}

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
