"""The Grafana dashboards query only what tracker exports or the rules record.

The helper that lists panel queries lives beside the dashboards
(deploy/grafana/queries.py) so that an integration test against a running
Prometheus can use it too; it is loaded here by path.
"""

import importlib.util
import re
import sys
from itertools import combinations
from pathlib import Path
from types import ModuleType

import pytest

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"


def load_queries_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tracker_grafana_queries", GRAFANA / "queries.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


queries = load_queries_module()

# The exporter's contract: metric names as the service exports them.
HISTOGRAMS = {
    "tracker_http_request_duration_seconds",
    "tracker_promise_slack_seconds",
    "tracker_sweep_duration_seconds",
    "tracker_route_solve_seconds",
}
EXPORTED = {
    "tracker_scans_total",
    "tracker_http_requests_total",
    "tracker_deliveries_total",
    "tracker_open_cases",
    "tracker_cases_opened_total",
    "tracker_parcels",
    "tracker_stale_parcels",
    "tracker_damage_reports_total",
    "tracker_sweep_last_success_timestamp_seconds",
    "tracker_route_solves_total",
    "tracker_route_objective_meters",
    "tracker_notifications_total",
    "tracker_notifications_pending",
    "tracker_notifications_oldest_pending_seconds",
    "up",
} | {f"{name}_{suffix}" for name in HISTOGRAMS for suffix in ("bucket", "sum", "count")}

RECORDED = set(queries.recording_rule_names())
DASHBOARDS = queries.load_dashboards()
DATASOURCE_UID = re.search(
    r"^\s*uid:\s*(\S+)", (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text(), re.M
).group(1)  # type: ignore[union-attr]

each_dashboard = pytest.mark.parametrize(
    "dashboard", list(DASHBOARDS.values()), ids=[p.name for p in DASHBOARDS]
)


def test_it_ships_dashboards_with_unique_uids():
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(uids) >= 2
    assert len(set(uids)) == len(uids)


def test_it_knows_the_recording_rules():
    assert "service_level:tracker_deliveries_on_time:ratio_rate1h" in RECORDED
    assert len(RECORDED) == len(set(RECORDED)) > 10


@each_dashboard
def test_it_gives_every_panel_a_unique_id(dashboard):
    ids = [panel["id"] for panel in queries.panels(dashboard)]
    assert len(ids) == len(set(ids))


@each_dashboard
def test_it_queries_known_metrics_or_recording_rules_in_every_panel(dashboard):
    for panel in queries.panels(dashboard):
        if panel["type"] == "row":
            continue
        exprs = [target.get("expr", "") for target in panel.get("targets", [])]
        assert exprs and all(exprs), f"panel {panel['title']!r} has no query"
        names = set().union(*(queries.metric_names(e) for e in exprs))
        assert names, f"panel {panel['title']!r} selects no metric"
        assert names <= EXPORTED | RECORDED, (
            f"panel {panel['title']!r} queries unknown {names - EXPORTED - RECORDED}"
        )


@each_dashboard
def test_it_reads_ratios_from_the_recording_rules(dashboard):
    # A ratio of these counters or gauges exists as a recording rule; a panel
    # dividing them itself would drift from what the alerts see.
    recorded_ratios = {
        "tracker_deliveries_total",
        "tracker_scans_total",
        "tracker_stale_parcels",
        "tracker_cases_opened_total",
    }
    for query in queries.panel_queries(dashboard):
        if "/" in query.expr:
            assert not queries.metric_names(query.expr) & recorded_ratios, query.title


@each_dashboard
def test_it_uses_the_provisioned_datasource_everywhere(dashboard):
    for panel in queries.panels(dashboard):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == DATASOURCE_UID, panel["title"]
    for query in queries.panel_queries(dashboard):
        assert query.datasource_uid == DATASOURCE_UID, query.title


@each_dashboard
def test_it_lays_panels_out_without_overlap(dashboard):
    boxes = [(p["title"], p["gridPos"]) for p in queries.panels(dashboard)]
    for title, box in boxes:
        assert box["x"] >= 0 and box["x"] + box["w"] <= 24, title
    for (a, p), (b, q) in combinations(boxes, 2):
        apart = (
            p["x"] + p["w"] <= q["x"]
            or q["x"] + q["w"] <= p["x"]
            or p["y"] + p["h"] <= q["y"]
            or q["y"] + q["h"] <= p["y"]
        )
        assert apart, f"{a!r} overlaps {b!r}"


def test_it_shows_every_metric_of_the_contract_somewhere():
    shown = set().union(
        *(queries.metric_names(q.expr) for d in DASHBOARDS.values() for q in queries.panel_queries(d))
    )
    histograms_shown = {name for name in HISTOGRAMS if f"{name}_bucket" in shown}
    assert histograms_shown == HISTOGRAMS
    assert {m for m in EXPORTED if not m.endswith(("_bucket", "_sum", "_count"))} <= shown


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            "service_level:tracker_deliveries_on_time:ratio_rate1h",
            {"service_level:tracker_deliveries_on_time:ratio_rate1h"},
        ),
        (
            'histogram_quantile(0.95, sum by (le, endpoint) (rate(tracker_http_request_duration_seconds_bucket{job="x"}[5m])))',
            {"tracker_http_request_duration_seconds_bucket"},
        ),
        (
            'sum by (type) (tracker_open_cases{type=~"sla_breach|at_risk"}) / on (type) group_left () up offset 1h',
            {"tracker_open_cases", "up"},
        ),
        (
            "time() - max(tracker_sweep_last_success_timestamp_seconds) > bool 1e3",
            {"tracker_sweep_last_success_timestamp_seconds"},
        ),
        ("rate(foo[$__rate_interval]) and bar unless baz", {"foo", "bar", "baz"}),
        ("vector(0.95)", set()),
    ],
)
def test_it_reads_metric_names_out_of_promql(expr, names):
    assert queries.metric_names(expr) == names
