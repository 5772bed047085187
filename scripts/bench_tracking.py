#!/usr/bin/env python3
"""Latency of the public tracking JSON beside a trivial endpoint, in one run.

1. Fill a fresh database with a simulated day (``--parcels``; SQLite in a
   temporary folder, or ``--database-url`` for PostgreSQL, whose tables are
   then dropped and recreated: point it at a scratch database).
2. Start the production server (``python -m tracker.cli serve``: gunicorn,
   ``--workers`` processes, TRACKER_THREADS threads) on a free loopback port.
   The public read limit is raised through its setting
   (``TRACKER_RATELIMIT_READ``) because every request comes from 127.0.0.1;
   the limiter itself stays on and counts every request.
3. Run ``wrk`` (Debian: ``apt-get install wrk``) with ``--connections``
   keep-alive connections for ``--duration`` seconds against ``/healthz``,
   then against ``GET /api/v1/track/{tn}`` for the parcels of the day in
   turn (a Lua script rotates the tracking numbers), each after a short
   warm-up.
4. Print one JSON object: requests per second, p50/p90/p99/max latency in
   milliseconds, errors, and the tracking/healthz ratios.

Loopback only; bounded by ``--duration`` (default 10 s per endpoint).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.core import migrate  # noqa: E402  (the checkout, not an installed copy)
from tracker.core.db import Base, make_engine  # noqa: E402
from tracker.core.models import Parcel  # noqa: E402
from tracker.scans.ingest import IngestPolicy  # noqa: E402
from tracker.sim import demo  # noqa: E402  (the checkout, not an installed copy)
from tracker.sim.simulator import simulate_day  # noqa: E402

LUA = r"""
local paths = {%(paths)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "bytes": %%d, ' ..
    '"errors": {"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}, ' ..
    '"latency_us": {"mean": %%.1f, "p50": %%d, "p90": %%d, "p99": %%d, "max": %%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fill(url: str, parcels: int) -> list[str]:
    engine = make_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                Base.metadata.drop_all(conn)
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        migrate.upgrade(engine)
        now = datetime.now(UTC) - timedelta(minutes=1)
        demo.load_day(
            engine, simulate_day(now, parcels=parcels), now=now, policy=IngestPolicy(timedelta(minutes=5))
        )
        with engine.connect() as conn:
            return list(conn.scalars(select(Parcel.tracking_number).order_by(Parcel.tracking_number)))
    finally:
        engine.dispose()


def _wrk(
    url: str, paths: list[str], connections: int, threads: int, duration: float, folder: Path
) -> dict[str, Any]:
    script = folder / "paths.lua"
    script.write_text(LUA % {"paths": ", ".join(json.dumps(p) for p in paths)})
    command = [
        "wrk",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(duration))}s",
        "--timeout=5s",
        f"--script={script}",
        url,
    ]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parcels", type=int, default=400)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint (max 30)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--database-url", help="a scratch PostgreSQL database (default: SQLite in a temp folder)"
    )
    parser.add_argument(
        "--ratelimit-storage-uri",
        default="memory://",
        help="TRACKER_RATELIMIT_STORAGE_URI, e.g. redis://127.0.0.1:6379",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    duration = min(args.duration, 30.0)

    folder = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    url = args.database_url or f"sqlite:///{folder / 'tracker.db'}"
    server = None
    try:
        numbers = _fill(url, args.parcels)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "TRACKER_DATABASE_URL": url,
            "TRACKER_INSTANCE_PATH": str(folder / "instance"),
            "TRACKER_WORKERS": str(args.workers),
            "TRACKER_LOG_LEVEL": "WARNING",
            "TRACKER_SWEEP_INTERVAL": "0",  # measure reads, not a sweeper beside them
            # Every request comes from 127.0.0.1: raise the budget, keep the limiter.
            "TRACKER_RATELIMIT_READ": "100000000/minute",
            "TRACKER_RATELIMIT_STORAGE_URI": args.ratelimit_storage_uri,
        }
        log = (folder / "server.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        with requests.Session() as session:
            while True:
                try:
                    if session.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit(f"server did not start:\n{(folder / 'server.log').read_text()}")
                time.sleep(0.1)
            sample = session.get(f"{base}/api/v1/track/{numbers[0]}", timeout=5)
            sample.raise_for_status()

        track_paths = [f"/api/v1/track/{tn}" for tn in numbers]
        results: dict[str, Any] = {}
        for name, paths in (("/healthz", ["/healthz"]), ("/api/v1/track/{tn}", track_paths)):
            _wrk(base + paths[0], paths, args.connections, args.threads, 2, folder)  # warm-up
            results[name] = _wrk(base + paths[0], paths, args.connections, args.threads, duration, folder)
        health, track = results["/healthz"], results["/api/v1/track/{tn}"]
        print(
            json.dumps(
                {
                    "tool": "wrk",
                    "connections": args.connections,
                    "wrk_threads": args.threads,
                    "seconds_per_endpoint": duration,
                    "server": {
                        "command": "tracker serve (gunicorn gthread)",
                        "workers": args.workers,
                        "threads": int(os.environ.get("TRACKER_THREADS", "4")),
                        "database": url.split(":", 1)[0],
                        "ratelimit_storage": args.ratelimit_storage_uri.split(":", 1)[0],
                    },
                    "parcels": len(numbers),
                    "tracking_json_bytes": len(sample.content),
                    "endpoints": results,
                    "tracking_vs_healthz": {
                        "throughput": round(track["requests_per_second"] / health["requests_per_second"], 3),
                        "p99": round(track["latency_ms"]["p99"] / health["latency_ms"]["p99"], 2),
                    },
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
