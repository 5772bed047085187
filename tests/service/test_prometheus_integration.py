"""A real Prometheus scrapes a real tracker: every rule and every panel has data.

The test starts ``tracker serve`` (gunicorn, two workers, the in-process
sweep every 2 s) on a fresh database, and Debian's ``prometheus`` on
loopback with a 1 s scrape and evaluation interval and the project's rule
files. It feeds a simulated day through the scan API in batches spread over
several scrapes, so that counters move inside every rate window, then asks
Prometheus for every recording rule and every dashboard panel query.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT
from tests.live import LiveServer, free_port
from tracker.core import migrate
from tracker.core.db import make_engine, write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.scans.directory import load_network
from tracker.sim.simulator import simulate_day

pytestmark = [pytest.mark.promtool, pytest.mark.slow]

PROMETHEUS = shutil.which("prometheus")


def _queries() -> Any:
    spec = importlib.util.spec_from_file_location(
        "grafana_queries", ROOT / "deploy" / "grafana" / "queries.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["grafana_queries"] = module
    spec.loader.exec_module(module)
    return module


class Prometheus:
    def __init__(self, folder: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        rules = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files:\n" + "".join(f"  - {r}\n" for r in rules) +
            f"scrape_configs:\n  - job_name: tracker\n    static_configs:\n      - targets: ['{target}']\n"
        )  # fmt: skip
        self.log = folder / "prometheus.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [PROMETHEUS or "prometheus", f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"prometheus did not start: {self.log.read_text()[-2000:]}")

    def query(self, expr: str) -> list[Any]:
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", (expr, answer)
        return list(answer["data"]["result"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if PROMETHEUS is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    url = f"sqlite:///{tmp_path / 'tracker.core.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    now = datetime.now(UTC)
    day = simulate_day(now, seed=5, parcels=300)
    with write_transaction(engine) as conn:
        load_network(conn, day.network.facilities, day.network.couriers)
        key = create_key(conn, Role.ADMIN, now=now)
    engine.dispose()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    server = LiveServer(url, tmp_path / "instance", TRACKER_SWEEP_INTERVAL="2", TRACKER_WORKERS="2")
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{server.port}")
    yield server, prometheus, key, day
    prometheus.stop()
    server.stop()


def test_it_gives_every_recording_rule_and_dashboard_panel_data(stack: Any) -> None:
    server, prometheus, key, day = stack
    headers = {"Authorization": f"Bearer {key}"}
    for body in day.parcels:
        assert requests.post(f"{server.url}/api/v1/parcels", json=body, headers=headers, timeout=10).ok
    batches = [day.events[i : i + 150] for i in range(0, len(day.events), 150)]
    for batch in batches:
        answer = requests.post(
            f"{server.url}/api/v1/scans", json={"events": batch}, headers=headers, timeout=30
        )
        assert answer.status_code == 200 and answer.json()["rejected"] == 0
        time.sleep(1.0)  # one scrape per batch: rates move inside every window
    # A station plans its day: route solve metrics and the plan's distance.
    station = next(f.code for f in day.network.facilities if f.kind == "delivery_station")
    planned = requests.post(f"{server.url}/api/v1/facilities/{station}/routes", json={"time_limit_s": 2},
                            headers=headers, timeout=60)  # fmt: skip
    assert planned.status_code in (200, 201), planned.text
    time.sleep(5)  # a few more scrapes and rule evaluations

    queries = _queries()
    missing = [name for name in queries.recording_rule_names() if not prometheus.query(name)]
    panel_queries = [q for board in queries.load_dashboards().values() for q in queries.panel_queries(board)]
    assert panel_queries
    missing += [f"{q.dashboard}/{q.title}: {q.expr}" for q in panel_queries if not prometheus.query(q.expr)]
    assert not missing, "no data for:\n" + "\n".join(missing)
