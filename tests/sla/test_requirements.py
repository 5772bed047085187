"""Every shipped service level says what a registration must carry for its promise (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from tracker.scans import promises
from tracker.scans.timeline import ParcelState
from tracker.sla import Place, load_service_levels


def test_each_shipped_level_names_the_fields_its_promise_needs() -> None:
    levels = load_service_levels()
    needs = {name: set(level.requirements()) for name, level in levels.items()}

    region = {"origin_facility", "destination.region", "destination.city"}
    assert needs == {
        # Transit days the same everywhere: where the parcel goes does not change the promise.
        "211": set(),
        # Remote areas take two days more: the journey decides.
        "next_day": region,
        "standard": region,
        # The clock starts at the order.
        "group_buy": {"ordered_at"},
    }


def test_a_level_that_needs_no_destination_promises_without_one() -> None:
    levels = load_service_levels()
    outbound = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    journey = promises.Journey(service_level="211", ordered_at=None, origin=None, destination=None)
    state = ParcelState(outbound_at=outbound)

    assert promises.promise(levels, journey, state) == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    # standard needs the journey's ends: no destination, no promise (registration refuses that).
    journey = promises.Journey(service_level="standard", ordered_at=None, origin=None, destination=None)
    assert promises.promise(levels, journey, state) is None


def test_ingest_skips_the_journey_only_where_the_promise_is_none_whatever_it_is() -> None:
    # promises.not_started lets ingest answer "no promise yet" without building the
    # journey: it may say so only where promise() says so for every journey.
    levels = load_service_levels()
    at = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    shanghai = Place(province="CN-31", city="上海")
    journeys = [
        promises.Journey(name, ordered, origin, destination)
        for name in [*levels, "unknown", None]
        for ordered in (None, at)
        for origin in (None, shanghai)
        for destination in (None, shanghai)
    ]
    states = [ParcelState(first_event_at=f, outbound_at=o) for f in (None, at) for o in (None, at)]

    skipped = 0
    for journey in journeys:
        for state in states:
            if promises.not_started(levels, journey.service_level, state):
                skipped += 1
                assert promises.promise(levels, journey, state) is None, (journey, state)
    # It does skip: each level's parcels before its clock starts (outbound, first scan).
    assert {
        j.service_level for j in journeys if promises.not_started(levels, j.service_level, states[0])
    } == {
        *(name for name, level in levels.items() if level.clock_starts_at != "ordered"),
        "unknown",
        None,
    }
    assert skipped > len(journeys)
