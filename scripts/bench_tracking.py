#!/usr/bin/env python3
"""Throughput and latency of the public tracking reads beside a trivial endpoint, in one run.

1. Fill a database with ``--parcels`` parcels and their scans (SQLite in a
   temporary folder, or ``--database-url``: a scratch database whose
   ``public`` schema is dropped and recreated; with ``--reuse`` a database
   already filled to that size by an earlier run is kept, after ``tracker
   db upgrade``).

   The fill goes through the real code first: a simulated day of
   ``--seed-parcels`` parcels is registered and its scans stored by
   :func:`tracker.sim.demo.load_day` (the API's ``register_parcel`` and
   ``store_scans``), so every column ingest derives (status, the
   ``last_event_*`` state, promise, ETA...) is what ingest wrote. That day
   is then copied set-based (one ``INSERT ... SELECT`` per table and chunk,
   on the server) under new tracking numbers (``TRK`` + the copy's number in
   three digits + the seed parcel's eight, e.g. ``TRK00100000042``) and new
   event ids, until there are ``--parcels`` parcels: every table the
   tracking read touches holds rows ingest wrote or exact copies of them.
   1,000,000 parcels (5.7 million scans) took 204 s on PostgreSQL on the
   shared 2-core machine (51 s of it the simulated day through ingest); the
   time is in the JSON (``fill``). On PostgreSQL the database is then read
   into the OS page cache (:func:`prewarm`; ``prewarm`` in the JSON,
   ``--cold`` skips it).
2. Profile one request at a time in this process (``--profile`` requests per
   endpoint, default 300, 0 skips it; :func:`profile`): through the app's
   WSGI callable, made as ``tracker serve`` makes it, per endpoint the SQL
   statements each request sent (on PostgreSQL: every ``execute`` of
   psycopg's cursors, the read's own included; null on SQLite),
   the wall and CPU time per request, the time in each stage
   (:data:`STAGES`: rate limit, database round trip, facts, view, JSON or
   page, ETag; ``other``: Flask's dispatch and hooks), the objects each
   request leaves in reference cycles (:func:`_left_in_cycles`: they wait
   for the cyclic collector, which pauses the worker) and cProfile's top
   functions by own time; beside them a floor route the bench adds to its
   own app (:func:`_add_floor`: the limiter and one indexed read, the least
   a tracking read can cost), and each one's time against ``/healthz``'s.
   With ``--instructions N``, also the instructions each of those routes
   executes per request over N requests, counted under valgrind's callgrind
   (:func:`instructions`): unlike times, the machine's other work does not
   move them, so two versions of the read can be compared on a busy machine.
3. Start the production server (``tracker serve``: gunicorn, ``--workers``
   processes, TRACKER_THREADS threads) on a free loopback port, its app with
   the floor route added (:func:`_serve_with_floor`).
4. Run ``wrk`` (Debian: ``apt-get install wrk``) with ``--connections``
   keep-alive connections against ``/healthz``, ``GET /api/v1/track/{tn}``,
   the page ``GET /track/{tn}`` and the floor, ``--duration`` seconds each, in
   ``--rounds`` interleaved rounds (the machine may be shared: each tracking
   run sits next to a ``/healthz`` run under the same background load),
   after a 3-second warm-up of each. The tracking runs rotate through
   ``--sample`` tracking numbers drawn at random from the whole table, each
   run through its own slice (each wrk thread starting at a different
   place), so each parcel is read about once: nothing is served from a
   warm per-parcel cache.
5. Print one JSON object (the profile under ``profile``): per endpoint, requests per second over all its
   rounds, the p99 of each round and errors (``status``: answers of 400 and
   above), and on Linux the CPU microseconds each request cost the server,
   PostgreSQL, wrk and the whole machine (``cpu_us_per_request``, from
   ``/proc``: :class:`CpuMeter`); every run (p50/p90/p99/max latency in milliseconds); and the
   ratios to ``/healthz``: throughput over all rounds, p99 the median of
   the rounds' ratios (a p99 does not add up over runs). The floor's ratio
   is the ceiling of the reads' (no read that goes to the database can pass
   it on this server); ``target_met`` is about the two reads.

**The rate limiter is on.** Every request comes from 127.0.0.1, one client
for the limiter, so the read budget is raised through its setting
(``TRACKER_RATELIMIT_READ``, default here ``100000000/minute``) rather than
spreading wrk over many source addresses: the limiter still runs its whole
path for every request (key function, the shared read limit, a counter hit
in its storage, the ``X-RateLimit-*`` headers), and the bench checks that
a tracking answer carries ``X-RateLimit-Limit``. The counters are in each
worker's memory (``memory://``, the default); ``--ratelimit-storage-uri
redis://...`` measures the shared storage instead.

Loopback only; bounded by ``--duration`` (at most 30 s per endpoint).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Connection, Engine, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cpu_meter import CpuMeter  # noqa: E402  (a sibling: Python puts scripts/ on sys.path)

from tracker.core import migrate  # noqa: E402  (the checkout, not an installed copy)
from tracker.core.cycles import left_in_cycles  # noqa: E402
from tracker.core.db import make_engine  # noqa: E402
from tracker.core.models import Parcel, ScanEvent  # noqa: E402
from tracker.scans.ingest import IngestPolicy  # noqa: E402
from tracker.sim import demo  # noqa: E402
from tracker.sim.simulator import simulate_day  # noqa: E402

#: The limit the bench gives the one client wrk is (see the module docstring).
READ_BUDGET = "100000000/minute"
#: Copies made per statement: small enough to show progress, large enough to stay set-based.
COPIES_PER_CHUNK = 25

LUA = r"""
local paths = {}
local n = 0
local threads = 0
setup = function(thread)
  thread:set("index", threads)
  threads = threads + 1
