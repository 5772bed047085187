"""Schemathesis over ``/openapi.json`` of a live ``tracker serve`` on PostgreSQL (issue 11, finding 9).

The OpenAPI must say what the server does: schemathesis (pinned in the
``test`` extra) runs every operation with all its checks against a real
``tracker serve`` (gunicorn, two workers) on a database of its own, seeded
with the simulator's network, a day of parcels and scans and the cases a
sweep opened, so that the fuzzer meets real objects: half of its tracking
numbers, case ids, courier ids and facility codes are real ones
(schemathesis dictionaries), and its stateful phase follows what it
creates. Four identities each get a run: an ops key, a courier key, a
merchant key (bound to the demo's merchant, which registered the day's
parcels, so its reads, corrections and cancellations meet real parcels of
its own) and no key.

Each run is bounded (``MAX_EXAMPLES`` per operation and phase, ``MAX_TIME_S``
in all) and seeded (``--seed``: the same cases in the same order, up to where
the time bound stops it); any
failure fails the test with schemathesis' report. What schemathesis reports
where the API does what it documents is recorded, with its reason, in
``tests/service/fuzz_hooks.py`` (``MISTAKES``), matched narrowly; the test
prints how often each applied, and the operations, cases and wall time of
each run.

The public endpoints' rate limits are raised for the server under test: the
fuzzer is to test what lies behind them (tests/tracking/test_rate_limits.py
tests the limits). A chunked body over the limit, which only a real server
delivers as gunicorn does, is tested here too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from tests.conftest import POSTGRES_URL, _postgres_admin_engine
from tests.live import LiveServer
from tracker.core import migrate
from tracker.core.db import create_database, drop_database, make_engine
from tracker.core.models import Case, Courier, Facility, Parcel
from tracker.scans.ingest import IngestPolicy
from tracker.settings import Settings
from tracker.sim.demo import prepare
from tracker.sla import load_service_levels

pytestmark = [pytest.mark.slow, pytest.mark.committing, pytest.mark.postgres]

#: Test cases per operation and phase.
MAX_EXAMPLES = 25
#: Seconds for one identity's whole run, all phases (schemathesis stops there).
MAX_TIME_S = 55
#: CI's seed is fixed; TRACKER_FUZZ_SEED lets a developer look further than CI does.
SEED = int(os.environ.get("TRACKER_FUZZ_SEED", "20261120"))
HOOKS = Path(__file__).with_name("fuzz_hooks.py")
#: Requests whose answer takes longer fail (ST112); the fuzzer's route solves are capped (fuzz_hooks).
MAX_RESPONSE_TIME_S = 10


@dataclass
class Live:
    url: str
    keys: dict[str, str]
    #: Real values per path parameter name, for the fuzzer's dictionaries.
    values: dict[str, list[Any]]
    max_body_bytes: int


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    _postgres_admin_engine().dispose()  # skips when no server answers (a failure under CI)
    folder = tmp_path_factory.mktemp("fuzz")
    url = create_database(POSTGRES_URL, "tracker_fuzz")
    engine = make_engine(url)
    server = None
    try:
        migrate.upgrade(engine)
        settings = Settings.from_env({})
        policy = IngestPolicy(
            clock_skew=settings.clock_skew, levels=load_service_levels(settings.service_levels_path)
        )
        demo = prepare(
            engine, now=datetime.now(UTC), seed=7, parcels=40, policy=policy, zone=settings.timezone
        )
        with engine.connect() as conn:
            values = {
                "tracking_number": list(conn.scalars(select(Parcel.tracking_number).limit(20))),
                "case_id": list(conn.scalars(select(Case.id).limit(20))),
                "courier_id": list(conn.scalars(select(Courier.code).limit(20))),
                "facility": list(conn.scalars(select(Facility.code).limit(20))),
            }
        assert all(values.values()), values  # the fuzzer is to meet real objects of each kind
        keys = {
            "ops": demo.keys["ops"],
            "courier": next(k for name, k in demo.keys.items() if name.startswith("courier ")),
            "merchant": demo.keys["merchant"],
        }
        server = LiveServer(
            url,
            folder / "instance",
            TRACKER_WORKERS="2",
            TRACKER_RATELIMIT_READ="100000/minute",
            TRACKER_RATELIMIT_WRITE="100000/minute",
            TRACKER_VERIFICATION_MAX_FAILURES="1000000",
            TRACKER_VERIFICATION_MAX_FAILURES_PER_CLIENT="1000000",
            # Webhook subscriptions are made and fuzzed (without a key they answer 503).
            TRACKER_WEBHOOK_SECRET_KEY="ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
        )
        yield Live(server.url, keys, values, settings.max_body_bytes)
    finally:
        if server is not None:
            server.stop()
        engine.dispose()
        drop_database(POSTGRES_URL, url)


def _config(live: Live) -> str:
    """schemathesis.toml: the dictionaries of real values, drawn half of the time."""
    lines = []
    for name, values in live.values.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name in live.values:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}')
    lines.append('"query.tracking_number" = { dictionary = "tracking_number", probability = 0.5 }')
    lines.append('"query.courier_id" = { dictionary = "courier_id", probability = 0.5 }')
    lines.append('"query.facility" = { dictionary = "facility", probability = 0.5 }')
    return "\n".join(lines) + "\n"


@dataclass
class Run:
    identity: str
    returncode: int
    output: str
    report: dict[str, Any]
    seconds: float
    drops: Counter[str]

    @property
    def operations(self) -> int:
        return int(self.report["operations"]["tested"])

    @property
    def cases(self) -> int:
        return int(self.report["test_cases"]["generated"])


def _fuzz(live: Live, identity: str, folder: Path) -> Run:
    config = folder / "schemathesis.toml"
    config.write_text(_config(live))
    drops = folder / "drops.txt"
    report = folder / "report.json"
    headers = ["-H", f"Authorization: Bearer {live.keys[identity]}"] if identity in live.keys else []
    command = [
        sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
        "--config-file", str(config), "--no-color",
        "run", f"{live.url}/openapi.json", *headers,
        "--checks", "all",
        "--max-response-time", str(MAX_RESPONSE_TIME_S),
        "--max-examples", str(MAX_EXAMPLES),
        "--max-time", str(MAX_TIME_S),
        "--seed", str(SEED),
        "--request-timeout", "30",
        # One worker: in two threads hypothesis' ast.parse of its own source trips CPython 3.11's
        # "AST constructor recursion depth mismatch" (a SystemError in the fuzzer, not the API).
        "--workers", "1",
        "--report", "json", "--report-json-path", str(report),
        "--warnings", "off",
    ]  # fmt: skip
    environ = {**os.environ, "SCHEMATHESIS_HOOKS": str(HOOKS), "FUZZ_DROPS": str(drops)}
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=folder, env=environ, capture_output=True, text=True, timeout=MAX_TIME_S + 120
    )
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    assert report.exists(), output
    names = drops.read_text().splitlines() if drops.exists() else []
    return Run(identity, done.returncode, output, json.loads(report.read_text()), seconds, Counter(names))


@pytest.mark.parametrize("identity", ["ops", "courier", "merchant", "nobody"])
def test_schemathesis_finds_nothing(live: Live, identity: str, tmp_path: Path) -> None:
    run = _fuzz(live, identity, tmp_path)

    print(
        f"\nschemathesis as {identity}: {run.operations} operations, {run.cases} cases,"
        f" {run.seconds:.1f} s wall (2 shared cores); recorded fuzzer mistakes dropped:"
        f" {dict(run.drops) or 'none'}"
    )
    assert run.returncode == 0, run.output
    assert run.operations >= 16, run.output  # every operation, each identity


def test_a_chunked_body_over_the_limit_is_a_413(live: Live) -> None:
    """Without a Content-Length werkzeug's stream stops at the limit silently; gunicorn
    passes a chunked body through, and the cut JSON used to answer 400 "malformed JSON"."""

    def chunks(total: int) -> Iterator[bytes]:
        yield b'{"events": ['
        sent = 0
        event = json.dumps({"event_id": "x", "note": "n" * 1000}).encode() + b","
        while sent < total:
            yield event
            sent += len(event)
        yield b"{}]}"

    headers = {"Authorization": f"Bearer {live.keys['ops']}", "Content-Type": "application/json"}
    too_big = requests.post(
        f"{live.url}/api/v1/scans", data=chunks(live.max_body_bytes + 1), headers=headers, timeout=30
    )
    small = requests.post(f"{live.url}/api/v1/scans", data=chunks(1000), headers=headers, timeout=30)

    assert too_big.status_code == 413, too_big.text
    assert too_big.json()["error"]["code"] == "payload_too_large"
    # A small chunked body is read whole: ops may not post scans (403), not a 400 or a 413.
    assert small.status_code == 403, small.text
