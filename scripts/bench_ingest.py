#!/usr/bin/env python3
"""Scan ingestion throughput through the real server, against raw COPY.

Usage: python scripts/bench_ingest.py [--events 100000] [--clients 4] [--workers 2] [--runs 1]

1. Create a fresh PostgreSQL database on the server at
   ``TRACKER_BENCH_DATABASE_URL`` (default: the local server), migrate it,
   load the simulated network and register the simulated parcels.
2. Start ``tracker serve`` (gunicorn) on it and POST the simulated scans in
   batches of 500 from ``--clients`` concurrent keep-alive connections
   (``--senders``: each client owning a share of the parcels, or one stream
   dealt to whichever client is free; see :func:`batches_for`); check that
   every event was stored exactly once.
3. Baseline in the same run on the same database: psycopg ``COPY`` of the
   same rows into a bare table with the scan-event columns, a unique index
   on the event id and an index on (tracking number, time), nothing else,
   once before and once after step 2 (see :func:`copy_baselines` for the
   two ways it is measured). ``ratio_to_copy`` divides by the mean of the
   per-batch runs; ``ratio_to_single_transaction_copy`` by one big COPY.
   While the clients post, ``cpu`` counts what each kind of process used
   (the server and its workers, PostgreSQL, this process's sender threads,
   the whole machine; read from ``/proc``, see :func:`cpu_figures`): whether
   the run was CPU-bound, and where an event's cost lies.

4. With ``--profile`` (see :func:`profile_in_process`): the same batches
   posted again, one at a time, into the app in this process, on a copy of
   the database as it was before step 2: the app's own CPU time per batch,
   and the time it waited for PostgreSQL. Unlike the run through the server,
   this figure does not depend on how the kernel dealt the clients'
   connections to the workers.

5. With ``--runs N`` (N > 1): steps 1-3 N times, each on a fresh database
   with its own COPY baselines; each run's JSON under ``runs``, their ratios
   and median (``ratio_to_copy_median``) against the aim for the senders
   (:data:`AIMS`: ``aim``, ``aim_met``).

Prints one JSON object. Nothing here is timed by the test suite.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import http.client
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpu_meter import CpuMeter  # noqa: E402  (a sibling: Python puts scripts/ on sys.path)

from tracker.core import migrate  # noqa: E402
from tracker.core.db import create_database, drop_database, make_engine, write_transaction  # noqa: E402
from tracker.core.vocabulary import Role  # noqa: E402
from tracker.keys.store import create_key  # noqa: E402
from tracker.scans.directory import load_network  # noqa: E402
from tracker.scans.ingest import IngestPolicy  # noqa: E402
from tracker.scans.parcels import register_parcel  # noqa: E402
from tracker.scans.schemas import ParcelIn  # noqa: E402
from tracker.sim.simulator import simulate_day  # noqa: E402

BATCH = 500
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def simulated(n_events: int, now: datetime) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """Parcels and scans enough for ``n_events``, from several simulated days."""
    parcels: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    seed = 11
    network = None
    while len(events) < n_events:
        day = simulate_day(now, seed=seed, parcels=5000)
        network = network or day.network
        parcels += day.parcels
        events += day.events
        seed += 1
    events = events[:n_events]
    used = {e["tracking_number"] for e in events}
    return network, [p for p in parcels if p["tracking_number"] in used], events


def prepare(
    url: str, network: Any, parcels: list[dict[str, Any]], now: datetime, revision: str = "heads"
) -> str:
    engine = make_engine(url)
    migrate.upgrade(engine, revision)
    policy = IngestPolicy(clock_skew=timedelta(minutes=5))
    with write_transaction(engine) as conn:
        load_network(conn, network.facilities, network.couriers)
        for body in parcels:
            register_parcel(conn, ParcelIn.model_validate(body), now=now, policy=policy)
        key = create_key(conn, Role.ADMIN, now=now, label="bench")
    engine.dispose()
    return key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, workers: int, threads: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": url,
        "TRACKER_WORKERS": str(workers),
        "TRACKER_THREADS": str(threads),
        "TRACKER_LOG_LEVEL": "WARNING",
        "TRACKER_SWEEP_INTERVAL": "0",
        "TRACKER_INSTANCE_PATH": str(log.parent),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"server did not start; see {log}")


def batches_for(events: list[dict[str, Any]], clients: int, senders: str) -> list[list[bytes]]:
    """The request bodies each client sends, in order.

    ``partitioned`` (the default) models what a carrier's network sends:
    many independent scanners and courier phones, each with its own parcels,
    so each client owns the parcels whose tracking number hashes to it and
    sends their scans in time order. ``one-stream`` deals consecutive slices of
    one time-ordered stream to whichever client is free, so concurrent
    batches often touch the same parcels and queue on their row locks.
    """
    if senders == "one-stream":
        bodies = [orjson.dumps({"events": events[i : i + BATCH]}) for i in range(0, len(events), BATCH)]
        return [bodies[k::clients] for k in range(clients)]
    streams: list[list[dict[str, Any]]] = [[] for _ in range(clients)]
    for event in events:
        streams[zlib.crc32(event["tracking_number"].encode()) % clients].append(event)
    return [
        [orjson.dumps({"events": stream[i : i + BATCH]}) for i in range(0, len(stream), BATCH)]
        for stream in streams
    ]


def post_batches(
    port: int, key: str, per_client: list[list[bytes]], server_pid: int | None = None, split: Any = None
) -> tuple[float, dict[str, int]]:
    """Post each client's bodies on its own keep-alive connection; seconds and answer totals.

    A client whose answer says ``Connection: close`` (the server evens out its
    workers' connections, see :class:`tracker.server.ConnectionBoard`) opens a
    new one for its next batch, as keep-alive clients do. With ``server_pid``
    and a dict ``split``, ``split`` gets how many of the client connections
    each worker holds as the kernel dealt them (``first``: the first reading
    with all open, if no client had connected again by then) and at the last
    reading (``last``), read every 0.1 s (see :func:`connections_per_worker`),
    and how many times clients connected again (``reconnections``).
    """
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    lock = threading.Lock()
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    #: Each client's local port now (not positive: between connections), and how often one changed.
    ports = [0] * len(per_client)
    reconnections = [0]
    done = threading.Event()

    def client(k: int, bodies: list[bytes]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for body in bodies:
            conn.request("POST", "/api/v1/scans", body=body, headers=headers)
            local = conn.sock.getsockname()[1]
            if ports[k] != local:
                with lock:
                    reconnections[0] += ports[k] != 0
                ports[k] = local
            response = conn.getresponse()
            data = response.read()
            if conn.sock is None:  # closed after this answer: the next batch connects again
                ports[k] = -local
            if response.status != 200:
                errors.append(f"{response.status}: {data[:200]!r}")
                continue
            answer = orjson.loads(data)
            with lock:
                for name in totals:
                    totals[name] += answer[name]
        conn.close()

    def watch() -> None:
        clients = sum(1 for bodies in per_client if bodies)
        while not done.wait(0.1):
            now = connections_per_worker(server_pid, [p for p in ports if p > 0])
            if now and sum(now) == clients:
                if reconnections[0] == 0:  # still as the kernel dealt them
                    split.setdefault("first", now)
                split["last"] = now

    senders = [threading.Thread(target=client, args=(k, bodies)) for k, bodies in enumerate(per_client)]
    watcher = threading.Thread(target=watch) if split is not None and server_pid else None
    started = time.perf_counter()
    for t in senders:
        t.start()
    if watcher is not None:
        watcher.start()
    for t in senders:
        t.join()
    elapsed = time.perf_counter() - started
    done.set()
    if watcher is not None:
        watcher.join()
        split["reconnections"] = reconnections[0]
    if errors:
        raise SystemExit(f"{len(errors)} failed requests, first: {errors[0]}")
    return elapsed, totals


def connections_per_worker(server_pid: int | None, client_ports: list[int]) -> list[int]:
    """How many of the client connections each worker of the server holds, most first.

    Read from /proc (Linux): the socket inodes each worker process has open,
    matched to /proc/net/tcp's rows whose remote port is a client's. The
    kernel deals connections to workers by a hash (SO_REUSEPORT), so four
    keep-alive clients split 2/2, 3/1 or 4/0 between two workers, and a
    worker holding three does their Python work on one core: read a run
    beside its split. Empty where /proc cannot tell.
    """
    try:
        workers = [int(p) for p in Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()]
        by_inode: dict[str, int] = {}
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port in client_ports:
                by_inode[fields[9]] = remote_port
        counts = []
        for worker in workers:
            held = 0
            for fd in Path(f"/proc/{worker}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in by_inode:
                    held += 1
            counts.append(held)
    except OSError:
        return []
    return sorted(counts, reverse=True)


COPY_TABLE = """
CREATE TABLE bench_copy (
    event_id varchar(100) NOT NULL, tracking_number varchar(40) NOT NULL,
    type varchar(32) NOT NULL, occurred_at timestamptz NOT NULL, received_at timestamptz NOT NULL,
    facility_code varchar(32), courier_code varchar(32), lat float8, lon float8, accuracy_m float8,
    temperature_c float8, pod jsonb, damage jsonb, reason varchar(64), note text,
    source varchar(16) NOT NULL, content_hash varchar(64) NOT NULL);
CREATE UNIQUE INDEX bench_copy_event_id ON bench_copy (event_id);
CREATE INDEX bench_copy_tn_time ON bench_copy (tracking_number, occurred_at);
"""

COPY_COLUMNS = (
    "event_id, tracking_number, type, occurred_at, received_at, facility_code, courier_code, "
    "lat, lon, accuracy_m, temperature_c, pod, damage, reason, note, source, content_hash"
)


def copy_row(e: dict[str, Any], received_at: datetime) -> tuple[Any, ...]:
    """An event as a row of the bare table: only the conversions storage needs."""
    pod = orjson.dumps(e["pod"]).decode() if e.get("pod") else None
    damage = orjson.dumps(e["damage"]).decode() if e.get("damage") else None
    digest = hashlib.sha256(orjson.dumps(e, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return (
        e["event_id"],
        e["tracking_number"],
        e["type"],
        datetime.fromisoformat(e["occurred_at"]),
        received_at,
        e.get("facility"),
        e.get("courier_id"),
        e.get("lat"),
        e.get("lon"),
        e.get("accuracy_m"),
        e.get("temperature_c"),
        pod,
        damage,
        e.get("reason"),
        e.get("note"),
        "bench",
        digest,
    )


def copy_baselines(url: str, bodies: list[bytes]) -> dict[str, float]:
    """Rows per second of psycopg COPY into a fresh bare table, two ways.

    ``per_batch``: the same batches of 500 the API gets, from the same JSON
    bodies, each COPY committed before the next (the durability the API
    promises its clients) — the baseline for ``ratio_to_copy``.
    ``single``: every row, converted beforehand, in one COPY and one commit:
    the ceiling of raw loading, reported for scale.
    """
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    statement = f"COPY bench_copy ({COPY_COLUMNS}) FROM STDIN"
    out = {}
    with psycopg.connect(dsn) as conn:
        total = 0
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute(COPY_TABLE)
        conn.commit()
        started = time.perf_counter()
        for body in bodies:
            now = datetime.now(UTC)
            rows = [copy_row(e, now) for e in orjson.loads(body)["events"]]
            with conn.cursor() as cur, cur.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
            total += len(rows)
        out["per_batch"] = total / (time.perf_counter() - started)

        conn.execute("DROP TABLE bench_copy")
        conn.execute(COPY_TABLE)
        conn.commit()
        now = datetime.now(UTC)
        rows = [copy_row(e, now) for body in bodies for e in orjson.loads(body)["events"]]
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        out["single"] = len(rows) / (time.perf_counter() - started)
        count = conn.execute("SELECT count(*) FROM bench_copy").fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE bench_copy")
        conn.commit()
    assert count == total == len(rows)
    return out


#: Issue 12's aims for ``ratio_to_copy``, by how the senders share the events: the
#: median of three runs (``--runs 3``), each with its own COPY baselines.
AIMS = {"partitioned": 0.30, "one-stream": 0.20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--senders",
        choices=["partitioned", "one-stream"],
        default="partitioned",
        help="how events are dealt to clients (see batches_for)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also post the batches into the app in this process: CPU and database time per batch",
    )
    parser.add_argument(
        "--database-prefix", default="tracker_bench", help="scratch database name, before a suffix"
    )
    parser.add_argument(
        "--compare-partitioned",
        action="store_true",
        help="the API on a plain and on a partitioned scan_events, in one run (no COPY)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="whole runs, each on a fresh database with its own COPY baselines; with more than one, "
        "each run's JSON under runs and the median of their ratios to COPY (not with --compare-partitioned)",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.compare_partitioned and args.runs != 1:
        parser.error("--compare-partitioned is one run of each schema; --runs does not apply")
    if args.compare_partitioned:
        compare_partitioned(args)
        return

    base = os.environ.get("TRACKER_BENCH_DATABASE_URL", DEFAULT_URL)
    runs = [run_once(args, base) for _ in range(args.runs)]
    if args.runs == 1:
        print(json.dumps(runs[0], indent=2))
    else:
        ratios = [r["ratio_to_copy"] for r in runs]
        median = statistics.median(ratios)
        print(json.dumps({
            "benchmark": "ingest", "senders": args.senders, "runs": runs,
            "ratio_to_copy_runs": ratios,
            "ratio_to_copy_median": median,
            "aim": AIMS[args.senders], "aim_met": median >= AIMS[args.senders],
        }, indent=2))  # fmt: skip
    for run in runs:
        if run["stored"] != run["events"] or run["results"]["accepted"] != run["events"]:
            raise SystemExit("events were lost or doubled")


def run_once(args: Any, base: str) -> dict[str, Any]:
    """One whole run on a fresh database: COPY, the API through the server, COPY again."""
    load_start = os.getloadavg()
    now = datetime.now(UTC) + timedelta(minutes=1)
    network, parcels, events = simulated(args.events, now)
    url = create_database(base, args.database_prefix)
    log = ROOT / "instance" / "bench" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        key = prepare(url, network, parcels, now)
        per_client = batches_for(events, args.clients, args.senders)
        bodies = [body for client in per_client for body in client]
        in_process = profile_in_process(base, url, key, per_client) if args.profile else None
        copy_before = copy_baselines(url, bodies)
        elapsed, totals, stored, _kind = serve_and_post(url, key, per_client, args, log)
        copy_after = copy_baselines(url, bodies)
    finally:
        if not args.keep:
            drop_database(base, url)

    per_batch = (copy_before["per_batch"] + copy_after["per_batch"]) / 2
    single = (copy_before["single"] + copy_after["single"]) / 2
    events_per_second = len(events) / elapsed
    return {
        "benchmark": "ingest",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "events": len(events), "batch_size": BATCH, "clients": args.clients, "senders": args.senders,
        "server": {"workers": args.workers, "threads": args.threads, "wsgi": "gunicorn gthread"},
        "connections_per_worker": args.connections_per_worker,
        "load": {"start": load_start, "end": os.getloadavg()},
        "results": totals, "stored": stored, "parcel_updates": args.parcel_updates,
        "seconds": round(elapsed, 2), "cpu": args.cpu,
        "events_per_second": round(events_per_second),
        "copy_rows_per_second": round(per_batch),
        "copy_rows_per_second_runs": [round(copy_before["per_batch"]), round(copy_after["per_batch"])],
        "ratio_to_copy": round(events_per_second / per_batch, 3),
        "copy_single_transaction_rows_per_second": round(single),
        "ratio_to_single_transaction_copy": round(events_per_second / single, 3),
        **({"in_process": in_process} if in_process else {}),
    }  # fmt: skip


def interleaved(per_client: list[list[bytes]]) -> list[bytes]:
    """The clients' bodies one after another: the first of each client, then the second of each..."""
    return [c[i] for i in range(max(map(len, per_client))) for c in per_client if i < len(c)]


def profile_in_process(base: str, url: str, key: str, per_client: list[list[bytes]]) -> dict[str, Any]:
    """Every batch posted into the app in this process, on a copy of the database at ``url``.

    The clients' batches interleaved (first of each client, second of each...),
    one at a time, through the Flask test client, with the heap settled as a
    server worker settles it (:func:`tracker.server.settle_heap`; undone after).
    ``cpu_ms_per_batch`` is this process's CPU time (validation, ingest's
    Python, the driver), ``wall_ms_per_batch`` the elapsed time; the
    difference is mostly waiting for PostgreSQL (statements and the commit).
    """
    from tracker.app import create_app
    from tracker.server import settle_heap
    from tracker.settings import Settings

    copy = create_database(base, "tracker_bench_profile", template=make_url(url).database)
    threshold = gc.get_threshold()
    try:
        app = create_app(Settings.from_env(database_url=copy, sweep_interval=0, log_level="WARNING"))
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        order = interleaved(per_client)
        settle_heap()
        cpu, wall = time.process_time(), time.perf_counter()
        for body in order:
            answer = client.post("/api/v1/scans", data=body, headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"in-process batch failed: {answer.status_code} {answer.data[:200]!r}")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        app.extensions["tracker"].engine.dispose()
    finally:
        # The COPY baselines run in this process next: with the collector as it was.
        gc.unfreeze()
        gc.set_threshold(*threshold)
        drop_database(base, copy)
    n = len(order)
    return {
        "batches": n,
        "cpu_ms_per_batch": round(cpu / n * 1000, 2),
        "wall_ms_per_batch": round(wall / n * 1000, 2),
        "waiting_ms_per_batch": round((wall - cpu) / n * 1000, 2),
    }


def plain_revision() -> str:
    """The schema just before scan_events was partitioned (tracker.core.partitions)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    for revision in scripts.walk_revisions():
        if (revision.path or "").endswith("_partitioned_scan_events.py"):
            return str(revision.down_revision)
    raise SystemExit("no partitioning migration found")


def serve_and_post(
    url: str, key: str, per_client: list[list[bytes]], args: Any, log: Path
) -> tuple[float, dict[str, int], int, str]:
    """Start the server, post every batch, stop it: seconds, answers, events stored, scan_events' relkind."""
    port = free_port()
    server = start_server(url, port, args.workers, args.threads, log)
    try:
        args.connections_per_worker = {}
        # The senders are this process's threads: the client's CPU is this process's.
        meter = CpuMeter.start(server.pid, client_name="client", client_usage=resource.RUSAGE_SELF)
        elapsed, totals = post_batches(port, key, per_client, server.pid, args.connections_per_worker)
        args.cpu = cpu_figures(meter.stop(), elapsed, sum(totals.values())) if meter else None
    finally:
        server.terminate()
        server.wait(timeout=30)
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = conn.scalar(text("SELECT count(*) FROM scan_events"))
        kind = conn.scalar(text("SELECT relkind FROM pg_class WHERE oid = to_regclass('scan_events')"))
        # Parcel updates written in place (HOT: no new index entries), of all; the
        # server's backends have exited, so their statistics are flushed.
        updates = conn.execute(
            text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'parcels'")
        ).one()
    engine.dispose()
    args.parcel_updates = {"all": updates[0], "hot": updates[1]}
    return elapsed, totals, stored, kind


def cpu_figures(seconds: dict[str, float], elapsed: float, events: int) -> dict[str, Any]:
    """What the posting cost each kind of process (see :class:`CpuMeter`), per event and in all.

    ``machine_busy_share``: the machine's busy time over its cores' time
    while the clients posted. Near 1, the run is CPU-bound and only less
    work per event makes it faster; well under 1, something waits (locks,
    commits, the clients' turns).
    """
    cores = os.cpu_count() or 1
    return {
        "seconds": seconds,
        "us_per_event": {kind: round(used / events * 1e6, 1) for kind, used in seconds.items()},
        "machine_busy_share": round(seconds["machine"] / (elapsed * cores), 3),
    }


def api_run(url: str, key: str, per_client: list[list[bytes]], args: Any, log: Path) -> dict[str, Any]:
    elapsed, totals, stored, kind = serve_and_post(url, key, per_client, args, log)
    total = sum(len(client) for client in per_client)
    if stored != totals["accepted"]:
        raise SystemExit("events were lost or doubled")
    return {
        "table": "partitioned" if kind == "p" else "plain",
        "seconds": round(elapsed, 2),
        "batches": total,
        "stored": stored,
        "events_per_second": round(stored / elapsed),
        "cpu": args.cpu,
    }


def compare_partitioned(args: Any) -> None:
    """The API on a plain and on a partitioned scan_events, alternately, in one run.

    One database is migrated to the revision before the partitioning and filled
    (network, parcels); the second is a copy of it (``CREATE DATABASE ...
    TEMPLATE``) migrated on to the head, so both hold the same rows. The runs
    alternate plain, partitioned, plain, partitioned (other work on the machine hits both alike).
    """
    base = os.environ.get("TRACKER_BENCH_DATABASE_URL", DEFAULT_URL)
    now = datetime.now(UTC) + timedelta(minutes=1)
    network, parcels, events = simulated(args.events, now)
    per_client = batches_for(events, args.clients, args.senders)
    log = ROOT / "instance" / "bench" / "server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    plain_url = create_database(base, "tracker_bench_plain")
    made = [plain_url]
    try:
        key = prepare(plain_url, network, parcels, now, plain_revision())
        runs: dict[str, list[dict[str, Any]]] = {"plain": [], "partitioned": []}
        for _ in range(2):
            for kind in ("plain", "partitioned"):
                url = _fresh_copy(base, plain_url, kind, made)
                if kind == "partitioned":
                    engine = make_engine(url)
                    migrate.upgrade(engine)
                    engine.dispose()
                runs[kind].append(api_run(url, key, per_client, args, log))
    finally:
        for url in made:
            drop_database(base, url)
    rate = {k: sum(r["events_per_second"] for r in v) / len(v) for k, v in runs.items()}
    print(json.dumps({
        "benchmark": "ingest, plain vs partitioned scan_events",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "load": os.getloadavg()},
        "events": len(events), "batch_size": BATCH, "clients": args.clients, "senders": args.senders,
        "plain_revision": plain_revision(),
        "runs": runs,
        "events_per_second": {k: round(v) for k, v in rate.items()},
        "ratio_partitioned_to_plain": round(rate["partitioned"] / rate["plain"], 3),
    }, indent=2))  # fmt: skip


def _fresh_copy(base: str, template_url: str, kind: str, made: list[str]) -> str:
    """A new database copied from the filled, unpartitioned template (nothing ingested yet)."""
    url = create_database(base, f"tracker_bench_{kind}", template=make_url(template_url).database)
    made.append(url)
    return url


if __name__ == "__main__":
    main()