end
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  -- Each thread starts at its own place in the list.
  n = math.floor(index * #paths / 8)
end
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "p50": %d, "p90": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        parcels = conn.scalar(select(func.count()).select_from(Parcel)) or 0
        events = conn.scalar(select(func.count()).select_from(ScanEvent)) or 0
    return parcels, events


def fill(url: str, parcels: int, *, seed_parcels: int, reuse: bool) -> dict[str, Any]:
    """Make the database hold ``parcels`` parcels and their scans (see the module docstring)."""
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        if reuse:
            migrate.upgrade(engine)  # a new index or table since the fill: add it
            have, events = _counts(engine)
            if have >= parcels:
                return {"reused": True, "parcels": have, "events": events, "seconds": 0.0}
        if engine.dialect.name == "postgresql":
            # The whole schema, not Base.metadata's tables: the migrations also make
            # tables the models do not declare (the partitions, the event-id ledger).
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        migrate.upgrade(engine)
        now = datetime.now(UTC) - timedelta(minutes=1)
        day = simulate_day(now, parcels=min(parcels, seed_parcels))
        demo.load_day(engine, day, now=now, policy=IngestPolicy(timedelta(minutes=5)))
        seeded = time.perf_counter()
        _clone(engine, parcels)
        have, events = _counts(engine)
        return {
            "reused": False,
            "parcels": have,
            "events": events,
            "seed_parcels": min(parcels, seed_parcels),
            "seed_seconds": round(seeded - started, 1),
            "seconds": round(time.perf_counter() - started, 1),
        }
    finally:
        engine.dispose()


def _clone(engine: Engine, parcels: int) -> None:
    """Copy the seeded day, set-based, until there are ``parcels`` parcels."""
    with engine.connect() as conn:
        seed = conn.scalar(select(func.count()).select_from(Parcel)) or 0
        stride = conn.scalar(select(func.max(Parcel.id))) or 0
    if seed == 0 or seed >= parcels:
        return
    copies = math.ceil(parcels / seed) - 1
    postgres = engine.dialect.name == "postgresql"
    for first in range(1, copies + 1, COPIES_PER_CHUNK):
        last = min(copies, first + COPIES_PER_CHUNK - 1)
        with engine.begin() as conn:
            if postgres:
                conn.execute(text("SET LOCAL synchronous_commit = off"))
            _copy_chunk(conn, first, last, seed=seed, stride=stride, limit=parcels, postgres=postgres)
        print(f"fill: copies {first}-{last} of {copies}", file=sys.stderr, flush=True)
    with engine.begin() as conn:
        if postgres:
            # The copies took ids past the sequence: the next registration must not collide.
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('parcels', 'id'), (SELECT max(id) FROM parcels))")
            )
    if postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # What autovacuum would have done by the time a million parcels are in.
            conn.execute(text("VACUUM ANALYZE parcels, scan_events"))


