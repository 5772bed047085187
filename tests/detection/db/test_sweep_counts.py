"""The sweep counts the cases its detectors open: report, ``tracker sweep`` output and metrics agree.

One sweep with the production detectors (:data:`tracker.sweep.detectors.DETECTORS`)
over parcels whose scans call for a suspected fake delivery and a damage case.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import func, select

from tests.detection.db.conftest import World
from tracker.core.models import Case
from tracker.sweep.detectors import DETECTORS
from tracker.sweep.run import sweep

CRUSHED = {"severity": "major", "description": "外箱压扁"}


def opened_metric(case_type: str) -> float:
    return REGISTRY.get_sample_value("tracker_cases_opened_total", {"type": case_type}) or 0.0


def sweeps_observed() -> float:
    return REGISTRY.get_sample_value("tracker_sweep_duration_seconds_count") or 0.0


def test_one_sweep_reports_the_cases_its_detectors_opened(world: World, app: Any) -> None:
    # No out_for_delivery scan, no position, no proof of delivery: a suspected fake delivery.
    world.register("TRKCOUNTF1")
    world.post(
        *world.to_the_station("TRKCOUNTF1", ofd=False), world.delivered("TRKCOUNTF1", point=None, pod=None)
    )
    world.register("TRKCOUNTD1")
    world.post(
        *world.to_the_station("TRKCOUNTD1")[:3],
        world.scan("TRKCOUNTD1", "damaged", 6.8, facility="SC-SH-01", damage=CRUSHED),
    )
    before = {t: opened_metric(t) for t in ("suspected_fake_delivery", "damage")}
    sweeps_before = sweeps_observed()
    rt = app.extensions["tracker"]

    report = sweep(
        world.engine, now=world.clock(), policy=rt.ingest, zone=rt.settings.timezone, detectors=DETECTORS
    )

    assert [c.type for c in world.cases("TRKCOUNTF1")] == ["suspected_fake_delivery"]
    assert "damage" in {c.type for c in world.cases("TRKCOUNTD1")}
    with world.engine.connect() as conn:
        stored = conn.scalar(select(func.count()).select_from(Case))
    # Every case in the (empty before) database was opened by this sweep, the SLA rules' and the detectors'.
    assert report.opened == stored >= 2
    assert report.to_dict()["cases_opened"] == stored
    assert {t: opened_metric(t) - before[t] for t in before} == {"suspected_fake_delivery": 1, "damage": 1}
    assert sweeps_observed() - sweeps_before == 1
