"""The facts refuse malformed rows instead of skewing a score."""

from __future__ import annotations

from datetime import datetime

import pytest

from tracker.detection.facts import (
    CourierContext,
    CustomerReport,
    EventFact,
    EventType,
    FacilityKind,
    ParcelFact,
    chronological,
)


def test_it_rejects_a_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        EventFact("e1", "TRK1", EventType.ARRIVED, datetime(2026, 11, 20, 9, 0))


def test_it_rejects_a_naive_report_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        CustomerReport("not_received", datetime(2026, 11, 20, 9, 0))


def test_it_rejects_half_a_coordinate_pair(kit):
    with pytest.raises(ValueError, match="both"):
        EventFact("e1", "TRK1", "arrived", kit.at("09:00"), lat=31.2)
    with pytest.raises(ValueError, match="both"):
        ParcelFact("TRK1", destination_lat=31.2)


def test_it_rejects_an_unknown_event_type(kit):
    with pytest.raises(ValueError):
        EventFact("e1", "TRK1", "teleported", kit.at("09:00"))


def test_it_turns_plain_strings_from_rows_into_enums(kit):
    event = EventFact("e1", "TRK1", "arrived", kit.at("09:00"), facility_kind="pickup_point")

    assert event.type is EventType.ARRIVED
    assert event.facility_kind is FacilityKind.PICKUP_POINT


def test_it_hands_over_at_the_pickup_point_when_the_parcel_has_one(kit):
    to_pickup = kit.parcel(pickup_point="PP-0042", pickup=kit.pickup)

    assert to_pickup.handover_point == kit.pickup
    assert kit.parcel().handover_point == kit.home


def test_it_builds_a_courier_context_with_handover_points(kit):
    to_pickup = kit.parcel("TRK1", pickup_point="PP-0042", pickup=kit.pickup)
    to_door = kit.parcel("TRK2")

    context = CourierContext.from_parcels("C-1", [], [to_pickup, to_door])

    assert context.destinations == {"TRK1": kit.pickup, "TRK2": kit.home}


def test_it_orders_events_by_when_they_happened_then_by_id(kit):
    late = EventFact("a", "TRK1", "delivered", kit.at("15:00"))
    early = EventFact("z", "TRK1", "arrived", kit.at("09:00"))
    tie = EventFact("b", "TRK1", "out_for_delivery", kit.at("15:00"))

    assert [e.event_id for e in chronological([late, tie, early])] == ["z", "a", "b"]
