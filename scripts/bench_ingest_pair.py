"""Ingest cost of two versions of tracker, batch by batch on the same machine at the same moments.

``bench_ingest.py`` measures throughput against COPY; its runs of the same
code differ by 10% and more on a shared machine, so a change worth 1-3%
cannot be seen there. This bench pairs the two versions instead:

1. Simulate the scans once (this tree's simulator), as ``bench_ingest.py``
   deals them to four partitioned senders, and write them to a file.
2. Start one child process per version (``--base``, a git revision checked
   out into a temporary worktree, against this work tree as it is, uncommitted
   changes included). Each imports its own ``tracker``, builds its own scratch
   database with its own migrations and the same parcels, and posts batches
   into its own app in process (no HTTP: the server's share is the same on
   both sides, and what differs is ingest itself).
3. Hand the batches out in lockstep: batch k to one child, then to the
   other, then batch k+1 (which side goes first alternates), so both see the
   machine as it is at that moment. Each child reports the CPU time its
   process spent on the batch; the parent reads the CPU time of each
   database's PostgreSQL backends from ``/proc`` (Linux).

Prints one JSON object: per round and side, milliseconds a batch of Python
CPU, PostgreSQL CPU, their sum and wall time, and head's sum over base's.
The first batches of each round are a warm-up, not counted.

    .venv/bin/python scripts/bench_ingest_pair.py --base HEAD~1 [--rounds 3] [--events 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from cpu_meter import process_stats  # noqa: E402  (a sibling: Python puts scripts/ on sys.path)

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WARM_UP = 5


def backend_cpu(databases: list[str]) -> dict[str, float]:
    """Seconds of CPU used so far by the PostgreSQL backends connected to each of ``databases``."""
    used = dict.fromkeys(databases, 0.0)
    hertz = os.sysconf("SC_CLK_TCK")
    for pid, (name, _parent, ticks) in process_stats().items():
        if not name.startswith("postgres"):
            continue
        try:
            # A backend's title: "postgres: 15/main: <user> <database> <client> <state>".
            title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue  # gone meanwhile
        database = next((w for w in title.split() if w in used), None)
        if database is not None:
            used[database] += ticks / hertz
    return used


# -- the child: one version of tracker, one database ----------------------------------------


def child(tree: str, data_path: str, base_url: str, label: str) -> None:
    """Serve the parent's batches (by index, one per line on stdin) with the ``tracker`` of ``tree``."""
    sys.path.insert(0, tree)
    import tracker
    from tracker.app import create_app
    from tracker.core.db import create_database, drop_database
    from tracker.scans.network import CourierSpec, FacilitySpec
    from tracker.server import settle_heap
    from tracker.settings import Settings

    # The tree's own bench_ingest sets its database up, as that version's bench would.
    spec = importlib.util.spec_from_file_location(
        "tree_bench_ingest", Path(tree) / "scripts" / "bench_ingest.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)

    data = json.loads(Path(data_path).read_text())
    network = types.SimpleNamespace(
        facilities=[FacilitySpec(**f) for f in data["facilities"]],
        couriers=[CourierSpec(**c) for c in data["couriers"]],
    )
    url = create_database(base_url, f"tracker_pair_{label}")
    try:
        key = bench.prepare(url, network, data["parcels"], datetime.fromisoformat(data["now"]))
        app = create_app(Settings.from_env(database_url=url, sweep_interval=0, log_level="WARNING"))
        client = app.test_client()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        bodies = [body.encode() for body in data["bodies"]]
        sizes = [len(json.loads(body)["events"]) for body in data["bodies"]]  # read once, not per batch
        del data
        settle_heap()  # the collector as a server worker sets it
        print(json.dumps({"database": url.rsplit("/", 1)[1], "tracker": tracker.__file__}), flush=True)
        for line in sys.stdin:
            k = int(line)
            cpu, wall = time.process_time(), time.perf_counter()
            answer = client.post("/api/v1/scans", data=bodies[k], headers=headers)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if answer.status_code != 200 or answer.get_json()["accepted"] != sizes[k]:
                raise SystemExit(f"{label}: batch {k} answered {answer.status_code} {answer.data[:300]!r}")
            print(json.dumps({"cpu": cpu, "wall": wall}), flush=True)
        app.extensions["tracker"].engine.dispose()
    finally:
        drop_database(base_url, url)


# -- the parent -----------------------------------------------------------------------------------


def simulate(path: Path, events: int) -> int:
    """Write the scans (four partitioned senders' batches, interleaved) and their parcels; the batch count."""
    sys.path.insert(0, str(ROOT))
    from bench_ingest import batches_for, interleaved, simulated

    now = datetime.now(UTC) + timedelta(minutes=1)
    network, parcels, scans = simulated(events, now)
    per_client = batches_for(scans, 4, "partitioned")
    order = interleaved(per_client)
    data = {
        "now": now.isoformat(),
        "facilities": [dataclasses.asdict(f) for f in network.facilities],
        "couriers": [dataclasses.asdict(c) for c in network.couriers],
        "parcels": parcels,
        "bodies": [body.decode() for body in order],
    }
    path.write_text(json.dumps(data))
    return len(order)


def start(tree: Path, data: Path, url: str, label: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", str(tree), str(data), url, label],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tree,
        env={**os.environ, "TRACKER_LOG_LEVEL": "WARNING", "PYTHONHASHSEED": "0"},
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first:
        raise SystemExit(f"{label} did not start")
    started = json.loads(first)
    if not started["tracker"].startswith(str(tree)):
        raise SystemExit(f"{label} imported {started['tracker']}, not the tracker of {tree}")
    return process, started["database"]


def post(process: subprocess.Popen[str], k: int) -> dict[str, float]:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(f"{k}\n")
    process.stdin.flush()
    line = process.stdout.readline()
    if not line:
        raise SystemExit("a side stopped; see its error above")
    return json.loads(line)


def one_round(trees: dict[str, Path], data: Path, url: str, batches: int, round_no: int) -> dict[str, Any]:
    sides = {label: start(tree, data, url, f"{label}{round_no}") for label, tree in trees.items()}
    labels = list(sides)
    totals = {label: {"cpu": 0.0, "wall": 0.0} for label in labels}
    try:
        before: dict[str, float] = {}
        for k in range(batches):
            order = labels if (k + round_no) % 2 == 0 else labels[::-1]
            for label in order:
                got = post(sides[label][0], k)
                if k >= WARM_UP:
                    totals[label]["cpu"] += got["cpu"]
                    totals[label]["wall"] += got["wall"]
            if k == WARM_UP - 1:
                before = backend_cpu([sides[label][1] for label in labels])
        after = backend_cpu([sides[label][1] for label in labels])
    finally:
        for process, _ in sides.values():
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # a side that failed has gone already
                process.stdin.close()
            process.wait(timeout=120)
    counted = batches - WARM_UP
    out: dict[str, Any] = {}
    for label in labels:
        database = sides[label][1]
        python = totals[label]["cpu"] / counted * 1000
        postgres = (after[database] - before[database]) / counted * 1000
        out[label] = {
            "python_cpu_ms": round(python, 2),
            "postgres_cpu_ms": round(postgres, 2),
            "cpu_ms": round(python + postgres, 2),
            "wall_ms": round(totals[label]["wall"] / counted * 1000, 2),
        }
    out["head_over_base_cpu"] = round(out["head"]["cpu_ms"] / out["base"]["cpu_ms"], 4)
    return out


def worktree(revision: str, into: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), revision],
        check=True,
        capture_output=True,
    )
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the git revision to compare this work tree with")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each on fresh databases")
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.events <= WARM_UP * 500:
        parser.error(f"--events must give more than the {WARM_UP} warm-up batches of 500")
    url = os.environ.get("TRACKER_BENCH_DATABASE_URL", DEFAULT_URL)
    scratch = Path(tempfile.mkdtemp(prefix="tracker-pair-"))
    try:
        data = scratch / "scans.json"
        batches = simulate(data, args.events)
        base = worktree(args.base, scratch / "base")
        trees = {"base": base, "head": ROOT}
        rounds = [one_round(trees, data, url, batches, r) for r in range(args.rounds)]
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(scratch / "base")],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(scratch, ignore_errors=True)
    ratios = [r["head_over_base_cpu"] for r in rounds]
    print(json.dumps({
        "benchmark": "ingest_pair",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "base": args.base, "head": "work tree", "events": args.events, "batches": batches,
        "warm_up_batches": WARM_UP, "rounds": rounds,
        "head_over_base_cpu_rounds": ratios, "head_over_base_cpu_median": statistics.median(ratios),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
    else:
        main()
