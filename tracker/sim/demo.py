"""``tracker demo``: a fresh SQLite database holding a simulated day.

The day goes in through the same code the API uses
(:func:`tracker.scans.parcels.register_parcel`, :func:`tracker.scans.ingest.store_scans`),
so the demo shows what real traffic would have produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from tracker.core import migrate
from tracker.core.db import make_engine, write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.merchants.store import create_merchant
from tracker.scans.directory import load_network
from tracker.scans.ingest import IngestPolicy, IngestReport, store_scans
from tracker.scans.parcels import register_parcel
from tracker.scans.schemas import ParcelIn, ScanEventIn
from tracker.sim.showcase import Sample, add_samples
from tracker.sim.simulator import Day, simulate_day
from tracker.sweep.detectors import DETECTORS
from tracker.sweep.run import sweep

BATCH = 1000
#: The demo's one merchant: it registers the day's parcels, and its key reads them.
DEMO_MERCHANT = "DEMO-SHOP"


@dataclass
class DemoData:
    day: Day
    keys: dict[str, str]
    accepted: int
    #: Parcels whose story is known, with their verification digits (:mod:`tracker.sim.showcase`).
    samples: list[Sample]
    #: What the station's route plan holds (or why there is none).
    plan_note: str | None


def fresh_database(path: Path) -> Engine:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    return engine


def load_day(
    engine: Engine, day: Day, *, now: datetime, policy: IngestPolicy, merchant: str | None = None
) -> int:
    """Register the day's parcels (as ``merchant``'s, if given) and store its scans; the accepted count."""
    with write_transaction(engine) as conn:
        load_network(conn, day.network.facilities, day.network.couriers)
        for body in day.parcels:
            register_parcel(conn, ParcelIn.model_validate(body), now=now, policy=policy, merchant=merchant)
    accepted = 0
    for start in range(0, len(day.events), BATCH):
        events = [ScanEventIn.model_validate(e) for e in day.events[start : start + BATCH]]
        with write_transaction(engine) as conn:
            report: IngestReport = store_scans(conn, events, source="demo", now=now, policy=policy)
        accepted += report.count("accepted")
    return accepted


def prepare(
    engine: Engine, *, now: datetime, seed: int, parcels: int, policy: IngestPolicy, zone: ZoneInfo
) -> DemoData:
    day = simulate_day(now, seed=seed, parcels=parcels)
    with write_transaction(engine) as conn:
        create_merchant(conn, DEMO_MERCHANT, "Demo shop", now=now)
    accepted = load_day(engine, day, now=now, policy=policy, merchant=DEMO_MERCHANT)
    samples, plan_note = add_samples(engine, day, now=now, policy=policy, zone=zone, merchant=DEMO_MERCHANT)
    # One sweep now, so the demo opens with its stale and late parcels flagged.
    sweep(engine, now=now, policy=policy, zone=zone, detectors=DETECTORS)
    courier = day.network.couriers[0]
    station = courier.station_code
    with write_transaction(engine) as conn:
        keys = {
            "ops": create_key(conn, Role.OPS, now=now, label="demo ops"),
            "merchant": create_key(
                conn, Role.MERCHANT, merchant=DEMO_MERCHANT, now=now, label="demo merchant"
            ),
            f"courier {courier.code}": create_key(
                conn, Role.COURIER, courier=courier.code, now=now, label="demo courier"
            ),
            f"facility {station}": create_key(
                conn, Role.FACILITY, facility=station, now=now, label="demo station"
            ),
        }
    return DemoData(day, keys, accepted, samples, plan_note)
