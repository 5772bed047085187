"""The labelled scenario the evaluation runs on is what its docstring promises."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from tracker.core.geo import Point, geodesic_m
from tracker.sim.scenarios import FAKE_PATTERNS, HARD_CASES, build_scenario

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def scenario():  # type: ignore[no-untyped-def]
    return build_scenario(NOW, parcels=6000, days=1)


def test_it_plants_every_fake_pattern_and_every_honest_hard_case(scenario) -> None:  # type: ignore[no-untyped-def]
    labels = scenario.labels
    assert set(labels.fake.values()) == set(FAKE_PATTERNS)
    assert all(any(case in cases for cases in labels.hard.values()) for case in HARD_CASES)
    assert not set(labels.fake) & set(labels.hard)
    assert 0.01 < len(labels.fake) / len(labels.handed_over) < 0.03


def test_it_keeps_every_scan_in_the_past_and_every_event_id_unique(scenario) -> None:  # type: ignore[no-untyped-def]
    ids = [e["event_id"] for e in scenario.events]
    assert len(ids) == len(set(ids))
    assert max(datetime.fromisoformat(e["occurred_at"]) for e in scenario.events) <= NOW


def test_it_moves_honest_couriers_no_faster_than_an_ebike(scenario) -> None:  # type: ignore[no-untyped-def]
    fakes = set(scenario.labels.fake)
    by_courier = defaultdict(list)
    for e in scenario.events:
        if e.get("courier_id") and "lat" in e and e["tracking_number"] not in fakes:
            by_courier[e["courier_id"]].append(e)
    fastest = 0.0
    for scans in by_courier.values():
        scans.sort(key=lambda e: e["occurred_at"])
        for a, b in pairwise(scans):
            seconds = (
                datetime.fromisoformat(b["occurred_at"]) - datetime.fromisoformat(a["occurred_at"])
            ).total_seconds()
            metres = geodesic_m(Point(a["lat"], a["lon"]), Point(b["lat"], b["lon"]))
            beyond_error = max(0.0, metres - 2 * a["accuracy_m"] - 2 * b["accuracy_m"] - 500)
            fastest = max(fastest, beyond_error / max(seconds, 30) * 3.6)
    assert fastest < 60


def test_it_builds_the_same_scenario_from_the_same_seed() -> None:
    first, second = build_scenario(NOW, parcels=300, days=1), build_scenario(NOW, parcels=300, days=1)
    assert first.events == second.events and first.labels == second.labels
