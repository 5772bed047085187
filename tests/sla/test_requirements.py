"""Every shipped service level says what a registration must carry for its promise (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from tracker.scans import promises
from tracker.scans.timeline import ParcelState
from tracker.sla import load_service_levels


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
