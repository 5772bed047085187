#!/usr/bin/env python3
"""Notifications: scan ingest with and without 10 webhook subscriptions, and the dispatcher's rate.

Usage: python scripts/bench_notify.py [--events 20000] [--rounds 2] [--deliveries 5000]

1. Ingest, in one run: for each round, two fresh PostgreSQL databases made
   alike (network, registered parcels; :mod:`scripts.bench_ingest`'s
   machinery), one with 10 active webhook subscriptions to every kind and
   one with none; ``tracker serve`` on each in turn, the same simulated scans
   POSTed in batches of 500 from ``--clients`` connections. The order of the
   two alternates between rounds, so drift of the machine's load does not
   favour one side. The outbox is written in both (ingest writes one row per
   change whatever the subscribers); no dispatcher runs meanwhile.
2. Dispatcher: on the database with subscriptions, ``tracker.notify``'s
   dispatcher (fan-out, signing, concurrent POSTs) delivers up to
   ``--deliveries`` notifications to a receiver in a process of its own on
   loopback that answers 204; deliveries per second counts from the first
   fan-out to the last recorded outcome.

Prints one JSON object. Nothing here is timed by the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.core.db import create_database, drop_database, make_engine, write_transaction  # noqa: E402
from tracker.core.models import NotificationDelivery, NotificationEvent  # noqa: E402
from tracker.notify import signing, subscriptions  # noqa: E402
from tracker.notify.dispatch import from_settings  # noqa: E402
from tracker.notify.payloads import KINDS  # noqa: E402
from tracker.notify.secretbox import SecretBox, new_key  # noqa: E402
from tracker.settings import Settings  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "scripts" / "bench_ingest.py")
assert _spec is not None and _spec.loader is not None
ingest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ingest)

SUBSCRIPTIONS = 10
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
ThreadingHTTPServer.request_queue_size = 256
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def subscribe(url: str, target: str, key: str, n: int) -> None:
    engine = make_engine(url)
    box, now = SecretBox(key), datetime.now(UTC)
    with write_transaction(engine) as conn:
        for _ in range(n):
            sealed = box.seal(signing.new_secret())
            subscriptions.create(conn, url=target, events=list(KINDS), owner_role="ops", merchant_code=None,
                                 key_id=None, sealed_secret=sealed, now=now)  # fmt: skip
    engine.dispose()


def ingest_once(url: str, key: str, per_client: list[list[bytes]], args: Any, log: Path) -> dict[str, Any]:
    port = ingest.free_port()
    server = ingest.start_server(url, port, args.workers, args.threads, log)
    try:
        elapsed, totals = ingest.post_batches(port, key, per_client)
    finally:
        server.terminate()
        server.wait(timeout=30)
    engine = make_engine(url)
    with engine.connect() as conn:
        outbox = conn.scalar(select(func.count()).select_from(NotificationEvent))
    engine.dispose()
    return {
        "seconds": round(elapsed, 2),
        "events_per_second": round(args.events / elapsed),
        "accepted": totals["accepted"],
        "outbox_rows": outbox,
    }


def dispatch(url: str, secret_key: str, limit: int) -> dict[str, Any]:
    """One dispatcher turn over ``limit`` deliveries (outbox rows beyond those are set aside first)."""
    settings = Settings.from_env(
        {"TRACKER_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8"}, database_url=url, webhook_secret_key=secret_key
    )
    engine = make_engine(url, pool_size=4)
    keep = -(-limit // SUBSCRIPTIONS)
    with write_transaction(engine) as conn:
        first = select(NotificationEvent.id).order_by(NotificationEvent.id).limit(keep).scalar_subquery()
        conn.execute(
            update(NotificationEvent)
            .where(NotificationEvent.id.not_in(first))
            .values(fanned_out_at=datetime.now(UTC))
        )
    dispatcher = from_settings(engine, settings)
    started = time.perf_counter()
    report = dispatcher.turn()
    elapsed = time.perf_counter() - started
    with engine.connect() as conn:
        states = dict(conn.execute(select(NotificationDelivery.state, func.count()).group_by(
            NotificationDelivery.state)).all())  # fmt: skip
    engine.dispose()
    return {"outbox_rows": report.fanned_out, "deliveries": report.sent, "seconds": round(elapsed, 2),
            "deliveries_per_second": round(report.sent / elapsed), "states_after": states,
            "batch": dispatcher.policy.batch, "threads": dispatcher.policy.threads}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    base = os.environ.get("TRACKER_BENCH_DATABASE_URL", ingest.DEFAULT_URL)
    now = datetime.now(UTC) + timedelta(minutes=1)
    network, parcels, events = ingest.simulated(args.events, now)
    per_client = ingest.batches_for(events, args.clients, "partitioned")
    log = ROOT / "instance" / "bench" / "notify-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    secret_key = new_key()
    receiver_port = ingest.free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(receiver_port)])
    target = f"http://127.0.0.1:{receiver_port}/hooks"
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with_10": []}
    made: list[str] = []
    keep_for_dispatch = None
    try:
        for r in range(args.rounds):
            order = ["without", "with_10"] if r % 2 == 0 else ["with_10", "without"]
            for mode in order:
                url = create_database(base, "tracker_bench_notify")
                made.append(url)
                key = ingest.prepare(url, network, parcels, now)
                if mode == "with_10":
                    subscribe(url, target, secret_key, SUBSCRIPTIONS)
                    keep_for_dispatch = url
                runs[mode].append(ingest_once(url, key, per_client, args, log))
        time.sleep(0.5)
        assert keep_for_dispatch is not None
        dispatcher = dispatch(keep_for_dispatch, secret_key, args.deliveries)
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        for url in made:
            drop_database(base, url)

    without = statistics.median(r["events_per_second"] for r in runs["without"])
    with_subs = statistics.median(r["events_per_second"] for r in runs["with_10"])
    load = os.getloadavg()
    print(json.dumps({
        "benchmark": "notify",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_average_1_5_15": [round(x, 2) for x in load]},
        "events": args.events, "batch_size": ingest.BATCH, "clients": args.clients,
        "server": {"workers": args.workers, "threads": args.threads},
        "ingest": {"runs": runs, "median_events_per_second_without": round(without),
                   "median_events_per_second_with_10_subscriptions": round(with_subs),
                   "ratio_with_to_without": round(with_subs / without, 3)},
        "dispatcher": dispatcher,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
