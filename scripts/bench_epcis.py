#!/usr/bin/env python3
"""EPCIS capture rate against the scan API's, for the same events, through the real server.

Usage: python scripts/bench_epcis.py [--events 1000] [--rounds 3] [--sqlite]

1. Create a fresh database (PostgreSQL at ``TRACKER_BENCH_DATABASE_URL``,
   default the local server; ``--sqlite``: a file), migrate it, load the
   simulated network, map two GS1 locations (SGLN) to its warehouse and
   sorting centre, and register ``2 x rounds x events`` perishable parcels,
   each with an SSCC.
2. Start ``tracker serve`` (gunicorn, 2 workers) on it.
3. Each round, on parcels of their own: POST one EPCIS document of
   ``--events`` ObjectEvents (each naming one parcel by SSCC, shipping or
   receiving at a mapped location, one temperature reading) to
   ``/api/v1/epcis/capture`` and poll the capture job until it has finished
   (a document over 100 events is answered 202 and captured on the server's
   capture thread); and POST the same events as tracker scans (same type,
   time, facility and temperature) in one ``{"events": [...]}`` batch to
   ``/api/v1/scans``. Each rate is events / wall time of its requests.
4. Check that every event was stored once and became one scan.

Prints one JSON object: the median rates, their ratio, the schema-validation
share measured in-process on the same document. Nothing here is timed by
the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from tracker.core import migrate  # noqa: E402
from tracker.core.db import create_database, drop_database, make_engine, write_transaction  # noqa: E402
from tracker.core.models import EpcisEvent, ScanEvent  # noqa: E402
from tracker.core.vocabulary import Role  # noqa: E402
from tracker.epcis import store as epcis_store  # noqa: E402
from tracker.epcis.document import validate  # noqa: E402
from tracker.epcis.identifiers import check_digit  # noqa: E402
from tracker.keys.store import create_key  # noqa: E402
from tracker.scans.directory import load_network  # noqa: E402
from tracker.scans.ingest import IngestPolicy  # noqa: E402
from tracker.scans.parcels import register_parcel  # noqa: E402
from tracker.scans.schemas import ParcelIn  # noqa: E402
from tracker.sim.simulator import build_network  # noqa: E402

WAREHOUSE = "urn:epc:id:sgln:4012345.00001.0"
SORTING = "urn:epc:id:sgln:4012345.00002.0"
PLACES = {WAREHOUSE: "WH-SH-01", SORTING: "SC-SH-01"}


def sscc(n: int) -> str:
    body = f"0401234{n:010d}"
    return body + check_digit(body)


def parcel_body(n: int) -> dict[str, Any]:
    return {
        "tracking_number": f"BENCH{n:08d}",
        "sscc": sscc(n),
        "service_level": "standard",
        "ordered_at": "2026-11-20T09:00:00+08:00",
        "origin_facility": "WH-SH-01",
        "destination": {"lat": 31.23, "lon": 121.47, "region": "CN-31", "city": "上海"},
        "perishable": {"min_c": 0, "max_c": 8},
    }


def shapes(first: int, count: int, start: datetime) -> list[dict[str, Any]]:
    """One movement per parcel: what both APIs are sent."""
    out = []
    for i in range(count):
        n = first + i
        receiving = i % 2 == 1
        out.append(
            {
                "n": n,
                "at": start + timedelta(seconds=i),
                "where": SORTING if receiving else WAREHOUSE,
                "step": "receiving" if receiving else "shipping",
                "type": "arrived" if receiving else "outbound",
                "temperature": 2.0 + (i % 50) / 10,
            }
        )
    return out


def epcis_document(events: list[dict[str, Any]], round_: int) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-20T12:00:00+08:00",
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventID": f"urn:uuid:00000000-0000-4000-{round_:04d}-{e['n']:012d}",
                    "eventTime": e["at"].isoformat(),
                    "eventTimeZoneOffset": "+08:00",
                    "epcList": [f"https://id.gs1.org/00/{sscc(e['n'])}"],
                    "action": "OBSERVE",
                    "bizStep": e["step"],
                    "readPoint": {"id": e["where"]},
                    "bizLocation": {"id": e["where"]},
                    "sensorElementList": [
                        {
                            "sensorReport": [
                                {"type": "gs1:Temperature", "value": e["temperature"], "uom": "CEL"}
                            ]
                        }
                    ],
                }
                for e in events
            ]
        },
    }


def scan_batch(events: list[dict[str, Any]], round_: int) -> dict[str, Any]:
    return {
        "events": [
            {
                "event_id": f"bench-{round_}-{e['n']}",
                "tracking_number": f"BENCH{e['n']:08d}",
                "type": e["type"],
                "occurred_at": e["at"].isoformat(),
                "facility": PLACES[e["where"]],
                "temperature_c": e["temperature"],
            }
            for e in events
        ]
    }


def prepare(url: str, parcels: int, now: datetime) -> str:
    engine = make_engine(url)
    migrate.upgrade(engine)
    network = build_network()
    policy = IngestPolicy(clock_skew=timedelta(minutes=5))
    with write_transaction(engine) as conn:
        load_network(conn, network.facilities, network.couriers)
        for location, facility in PLACES.items():
            epcis_store.map_location(conn, location, facility, now)
        for n in range(parcels):
            register_parcel(conn, ParcelIn.model_validate(parcel_body(n)), now=now, policy=policy)
        key = create_key(conn, Role.ADMIN, now=now, label="bench")
    engine.dispose()
    return key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, instance: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": url,
        "TRACKER_WORKERS": "2",
        "TRACKER_THREADS": "4",
        "TRACKER_LOG_LEVEL": "WARNING",
        "TRACKER_SWEEP_INTERVAL": "0",
        "TRACKER_INSTANCE_PATH": str(instance),
    }
    log = (instance / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server did not start; see {instance / 'server.log'}")


def request(
    port: int, method: str, path: str, key: str, body: bytes | None = None, ctype: str = "application/json"
) -> tuple[int, Any, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": ctype}
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    data = answer.read()
    conn.close()
    return answer.status, answer.headers, json.loads(data) if data else None


def capture_epcis(port: int, key: str, document: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    body = json.dumps(document).encode()
    started = time.perf_counter()
    status, headers, job = request(port, "POST", "/api/v1/epcis/capture", key, body, "application/ld+json")
    if status == 202:
        while True:
            status, _, job = request(port, "GET", headers["Location"], key)
            if not job["running"]:
                break
            time.sleep(0.02)
    elapsed = time.perf_counter() - started
    assert job is not None and job["success"], job
    return elapsed, job


def post_scans(port: int, key: str, batch: dict[str, Any]) -> float:
    body = json.dumps(batch).encode()
    started = time.perf_counter()
    status, _, answer = request(port, "POST", "/api/v1/scans", key, body)
    elapsed = time.perf_counter() - started
    assert status == 200 and answer["accepted"] == len(batch["events"]), answer
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    args = parser.parse_args()
    now = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
    start = now - timedelta(hours=3)
    instance = Path(tempfile.mkdtemp(prefix="bench-epcis-"))
    server_url = os.environ.get(
        "TRACKER_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    url = (
        f"sqlite:///{instance / 'bench.db'}"
        if args.sqlite
        else create_database(server_url, "tracker_bench_epcis")
    )
    try:
        key = prepare(url, 2 * args.rounds * args.events, now)
        port = free_port()
        server = start_server(url, port, instance)
        epcis_times, scan_times, validation = [], [], []
        try:
            for r in range(args.rounds):
                base = 2 * r * args.events
                mine = shapes(base, args.events, start)
                theirs = shapes(base + args.events, args.events, start)
                document = epcis_document(mine, r)
                t = time.perf_counter()
                assert validate(document) == []
                validation.append(time.perf_counter() - t)
                elapsed, job = capture_epcis(port, key, document)
                assert all(
                    len(e.get("scans", [])) == 1 and e["scans"][0]["result"] == "accepted"
                    for e in job["events"]
                ), job["events"][0]
                epcis_times.append(elapsed)
                scan_times.append(post_scans(port, key, scan_batch(theirs, r)))
        finally:
            server.terminate()
            server.wait(timeout=30)
        engine = make_engine(url)
        with engine.connect() as conn:
            stored = conn.scalar(select(func.count()).select_from(EpcisEvent))
            scans = conn.scalar(select(func.count()).select_from(ScanEvent))
        engine.dispose()
        assert stored == args.rounds * args.events and scans == 2 * args.rounds * args.events, (stored, scans)
    finally:
        if not args.sqlite:
            drop_database(server_url, url)
    epcis_rate = args.events / statistics.median(epcis_times)
    scan_rate = args.events / statistics.median(scan_times)
    print(
        json.dumps(
            {
                "benchmark": "epcis_capture_vs_scan_api",
                "database": "sqlite" if args.sqlite else "postgresql",
                "events_per_document": args.events,
                "rounds": args.rounds,
                "epcis_capture_events_per_s": round(epcis_rate, 1),
                "scan_api_events_per_s": round(scan_rate, 1),
                "epcis_to_scan_ratio": round(epcis_rate / scan_rate, 3),
                "epcis_seconds": [round(t, 3) for t in epcis_times],
                "scan_seconds": [round(t, 3) for t in scan_times],
                "schema_validation_seconds_in_process": round(statistics.median(validation), 4),
                "what_is_timed": "EPCIS: POST /capture (202) until the job reads finished, polled "
                "every 20 ms; scans: one POST /api/v1/scans batch; same events, parcels of their own; "
                "median of rounds",
                "server": {"wsgi": "gunicorn gthread", "workers": 2, "threads": 4, "live": True},
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "note": "2 cores shared with other work while measured",
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
