"""A real ``tracker serve`` (gunicorn) on a database filled by the simulator.

Used by the browser tests; ``scripts/bench_tracking.py`` starts its server
the same way. The day is simulated up to the real current time, because the
server runs on the real clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tracker.core.models import Parcel
from tracker.scans.ingest import IngestPolicy
from tracker.sim import demo
from tracker.sim.simulator import simulate_day

#: A phone (iPhone 12 to 15), as the browser tests open the customer's pages.
PHONE_VIEWPORT = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Sample:
    tracking_number: str
    phone: str


def fill_database(path: Path, parcels: int = 120) -> dict[str, Sample]:
    """A fresh SQLite file with a simulated day; one parcel per interesting status."""
    engine = demo.fresh_database(path)
    try:
        now = datetime.now(UTC) - timedelta(minutes=1)
        demo.load_day(
            engine, simulate_day(now, parcels=parcels), now=now, policy=IngestPolicy(timedelta(minutes=5))
        )
        with engine.connect() as conn:
            rows = conn.execute(
                select(Parcel.tracking_number, Parcel.status, Parcel.recipient_phone).order_by(
                    Parcel.tracking_number
                )
            ).all()
    finally:
        engine.dispose()
    samples: dict[str, Sample] = {}
    for row in rows:
        samples.setdefault(str(row.status), Sample(row.tracking_number, row.recipient_phone))
    return samples