def _copy_chunk(
    conn: Connection, first: int, last: int, *, seed: int, stride: int, limit: int, postgres: bool
) -> None:
    pad = "lpad(k.n::text, 3, '0')" if postgres else "printf('%03d', k.n)"
    copies = (
        "WITH RECURSIVE k(n) AS "
        "(SELECT CAST(:first AS INTEGER) UNION ALL SELECT n + 1 FROM k WHERE n < :last), "
        # The seed parcels, numbered: copy c of the i-th is parcel c * seed + i, kept below the limit.
        "s AS (SELECT p.id, p.tracking_number, row_number() OVER (ORDER BY p.id) AS i "
        "FROM parcels p WHERE p.id <= :stride) "
    )
    new_tn = f"'TRK' || {pad} || substr(s.tracking_number, 6)"
    parcel_columns = [c.name for c in Parcel.__table__.columns]
    chosen = {"id": "p.id + k.n * :stride", "tracking_number": new_tn}
    conn.execute(
        text(
            f"INSERT INTO parcels ({', '.join(parcel_columns)}) {copies}"
            f"SELECT {', '.join(chosen.get(c, f'p.{c}') for c in parcel_columns)} "
            "FROM s JOIN parcels p ON p.id = s.id CROSS JOIN k WHERE k.n * :seed + s.i <= :limit"
        ),
        {"first": first, "last": last, "seed": seed, "stride": stride, "limit": limit},
    )
    event_columns = [c.name for c in ScanEvent.__table__.columns]
    chosen = {
        # The simulator's event ids are the tracking number and a suffix: keep the suffix.
        "event_id": f"{new_tn} || substr(e.event_id, length(s.tracking_number) + 1)",
        "parcel_id": "e.parcel_id + k.n * :stride",
    }
    conn.execute(
        text(
            f"INSERT INTO scan_events ({', '.join(event_columns)}) {copies}"
            f"SELECT {', '.join(chosen.get(c, f'e.{c}') for c in event_columns)} "
            "FROM s JOIN scan_events e ON e.parcel_id = s.id CROSS JOIN k WHERE k.n * :seed + s.i <= :limit"
        ),
        {"first": first, "last": last, "seed": seed, "stride": stride, "limit": limit},
    )


