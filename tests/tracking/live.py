"""A real ``tracker serve`` (gunicorn) on a database filled by the simulator.

Used by the browser tests; ``scripts/bench_tracking.py`` starts its server
the same way, with one route of its own added. The day is simulated up to the
real current time, because the server runs on the real clock.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from tests.helpers import scan
from tracker.core.db import write_transaction
from tracker.core.models import Parcel
from tracker.core.vocabulary import ParcelStatus
from tracker.scans.ingest import IngestPolicy, store_scans
from tracker.scans.parcels import register_parcel
from tracker.scans.schemas import ParcelIn, ScanEventIn
from tracker.sim import demo
from tracker.sim.simulator import Day, simulate_day

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
        policy = IngestPolicy(timedelta(minutes=5))
        day = simulate_day(now, parcels=parcels)
        demo.load_day(engine, day, now=now, policy=policy)
        _one_waiting_for_pickup(engine, day, now, policy)
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


def _one_waiting_for_pickup(engine: Engine, day: Day, now: datetime, policy: IngestPolicy) -> None:
    """A parcel at its pickup point, added when the simulated day has none.

    The day's pickup parcels are put out 30-120 minutes after a round (08:00,
    14:00 local) and collected 1-30 hours later, so from 08:00 to about 08:35
    every one of them is collected or still on its way: a test run then found
    no page to open (CI at 08:03 Shanghai time).
    """
    with engine.connect() as conn:
        waiting = conn.scalar(select(Parcel.id).where(Parcel.status == ParcelStatus.AVAILABLE_FOR_PICKUP))
    if waiting is not None:
        return
    template = next(p for p in day.parcels if p["pickup_point"])
    point = day.network.by_code()[template["pickup_point"]]
    body = copy.deepcopy(template)
    body["tracking_number"] = tn = "TRKPICKUP0001"
    body["recipient"]["phone"] = "13900009001"
    start = now - timedelta(hours=5)
    steps = [
        ("created", 0, template["origin_facility"]),
        ("outbound", 30, template["origin_facility"]),
        ("arrived", 180, point.parent_code),
        ("ready_for_pickup", 240, point.code),
    ]
    events = [
        ScanEventIn.model_validate(
            scan(f"{tn}-{n}", tn, kind, (start + timedelta(minutes=m)).isoformat(), facility=facility)
        )
        for n, (kind, m, facility) in enumerate(steps)
    ]
    with write_transaction(engine) as conn:
        register_parcel(conn, ParcelIn.model_validate(body), now=now, policy=policy, merchant=None)
        store_scans(conn, events, source="test", now=now, policy=policy)
