"""A real Prometheus for the integration tests, and what they check with it.

Shared by ``tests/service/test_prometheus_integration.py`` (one ``tracker
serve``) and ``tests/service/test_topology.py`` (two web instances and a
separate ``tracker sweep``):

* :class:`Prometheus` runs Debian's ``prometheus`` on loopback with a 1 s
  scrape and evaluation interval, the project's rule files
  (``deploy/prometheus/rules``) and the jobs it is given (``tracker``,
  ``tracker-sweeper``: the names ``deploy/prometheus/prometheus.yml`` uses);
* :func:`feed` sends a simulated day through the registration and scan API
  of one or several instances, in batches spread over several scrapes, so
  that counters move inside every rate window; :func:`plan_stations` plans
  routes;
* :func:`unanswered` asks Prometheus for every recording rule and every
  Grafana panel query (``deploy/grafana/queries.py``) and lists those that
  answer nothing, or NaN.
"""

from __future__ import annotations

import importlib.util
import math
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests

from tests.conftest import ROOT
from tests.live import free_port

PROMETHEUS = shutil.which("prometheus")


def grafana_queries() -> Any:
    """``deploy/grafana/queries.py``, loaded by path (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location(
        "grafana_queries", ROOT / "deploy" / "grafana" / "queries.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["grafana_queries"] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


class Prometheus:
    """``prometheus`` on a free loopback port, scraping ``jobs`` (job name -> ``host:port`` targets)."""

    def __init__(self, folder: Path, jobs: Mapping[str, Sequence[str]]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        rules = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
        scrape = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: [{', '.join(repr(t) for t in targets)}]\n"
            for job, targets in jobs.items()
        )
        config = folder / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "rule_files:\n" + "".join(f"  - {r}\n" for r in rules) + "scrape_configs:\n" + scrape
        )
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

    def value(self, expr: str) -> float:
        """The single number ``expr`` answers (NaN when it answers nothing)."""
        result = self.query(expr)
        assert len(result) <= 1, (expr, result)
        return float(result[0]["value"][1]) if result else math.nan

    def targets_up(self) -> dict[str, list[float]]:
        """Whether each target was scraped in the last minute, by job (1: yes).

        Over a minute, not now: with a 1 s scrape the timeout is 1 s too, and
        one slow scrape on a busy machine is no failure of the topology.
        """
        found: dict[str, list[float]] = {}
        for series in self.query("max_over_time(up[1m])"):
            found.setdefault(series["metric"]["job"], []).append(float(series["value"][1]))
        return found

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def panel_expr(title: str) -> str:
    """The query of the one dashboard panel called ``title``."""
    queries = grafana_queries()
    (expr,) = [
        q.expr
        for board in queries.load_dashboards().values()
        for q in queries.panel_queries(board)
        if q.title == title
    ]
    return str(expr)


def unanswered(prometheus: Prometheus) -> list[str]:
    """Every recording rule and dashboard panel query answering nothing, or NaN for some series."""
    queries = grafana_queries()
    exprs = [(name, name) for name in queries.recording_rule_names()]
    panel_queries = [q for board in queries.load_dashboards().values() for q in queries.panel_queries(board)]
    assert panel_queries
    exprs += [(f"{q.dashboard}/{q.title}", q.expr) for q in panel_queries]
    problems = []
    for where, expr in exprs:
        result = prometheus.query(expr)
        nan = [series["metric"] for series in result if math.isnan(float(series["value"][1]))]
        if not result:
            problems.append(f"no data: {where}: {expr}")
        elif nan:
            problems.append(f"NaN for {nan}: {where}: {expr}")
    return problems


@dataclass
class Fed:
    """What :func:`feed` sent and what the instances answered, summed over them."""

    parcels: int = 0  # parcels registered (each through every instance)
    events: int = 0  # distinct events sent (each to every instance)
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches: int = 0


def _register(urls: Sequence[str], headers: Mapping[str, str], parcels: Sequence[dict[str, Any]]) -> None:
    """Register parcels through every instance (registration is idempotent), four requests at a time."""

    def post(job: tuple[str, dict[str, Any]]) -> int:
        url, body = job
        return requests.post(f"{url}/api/v1/parcels", json=body, headers=headers, timeout=30).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = set(pool.map(post, [(url, body) for body in parcels for url in urls]))
    assert statuses <= {200, 201}, sorted(statuses)


def feed(
    urls: Sequence[str], headers: Mapping[str, str], day: Any, *, batch: int = 150, pause: float = 1.0
) -> Fed:
    """Send a simulated day in batches, each batch to every instance at once, ``pause`` seconds apart.

    Before each batch, the parcels it is the first to scan are registered
    (through every instance, at once), as merchants register parcels through
    the day, and after it every instance's ``/readyz`` is asked: every
    endpoint the dashboards break down keeps moving inside the rate windows
    (the latency quantile of an endpoint idle for the whole window is NaN).
    Sending a batch to several instances at the same moment makes them race
    to store the same ``event_id`` s: each must be stored once, accepted by
    one instance and a duplicate for the others.
    """
    events: Sequence[dict[str, Any]] = day.events
    fed = Fed(parcels=len(day.parcels), events=len({e["event_id"] for e in events}))
    unregistered = {body["tracking_number"]: body for body in day.parcels}

    def post(job: tuple[str, Sequence[dict[str, Any]]]) -> dict[str, int]:
        url, chunk = job
        answer = requests.post(
            f"{url}/api/v1/scans", json={"events": list(chunk)}, headers=headers, timeout=60
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    with ThreadPoolExecutor(max(len(urls), 1)) as pool:
        for start in range(0, len(events), batch):
            chunk = events[start : start + batch]
            due = {e["tracking_number"] for e in chunk} & set(unregistered)
            _register(urls, headers, [unregistered.pop(tn) for tn in sorted(due)])
            for answer in pool.map(post, [(url, chunk) for url in urls]):
                fed.accepted += answer["accepted"]
                fed.duplicates += answer["duplicates"]
                fed.rejected += answer["rejected"]
            fed.batches += 1
            for url in urls:  # as a load balancer would: the readiness probe's series moves too
                assert requests.get(f"{url}/readyz", timeout=10).status_code == 200
            time.sleep(pause)  # one scrape per batch: rates move inside every window
    _register(urls, headers, list(unregistered.values()))  # parcels never scanned
    return fed


def plan_stations(url: str, headers: Mapping[str, str], day: Any, *, stations: int = 2) -> None:
    """Stations plan their day: route solve metrics and the plan's distance.

    Two plans, a few scrapes apart: one solve alone would leave the route
    endpoint's latency series flat inside every window (its quantile NaN).
    """
    codes = [f.code for f in day.network.facilities if f.kind == "delivery_station"][:stations]
    # Tomorrow's day: today's default shift (08:00-20:00 in Shanghai) is over
    # when the suite runs late in the evening there, and a plan is refused.
    tomorrow = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date().isoformat()
    for station in codes:
        planned = requests.post(f"{url}/api/v1/facilities/{station}/routes",
                                json={"time_limit_s": 1, "date": tomorrow},
                                headers=headers, timeout=60)  # fmt: skip
        assert planned.status_code in (200, 201), planned.text
        time.sleep(2.5)
