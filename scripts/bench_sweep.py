#!/usr/bin/env python3
"""Seconds per sweep at 100k and 1M active parcels, on PostgreSQL.

Usage: python scripts/bench_sweep.py [--sizes 100000 1000000] [--due 1000] [--repeat 5]

For each size N, in a fresh database on the server at
``TRACKER_BENCH_DATABASE_URL`` (default: the local server):

1. Fill it with SQL (the API would take hours for 1M parcels): N parcels of
   the 211 and standard levels, 80% in transit or out for delivery and 20%
   delivered during the last week, three scan events each, promises set, and
   due times spread over the next two days as the sweep would have left them.
2. Time a sweep with nothing due (the fixed cost of a run), then make
   ``--due`` parcels due (as a minute of scans would) and time the sweep
   that handles them. Cost should follow the due count, not N.
3. Time ``--repeat`` more idle sweeps as a sweeper's loop runs them, twice:
   reading the delivery history every sweep (max age 0, as before the
   history was kept) and keeping it for ``TRACKER_SWEEP_HISTORY_MAX_AGE``
   (:class:`tracker.sweep.store.HistoryCache`, the default 10 minutes); the
   median of each, and what one read of the history costs alone.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.core import migrate
from tracker.core.db import create_database, drop_database, make_engine, write_transaction
from tracker.scans.directory import load_network
from tracker.scans.ingest import IngestPolicy
from tracker.settings import Settings
from tracker.sim.simulator import build_network
from tracker.sweep.run import sweep
from tracker.sweep.store import HistoryCache, delivery_history

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

FILL_PARCELS = """
INSERT INTO parcels (tracking_number, registered, first_seen_at, registered_at, service_level, ordered_at,
    origin_facility, dest_lat, dest_lon, dest_region, dest_city, customer_tier, status, event_count,
    last_event_id, last_event_type, last_event_at, status_event_id, status_event_type, status_event_at,
    last_facility, first_event_at, outbound_at, delivered_at, promised_by, next_check_at, updated_at)
SELECT 'B' || lpad(g::text, 10, '0'), true, :now - interval '3 days', :now - interval '3 days',
    CASE WHEN g % 3 = 0 THEN 'standard' ELSE '211' END, :now - interval '2 days', 'WH-SH-01',
    31.2, 121.4, 'CN-31', '上海', 'normal',
    CASE WHEN g % 5 = 0 THEN 'delivered' WHEN g % 5 = 1 THEN 'out_for_delivery' ELSE 'in_transit' END, 3,
    'B' || g || '-3', CASE WHEN g % 5 = 0 THEN 'delivered' ELSE 'arrived' END,
    :now - (g % 2880) * interval '1 minute',
    'B' || g || '-3', CASE WHEN g % 5 = 0 THEN 'delivered' ELSE 'arrived' END,
    :now - (g % 2880) * interval '1 minute', 'SC-SH-01', :now - interval '2 days', :now - interval '2 days',
    CASE WHEN g % 5 = 0 THEN :now - (g % 2880) * interval '1 minute' END,
    :now + (g % 2000) * interval '1 minute',
    CASE WHEN g % 5 = 0 THEN NULL ELSE :now + (1 + g % 2880) * interval '1 minute' END, :now
FROM generate_series(1, :n) AS g
"""

FILL_EVENTS = """
INSERT INTO scan_events
    (event_id, parcel_id, type, occurred_at, received_at, facility_code, source, content_hash)
SELECT p.tracking_number || '-' || k, p.id,
    (ARRAY['created', 'outbound', 'arrived'])[k], p.first_event_at + k * interval '1 hour', :now,
    'SC-SH-01', 'bench', md5(p.tracking_number || k) || md5(p.tracking_number)
FROM parcels p, generate_series(1, 3) AS k
"""


def loop_seconds(run: Callable[[HistoryCache], object], cache: HistoryCache, repeat: int) -> float:
    """The median seconds of ``repeat`` runs sharing ``cache`` (the first fills it)."""
    run(cache)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run(cache)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4)


def measure(base: str, n: int, due: int, repeat: int) -> dict[str, object]:
    url = create_database(base, "tracker_bench_sweep")
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        migrate.upgrade(engine)
        network = build_network()
        started = time.perf_counter()
        with write_transaction(engine) as conn:
            load_network(conn, network.facilities, network.couriers)
            conn.execute(text(FILL_PARCELS), {"now": now, "n": n})
            conn.execute(text(FILL_EVENTS), {"now": now})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        fill_seconds = time.perf_counter() - started

        policy = IngestPolicy(clock_skew=timedelta(minutes=5))
        zone = ZoneInfo("Asia/Shanghai")
        idle = sweep(engine, now=now, policy=policy, zone=zone)
        with write_transaction(engine) as conn:
            # A minute of scans: these parcels got news and are due now.
            conn.execute(
                text("UPDATE parcels SET next_check_at = :now WHERE id IN "
                     "(SELECT id FROM parcels WHERE status <> 'delivered' ORDER BY random() LIMIT :due)"),
                {"now": now, "due": due},
            )  # fmt: skip
        busy = sweep(engine, now=now, policy=policy, zone=zone)

        def idle_sweep(cache: HistoryCache) -> object:
            return sweep(engine, now=now, policy=policy, zone=zone, history_cache=cache)

        every_sweep = loop_seconds(idle_sweep, HistoryCache(timedelta(0)), repeat)
        kept = loop_seconds(idle_sweep, HistoryCache(Settings().sweep_history_max_age), repeat)
        reads = []
        for _ in range(repeat):
            with engine.connect() as conn:
                started = time.perf_counter()
                samples = len(delivery_history(conn, now, zone))
                reads.append(time.perf_counter() - started)
    finally:
        engine.dispose()
        drop_database(base, url)
    return {
        "active_parcels": n,
        "scan_events": 3 * n,
        "fill_seconds": round(fill_seconds, 1),
        "idle_sweep": idle.to_dict(),
        "due_sweep": busy.to_dict(),
        "seconds_per_due_parcel_ms": round(busy.seconds / max(busy.examined, 1) * 1000, 3),
        "history_read_seconds": round(statistics.median(reads), 4),
        "history_samples": samples,
        "idle_loop_sweep_seconds": {"history_read_every_sweep": every_sweep, "history_kept": kept},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5, help="idle sweeps of a loop, per way of reading")
    args = parser.parse_args()
    base = os.environ.get("TRACKER_BENCH_DATABASE_URL", DEFAULT_URL)
    results = [measure(base, n, args.due, args.repeat) for n in args.sizes]
    print(json.dumps({
        "benchmark": "sweep",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "database": make_url(base).get_backend_name(),
        "due_parcels": args.due,
        "results": results,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