def prewarm(url: str) -> dict[str, Any]:
    """Read the scratch database's tables and indexes into the OS page cache (PostgreSQL).

    The bench measures the server with its data in memory, as a production
    server sized for its data runs, not the disk: with PostgreSQL's 128 MB of
    shared buffers the reads come from the kernel's cache, which the host may
    have emptied since the fill (seen on the 2-core machine: 0.5 GB cached of a
    2.3 GB database, and the JSON read at 103 requests/s with a p99 of 1.8 s
    in the first round of a run, 1,420 with 43 ms after a read of its files).
    ``pg_prewarm(rel, 'read')`` (contrib, shipped with PostgreSQL) on every
    relation with storage in the schema; ``--cold`` skips it.
    """
    if not url.startswith("postgresql"):
        return {"done": False, "why": "not PostgreSQL"}
    started = time.perf_counter()
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_prewarm"))
            blocks = conn.execute(
                text(
                    "SELECT coalesce(sum(pg_prewarm(c.oid, 'read')), 0) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'i', 't', 'm')"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return {"done": True, "blocks": int(blocks), "seconds": round(time.perf_counter() - started, 1)}


def sample_numbers(url: str, count: int) -> list[str]:
    """``count`` tracking numbers drawn at random from the whole table."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(Parcel.tracking_number).order_by(func.random()).limit(count)))
    finally:
        engine.dispose()


def _wrk(
    base: str, paths: list[str], connections: int, threads: int, duration: float, folder: Path
) -> dict[str, Any]:
    script = folder / "paths.lua"
    listing = folder / "paths.txt"
    script.write_text(LUA)
    listing.write_text("\n".join(paths) + "\n")
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration))}s",
        "--timeout=5s",
        f"--script={script}",
        base + paths[0],
        "--",
        str(listing),
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    raw = json.loads(line.removeprefix("RESULT "))
    seconds = raw["duration_us"] / 1e6
    latency = {k: round(v / 1000, 2) for k, v in raw["latency_us"].items()}
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "requests_per_second": round(raw["requests"] / seconds, 1),
        "latency_ms": latency,
        "errors": raw["errors"],
    }


def _server_env(url: str, folder: Path, workers: int, storage: str) -> dict[str, str]:
    return {
        "TRACKER_DATABASE_URL": url,
        "TRACKER_INSTANCE_PATH": str(folder / "instance"),
        "TRACKER_WORKERS": str(workers),
        "TRACKER_LOG_LEVEL": "WARNING",
        "TRACKER_SWEEP_INTERVAL": "0",  # measure reads, not a sweeper beside them
        # Every request comes from 127.0.0.1: raise the budget, keep the limiter.
        "TRACKER_RATELIMIT_READ": READ_BUDGET,
        "TRACKER_RATELIMIT_STORAGE_URI": storage,
    }


def _start_server(url: str, folder: Path, workers: int, storage: str) -> tuple[subprocess.Popen[bytes], str]:
    """``tracker serve`` on a free loopback port, with the floor route added (:func:`_serve_with_floor`)."""
    port = _free_port()
    env = {**os.environ, **_server_env(url, folder, workers, storage)}
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve-with-floor", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    with requests.Session() as session:
        while True:
            try:
                if session.get(f"{base}/readyz", timeout=1).status_code == 200:
                    return server, base
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start:\n{(folder / 'server.log').read_text()}")
            time.sleep(0.2)


def _check_sample(base: str, tn: str) -> dict[str, int]:
    sizes = {}
    with requests.Session() as session:
        for name, path in (("json", f"/api/v1/track/{tn}"), ("page", f"/track/{tn}")):
            answer = session.get(base + path, timeout=5)
            answer.raise_for_status()
            if "X-RateLimit-Limit" not in answer.headers:
                raise SystemExit(f"{path}: no X-RateLimit-Limit header: is the limiter off?")
            sizes[name] = len(answer.content)
    return sizes


HEALTHZ, JSON, PAGE = "/healthz", "/api/v1/track/{tn}", "/track/{tn}"
#: Interleaved timing rounds of the in-process profile.
PROFILE_ROUNDS = 5
#: Profiled only, on a route the bench adds to its own app (see :func:`_add_floor`).
FLOOR = "floor: limiter + one indexed read + 30 bytes"


def _add_floor(app: Any) -> None:
    """The least any tracking read can cost: what the target ratio is measured against.

    A route of the bench's own (never in the product) that counts the request
    against the public read budget, as the tracking views do, reads the
    parcel's status by its tracking number (one indexed lookup through the
    same read router, connection and driver cursor as the tracking read) and
    answers about 30 bytes of JSON. Its time per request next to ``/healthz``
    is the ceiling of the throughput ratio of any design that reads the
    database once per request, a per-parcel read model included.
    """
    from flask import Response, request

    from tracker.tracking import http

    reads = app.extensions["tracker"].reads
    postgres = reads.primary.dialect.name == "postgresql"
    statement = "SELECT status FROM parcels WHERE tracking_number = " + ("%(tn)s" if postgres else ":tn")

    def status_only(reader: Any) -> Any:
        return reader.first(statement, {"tn": request.view_args["tn"]})

    def floor(tn: str) -> Response:
        http._limit_public_request()
        status, _ = reads.run(status_only)
        return Response(json.dumps({"status": status}), mimetype="application/json")

    app.add_url_rule("/_bench_floor/<tn>", "bench_floor", floor)


def _serve_with_floor(port: int) -> None:
    """``tracker serve --port PORT`` (the same command, settings and gunicorn), whose app also has the floor.

    So that wrk measures the floor (:func:`_add_floor`) through the server the
    reads are measured on: its throughput next to ``/healthz`` is the ratio
    no read that goes to the database once per request can pass on that
    server. The workers build their apps after the fork (no preload), each
    through the factory replaced here before it.
    """
    import tracker.app
    from tracker.cli import main

    factory = tracker.app.create_app

    def with_floor(*args: Any, **kwargs: Any) -> Any:
        app = factory(*args, **kwargs)
        _add_floor(app)
        return app

    tracker.app.create_app = with_floor
    main(["serve", "--port", str(port)])


#: The stages of a tracking read timed by :func:`profile`, in request order: each the functions
#: (module, attribute) whose time it adds up (the read's round trip is on the connection its
#: thread keeps on PostgreSQL, on a pooled one on SQLite).
STAGES = {
    "rate_limit": (("tracker.tracking.counters", "PublicLimits.hit"),),
    "db_round_trip": (
        ("tracker.core.replicas", "HeldConnections.first"),
        ("tracker.core.replicas", "OnConnection.first"),
    ),
    "facts_from_row": (("tracker.tracking.store", "_facts"),),
    "view": (("tracker.tracking.http", "public_view"),),
    "json_dict": (("tracker.tracking.api", "view_to_dict"),),
    "page_render": (("tracker.tracking.pages", "render_template"),),
    "etag_headers": (("tracker.tracking.http", "conditional"),),
}


def _app_as_served(url: str, folder: Path) -> Any:
    """The app as ``tracker serve`` makes it from the bench's environment, with the floor route."""
    from tracker.app import create_app
    from tracker.settings import Settings

    saved = dict(os.environ)
    os.environ.update(_server_env(url, folder, workers=1, storage="memory://"))
    try:
        app = create_app(Settings.from_env())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    _add_floor(app)
    return app


def _caller(app: Any) -> Any:
    """``call(path)``: one GET through the app's WSGI callable, as from 127.0.0.1; its status."""
    from werkzeug.test import EnvironBuilder

    def call(path: str) -> int:
        environ = EnvironBuilder(path=path, environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_environ()
        status = []
        body = app(environ, lambda s, h, e=None: status.append(s))
        for _ in body:
            pass
        getattr(body, "close", lambda: None)()
        return int(status[0].split()[0])

    return call


#: The routes whose instructions :func:`instructions` counts, by the name the JSON gives them.
ROUTES = {HEALTHZ: "/healthz", FLOOR: "/_bench_floor/{tn}", JSON: JSON, PAGE: PAGE}


def instructions(url: str, numbers: list[str], requests_each: int, folder: Path) -> dict[str, Any]:
    """Instructions the app executes per request, by route: a figure the machine's load does not move.

    Each route in a process of its own under ``valgrind --tool=callgrind``
    (Debian: ``apt-get install valgrind``), made as :func:`profile` makes
    the app, counting only while ``requests_each`` requests run (after a
    warm-up of 30, each on a parcel of its own; ``callgrind_control``
    switches the count on and off). It counts this process (Python, the
    driver), not PostgreSQL's backend. Two runs of the same code on other
    parcels gave figures within 1% of each other, where times swing by tens
    of percent on a shared machine: the way to compare two versions of
    the path.
    """
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("valgrind not found: apt-get install -y valgrind")
    if len(numbers) < requests_each + 30:
        raise SystemExit(f"--instructions {requests_each} needs {requests_each + 30} parcels in --sample")
    sample = folder / "instructions-sample.txt"
    sample.write_text("\n".join(numbers[: requests_each + 30]))
    out: dict[str, Any] = {"requests_each": requests_each, "per_request": {}}
    for name in ROUTES:
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={folder / 'callgrind.out'}",
                sys.executable,
                __file__,
                "--database-url",
                url,
                "--count-route",
                name,
                "--count-sample",
                str(sample),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        counted = [line for line in done.stderr.splitlines() if "Collected :" in line]
        if done.returncode != 0 or not counted:
            raise SystemExit(f"counting {name} failed:\n{done.stderr[-2000:]}")
        out["per_request"][name] = round(int(counted[-1].split()[-1]) / requests_each)
    health = out["per_request"][HEALTHZ]
    out["healthz_over_this"] = {
        name: round(health / count, 3) for name, count in out["per_request"].items() if name != HEALTHZ
    }
    return out


def _count_route(url: str, name: str, sample: Path, folder: Path) -> None:
    """Inside valgrind (see :func:`instructions`): the route's requests, counted and nothing else."""
    numbers = sample.read_text().split()
    call = _caller(_app_as_served(url, folder))
    paths = [ROUTES[name].format(tn=tn) for tn in numbers]
    for path in paths[:30]:
        call(path)
    switch = ["callgrind_control", "--instr=on", str(os.getpid())]
    subprocess.run(switch, check=True, capture_output=True)
    codes = {call(path) for path in paths[30:]}
    subprocess.run([*switch[:1], "--instr=off", switch[2]], check=True, capture_output=True)
    if codes != {200}:
        raise SystemExit(f"{name}: answers {sorted(codes)}")


def profile(url: str, numbers: list[str], requests_each: int, folder: Path) -> dict[str, Any]:
    """One request at a time, in this process, through the app's WSGI callable (no HTTP server).

    Per endpoint: the SQL statements each request sent (every ``execute`` of the
    driver's cursors, so the read's own cursor is counted too), the wall time of
    the whole WSGI call, the time in each of :data:`STAGES` (``other``: Flask's
    dispatch, the hooks, Babel, metrics...), and cProfile's top functions by own
    time. The app is made as ``tracker serve`` makes it, from the same
    environment (the limiter on, in memory).
    """
    import cProfile
    import importlib
    import pstats

    import psycopg

    app = _app_as_served(url, folder / "profile")
    postgres = url.startswith("postgresql")
    statements = [0]
    spent: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    originals = []

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    for name, targets in STAGES.items():
        for module_name, attribute in targets:
            owner: Any = importlib.import_module(module_name)
            *path, leaf = attribute.split(".")
            for part in path:
                owner = getattr(owner, part)
            originals.append((owner, leaf, getattr(owner, leaf)))
            setattr(owner, leaf, timed(name, getattr(owner, leaf)))
    execute = psycopg.Cursor.execute  # ClientCursor's too (inherited)

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        statements[0] += 1
        return execute(self, *args, **kwargs)

    originals.append((psycopg.Cursor, "execute", execute))
    psycopg.Cursor.execute = counting  # type: ignore[method-assign]

    call = _caller(app)

    out: dict[str, Any] = {"requests_each": requests_each, "rounds": PROFILE_ROUNDS}
    endpoints = tuple(ROUTES.items())
    timed_runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in endpoints}
    try:
        for _, template in endpoints:  # warm-up: connections, prepared statements, templates
            for tn in numbers[:20]:
                call(template.format(tn=tn))
        # Interleaved rounds, each endpoint on its own slice of the parcels: the
        # machine may be shared, and each round puts the endpoints under the same load.
        share = max(1, requests_each // PROFILE_ROUNDS)
        for round_ in range(PROFILE_ROUNDS):
            for name, template in endpoints:
                paths = [template.format(tn=tn) for tn in numbers[round_ * share : (round_ + 1) * share]]
                statements[0] = 0
                for key in spent:
                    spent[key] = 0.0
                started, cpu = time.perf_counter(), time.process_time()
                codes = [call(path) for path in paths]
                total, cpu = time.perf_counter() - started, time.process_time() - cpu
                timed_runs[name].append(
                    {
                        "codes": set(codes),
                        "statements": statements[0] / len(paths),
                        "us": total / len(paths) * 1e6,
                        "cpu_us": cpu / len(paths) * 1e6,
                        "stages": {k: v / len(paths) * 1e6 for k, v in spent.items() if v},
                    }
                )
        for name, template in endpoints:
            runs = sorted(timed_runs[name], key=lambda run: run["us"])
            middle = runs[len(runs) // 2]  # the median round, whole (its stages add up)
            # cProfile on other parcels (none read twice), apart: it slows what it watches.
            others = [template.format(tn=tn) for tn in numbers[requests_each : 2 * requests_each]]
            cycled = _left_in_cycles(call, others[:CYCLE_SAMPLE])
            profiler = cProfile.Profile()
            profiler.enable()
            for path in others:
                call(path)
            profiler.disable()
            stats = pstats.Stats(profiler)
            top = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)[:12]  # type: ignore[attr-defined]
            per = {k: round(v) for k, v in middle["stages"].items()}
            out[name] = {
                "statuses": sorted(set().union(*(run["codes"] for run in runs))),
                "sql_statements_per_request": round(middle["statements"], 2) if postgres else None,
                "us_per_request": round(middle["us"]),
                "us_per_request_per_round": [round(run["us"]) for run in timed_runs[name]],
                # This process's CPU (not the database's): less swayed by the machine's other work.
                "cpu_us_per_request": round(middle["cpu_us"]),
                "us_by_stage": {**per, "other": round(middle["us"]) - sum(per.values())},
                "objects_left_in_cycles_per_request": round(cycled, 1),
                "top_own_time_us_per_request (under cProfile)": {
                    f"{Path(f).name}:{line}({fn})": round(own / max(1, len(others)) * 1e6)
                    for (f, line, fn), (_, _, own, _, _) in top
                },
            }
        # One request at a time: the ratio of times is the throughput ratio a server
        # would see if it had a core to itself (the database's CPU not counted); the
        # median of the rounds' ratios, each round's endpoints under the same load.
        for name, _ in endpoints[1:]:
            ratios = sorted(
                h["us"] / r["us"] for h, r in zip(timed_runs[HEALTHZ], timed_runs[name], strict=True)
            )
            out[name]["healthz_time_over_this"] = round(ratios[len(ratios) // 2], 3)
    finally:
        for owner, leaf, original in reversed(originals):
            setattr(owner, leaf, original)
        runtime_engine = app.extensions["tracker"].engine
        runtime_engine.dispose()
    return out


#: Requests per endpoint whose reference cycles are counted (see :func:`_left_in_cycles`).
CYCLE_SAMPLE = 50


def _left_in_cycles(call: Any, paths: list[str]) -> float:
    """Objects per request that only CPython's cyclic collector frees (0 when ``paths`` is empty).

    What a request leaves in cycles waits for a collection, which pauses the
    whole worker (:mod:`tracker.core.cycles`).
    """
    if not paths:
        return 0.0
    with left_in_cycles() as found:
        for path in paths:
            call(path)
    return len(found) / len(paths)


def measure(
    base: str,
    endpoints: dict[str, list[str]],
    args: argparse.Namespace,
    duration: float,
    folder: Path,
    server_pid: int | None = None,
) -> dict[str, Any]:
    """``args.rounds`` rounds, each running every endpoint for ``duration / rounds`` seconds.

    The machine may be shared: interleaving puts each tracking run next to a
    ``/healthz`` run under the same background load. Each run reads its own
    slice of the tracking numbers (no parcel is read twice), and each round
    starts with a different endpoint. With ``server_pid``, each run also
    counts the CPU time the server, PostgreSQL and wrk used (:class:`CpuMeter`).
    """
    names = list(endpoints)
    seconds = duration / args.rounds
    for name in names:  # warm-up: connections, prepared statements, caches of the code
        _wrk(base, _slice(endpoints[name], 0, args.rounds + 1), args.connections, args.threads, 3, folder)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            paths = _slice(endpoints[name], r + 1, args.rounds + 1)
            meter = CpuMeter.start(server_pid)
            run = _wrk(base, paths, args.connections, args.threads, seconds, folder)
            if meter is not None:
                run["cpu_seconds"] = meter.stop()
            runs[name].append(run)
    totals = {name: _total(results) for name, results in runs.items()}
    ratios = {}
    for name in (JSON, PAGE, FLOOR):
        per_round = [
            {
                "throughput": round(mine["requests_per_second"] / health["requests_per_second"], 3),
                "p99": round(mine["latency_ms"]["p99"] / health["latency_ms"]["p99"], 2),
            }
            for mine, health in zip(runs[name], runs[HEALTHZ], strict=True)
        ]
        ratios[name] = {
            # All rounds together: every request of the endpoint over all of /healthz's.
            "throughput": round(
                totals[name]["requests_per_second"] / totals[HEALTHZ]["requests_per_second"], 3
            ),
            # The median round: a p99 is not additive over runs.
            "p99": statistics.median(r["p99"] for r in per_round),
            "per_round": per_round,
        }
    return {
        "endpoints": totals,
        "runs": runs,
        "vs_healthz": ratios,
        # The reads' target; the floor is what bounds it, not part of it.
        "target_met": all(ratios[n]["throughput"] >= 0.5 and ratios[n]["p99"] <= 2.0 for n in (JSON, PAGE)),
    }


def _slice(paths: list[str], index: int, parts: int) -> list[str]:
    if len(paths) == 1:
        return paths
    size = max(1, len(paths) // parts)
    return paths[index * size : (index + 1) * size] or paths


def _total(results: list[dict[str, Any]]) -> dict[str, Any]:
    requests = sum(r["requests"] for r in results)
    seconds = sum(r["seconds"] for r in results)
    return {
        "requests": requests,
        "seconds": round(seconds, 2),
        "requests_per_second": round(requests / seconds, 1),
        "p99_ms_per_round": [r["latency_ms"]["p99"] for r in results],
        "p99_ms_median_round": statistics.median(r["latency_ms"]["p99"] for r in results),
        "errors": {k: sum(r["errors"][k] for r in results) for k in results[0]["errors"]},
        **_cpu_per_request(results, requests),
    }


def _cpu_per_request(results: list[dict[str, Any]], requests: int) -> dict[str, Any]:
    """Over all rounds: CPU microseconds per request of each kind of process (see :class:`CpuMeter`)."""
    if not requests or any("cpu_seconds" not in r for r in results):
        return {}
    kinds = results[0]["cpu_seconds"]
    return {
        "cpu_us_per_request": {
            kind: round(sum(r["cpu_seconds"][kind] for r in results) / requests * 1e6) for kind in kinds
        }
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parcels", type=int, default=400)
    parser.add_argument("--seed-parcels", type=int, default=5000, help="simulated through real ingest")
    parser.add_argument("--reuse", action="store_true", help="keep a database already filled this far")
    parser.add_argument(
        "--cold", action="store_true", help="skip reading the database into the OS cache first (prewarm)"
    )
    parser.add_argument("--sample", type=int, default=200_000, help="tracking numbers rotated through")
    parser.add_argument("--duration", type=float, default=24.0, help="seconds per endpoint (max 30)")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved runs per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--profile", type=int, default=300, help="requests per endpoint profiled in-process (0: none)"
    )
    parser.add_argument(
        "--database-url", help="a scratch PostgreSQL database (default: SQLite in a temp folder)"
    )
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        help="also count the instructions per request of each route under callgrind, over this many requests",
    )
    parser.add_argument("--count-route", help=argparse.SUPPRESS)  # inside valgrind: see instructions()
    parser.add_argument("--count-sample", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--serve-with-floor", type=int, help=argparse.SUPPRESS)  # the server: _start_server
    parser.add_argument(
        "--ratelimit-storage-uri",
        default="memory://",
        help="TRACKER_RATELIMIT_STORAGE_URI, e.g. redis://127.0.0.1:6379",
    )
    args = parser.parse_args()
    if args.serve_with_floor:
        _serve_with_floor(args.serve_with_floor)
        return 0
    if args.count_route:
        with tempfile.TemporaryDirectory(prefix="bench-tracking-count-") as scratch:
            _count_route(args.database_url, args.count_route, args.count_sample, Path(scratch))
        return 0
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    duration = min(args.duration, 30.0)

    folder = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    url = args.database_url or f"sqlite:///{folder / 'tracker.db'}"
    server = None
    try:
        filled = fill(url, args.parcels, seed_parcels=args.seed_parcels, reuse=args.reuse)
        warmed = {"done": False, "why": "--cold"} if args.cold else prewarm(url)
        numbers = sample_numbers(url, args.sample)
        profiled = profile(url, numbers, args.profile, folder) if args.profile else None
        counted = instructions(url, numbers, args.instructions, folder) if args.instructions else None
        server, base = _start_server(url, folder, args.workers, args.ratelimit_storage_uri)
        sizes = _check_sample(base, numbers[0])

        endpoints = {
            HEALTHZ: [ROUTES[HEALTHZ]],
            **{name: [ROUTES[name].format(tn=tn) for tn in numbers] for name in (JSON, PAGE, FLOOR)},
        }
        measured = measure(base, endpoints, args, duration, folder, server.pid)
        print(
            json.dumps(
                {
                    "tool": "wrk",
                    "connections": args.connections,
                    "wrk_threads": args.threads,
                    "seconds_per_endpoint": duration,
                    "rounds": args.rounds,
                    "server": {
                        "command": "tracker serve (gunicorn gthread), plus the floor route",
                        "workers": args.workers,
                        "threads": int(os.environ.get("TRACKER_THREADS", "4")),
                        "database": url.split(":", 1)[0],
                        "ratelimit": {
                            "on": True,
                            "read_budget": READ_BUDGET,
                            "storage": args.ratelimit_storage_uri.split(":", 1)[0],
                        },
                    },
                    "cpus": os.cpu_count(),
                    "fill": filled,
                    "prewarm": warmed,
                    "tracking_numbers_rotated": len(numbers),
                    "answer_bytes": sizes,
                    "profile": profiled,
                    "instructions": counted,
                    **measured,
                },
                indent=2,
            )
        )
        return 0
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
