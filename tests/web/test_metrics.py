"""/metrics: right across gunicorn workers, bounded labels, state from the database."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import requests

from tests.conftest import T0, Personas
from tests.helpers import at, journey, registration
from tests.live import LiveServer
from tracker.core.db import write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.scans.directory import load_network
from tracker.sim.simulator import build_network


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in an exposition, 0 when absent."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_it_never_labels_a_metric_with_a_tracking_number_courier_or_customer(personas: Personas) -> None:
    personas.merchant.post("/api/v1/parcels", json=registration("TRKM000001"))
    personas.admin.post("/api/v1/scans", json={"events": journey("TRKM000001", T0 - timedelta(hours=7))})
    personas.ops.get("/api/v1/parcels/TRKM000001")

    text = personas.anonymous.get("/metrics").get_data(as_text=True)

    labels = re.findall(r'(\w+)="([^"]*)"', text)
    assert labels, "expected labelled samples"
    values = {v for _, v in labels}
    assert not [v for v in values if "TRK" in v or v.startswith("C-") or "1380000" in v]
    ours = {
        "type",
        "source",
        "result",
        "endpoint",
        "method",
        "status",
        "le",
        "service_level",
        "region_class",
        "outcome",
        "channel",
        "kind",
        "target",
        "reason",
        "replica",
    }  # fmt: skip (kind: a complaint's or a notification's; target, reason, replica: tracker.core.replicas)
    python_runtime = {"implementation", "major", "minor", "patchlevel", "version", "generation"}
    assert {k for k, _ in labels} <= ours | python_runtime


def test_a_made_up_http_method_starts_no_series_of_its_own(personas: Personas) -> None:
    client = personas.anonymous
    for method in ("FOOBAR", "ZZZ1", "QQQQQ"):
        assert client.open("/healthz", method=method).status_code == 405
    text = client.get("/metrics").get_data(as_text=True)
    methods = set(re.findall(r'^tracker_http_requests_total\{[^}]*method="([^"]*)"', text, re.M))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert (
        sample(text, "tracker_http_requests_total", endpoint="unmatched", method="other", status="405") >= 3
    )


def test_it_reports_parcels_by_status_and_open_cases_from_the_database(personas: Personas) -> None:
    personas.admin.post("/api/v1/scans", json={"events": journey("TRKM000002", T0 - timedelta(hours=7))[:3]})

    text = personas.anonymous.get("/metrics").get_data(as_text=True)

    assert sample(text, "tracker_parcels", status="in_transit") == 1
    assert sample(text, "tracker_open_cases", type="stale") == 0


@pytest.mark.slow
@pytest.mark.committing  # a live server reads what the test wrote
def test_it_sums_counters_over_every_gunicorn_worker(database_url: str, engine: Any, tmp_path: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    network = build_network()
    with write_transaction(engine) as conn:
        load_network(conn, network.facilities, network.couriers)
        key = create_key(conn, Role.ADMIN, now=T0)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    server = LiveServer(database_url, tmp_path / "instance", TRACKER_WORKERS="3")
    try:
        headers = {"Authorization": f"Bearer {key}"}
        for n in range(60):  # a new connection each time: the kernel spreads them over workers
            event = {"event_id": f"m-{n}", "tracking_number": f"TRKW{n:06d}", "type": "arrived",
                     "occurred_at": at(T0 - timedelta(hours=1)), "facility": "SC-SH-01"}  # fmt: skip
            assert requests.post(f"{server.url}/api/v1/scans", json=event, headers=headers, timeout=10).ok
        text = requests.get(f"{server.url}/metrics", timeout=10).text
    finally:
        server.stop()

    assert sample(text, "tracker_scans_total", type="arrived", source="admin", result="accepted") == 60
    assert sample(text, "tracker_http_requests_total", endpoint="scans.post_scans", status="201") == 60
