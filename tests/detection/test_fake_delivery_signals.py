"""Each single-parcel signal on its own: when it fires, when it stays quiet.

Every test starts from an honest delivery (which scores nothing) and changes
one thing, so a reason appearing or not is caused by that one change.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.detection.facts import (
    EventFact,
    FacilityFact,
    FacilityKind,
    GeoPoint,
    ParcelFact,
    ProofOfDelivery,
)
from tracker.detection.fake_delivery import Code, Verdict, score_delivery


def score(kit, delivered, parcel=None, events=None, **kwargs) -> Verdict:
    parcel = parcel or kit.parcel()
    events = kit.to_the_door() if events is None else events
    return score_delivery(delivered, parcel, [*events, delivered], **kwargs)


def test_it_finds_nothing_wrong_with_an_honest_delivery(kit):
    verdict = score(kit, kit.delivered())

    assert verdict.reasons == ()
    assert verdict.score == 0
    assert not verdict.suspected


# --- GPS against the address -------------------------------------------------


def test_it_stays_quiet_when_a_city_fix_is_80_m_off_with_30_m_accuracy(kit):
    verdict = score(kit, kit.delivered(point=kit.moved(kit.home, north=60, east=50), accuracy=30))

    assert not verdict.codes & {Code.GPS_FAR, Code.GPS_OFF}


def test_it_flags_a_sharp_fix_two_km_from_the_address_as_suspected(kit):
    verdict = score(kit, kit.delivered(point=kit.moved(kit.home, north=2000), accuracy=10))

    assert Code.GPS_FAR in verdict.codes
    assert verdict.suspected


def test_it_calls_a_fix_a_few_hundred_metres_off_only_moderate_evidence(kit):
    verdict = score(kit, kit.delivered(point=kit.moved(kit.home, east=600), accuracy=10))

    assert verdict.codes == {Code.GPS_OFF}
    assert not verdict.suspected


def test_it_forgives_a_distance_that_the_reported_accuracy_explains(kit):
    sharp = score(kit, kit.delivered(point=kit.moved(kit.home, north=450), accuracy=10))
    coarse = score(kit, kit.delivered(point=kit.moved(kit.home, north=450), accuracy=150))

    assert Code.GPS_OFF in sharp.codes
    assert not coarse.codes & {Code.GPS_FAR, Code.GPS_OFF}


def test_it_treats_a_cell_tower_fix_as_no_fix_rather_than_as_far_away(kit):
    verdict = score(kit, kit.delivered(point=kit.moved(kit.home, north=1500), accuracy=2000))

    assert verdict.codes == {Code.NO_GPS}
    assert not verdict.suspected


def test_it_notes_a_delivered_scan_without_gps_as_a_weak_trace_only(kit):
    verdict = score(kit, kit.delivered(gps=False))

    assert verdict.codes == {Code.NO_GPS}
    assert not verdict.suspected


def test_it_judges_a_collected_scan_against_the_pickup_point_not_the_home(kit):
    parcel = kit.parcel(pickup_point="PP-0042", pickup=kit.pickup, home=kit.moved(kit.home, north=3000))
    events = [
        *kit.to_the_door(),
        kit.scan("ready_for_pickup", "15:00", facility="PP-0042", facility_kind=FacilityKind.PICKUP_POINT),
    ]
    collected = kit.scan(
        "collected",
        "18:30",
        point=kit.moved(kit.pickup, east=20),
        accuracy=15,
        facility="PP-0042",
        facility_kind=FacilityKind.PICKUP_POINT,
        pod=kit.pod(otp="4821"),
    )

    verdict = score(kit, collected, parcel, events)

    assert verdict.reasons == ()


def test_it_flags_a_collected_scan_made_far_from_the_pickup_point(kit):
    parcel = kit.parcel(pickup_point="PP-0042", pickup=kit.pickup)
    events = [*kit.to_the_door(), kit.scan("ready_for_pickup", "15:00", facility="PP-0042")]
    # At the customer's home: a pickup point cannot hand over there.
    collected = kit.scan(
        "collected", "18:30", point=kit.moved(kit.pickup, north=2500), accuracy=10, pod=kit.pod()
    )

    assert Code.GPS_FAR in score(kit, collected, parcel, events).codes


def test_it_judges_a_drop_at_another_pickup_point_against_that_pickup_point(kit):
    # The parcel was addressed to the door; the courier left it at a pickup point nearby.
    other_pickup = kit.moved(kit.home, north=-1600)
    drop = kit.delivered(
        point=other_pickup,
        accuracy=10,
        facility="PP-0099",
        facility_kind=FacilityKind.PICKUP_POINT,
        pod=kit.pod("reception", signed_by="PP staff", otp=None),
    )
    known = [FacilityFact("PP-0099", "pickup_point", other_pickup.lat, other_pickup.lon)]

    verdict = score(kit, drop, facilities=known)

    assert verdict.reasons == ()


@settings(max_examples=60, deadline=None)
@given(
    accuracy=st.floats(min_value=3, max_value=200),
    bearing=st.floats(min_value=0, max_value=359),
    share=st.floats(min_value=0, max_value=0.99),
)
def test_it_never_flags_a_fix_within_the_noise_its_accuracy_allows(accuracy, bearing, share):
    home = GeoPoint(31.2304, 121.4737)
    # Anywhere inside twice the reported accuracy plus the address radius.
    reach = share * (200 + 2 * accuracy)
    spot = geodesic(meters=reach).destination((home.lat, home.lon), bearing)
    scan = EventFact(
        "e1",
        "TRK1",
        "delivered",
        datetime(2026, 11, 20, 15, 2, tzinfo=timezone(timedelta(hours=8))),
        lat=spot.latitude,
        lon=spot.longitude,
        accuracy_m=accuracy,
        courier_id="C-1",
        pod=ProofOfDelivery("Li Wei", "self", None, "4821"),
    )
    parcel = ParcelFact("TRK1", home.lat, home.lon, expected_otp="4821")

    verdict = score_delivery(scan, parcel)

    assert not verdict.codes & {Code.GPS_FAR, Code.GPS_OFF}


# --- proof of delivery ------------------------------------------------------------


def test_it_notes_a_handover_with_no_signature_photo_or_code_without_opening_a_case(kit):
    verdict = score(kit, kit.delivered(pod=None))

    assert verdict.codes == {Code.NO_POD}
    assert not verdict.suspected


def test_it_does_not_count_a_missing_photo_when_there_is_a_signature(kit):
    verdict = score(kit, kit.delivered(pod=kit.pod(photo=False)))

    assert verdict.reasons == ()


def test_it_flags_a_one_time_code_that_does_not_match_but_not_as_a_case_alone(kit):
    verdict = score(kit, kit.delivered(pod=kit.pod(otp="0000")))

    assert verdict.codes == {Code.OTP_MISMATCH}
    assert not verdict.suspected


def test_it_accepts_a_code_with_surrounding_whitespace(kit):
    assert score(kit, kit.delivered(pod=kit.pod(otp=" 4821 "))).reasons == ()


def test_it_notes_a_missing_code_only_weakly_when_a_family_member_signed(kit):
    verdict = score(kit, kit.delivered(pod=kit.pod("family", signed_by="Li Na", otp=None)))

    assert verdict.codes == {Code.OTP_MISSING}
    assert not verdict.suspected


def test_it_does_not_expect_a_code_from_a_locker(kit):
    verdict = score(kit, kit.delivered(pod=kit.pod("locker", signed_by="locker 12", otp=None)))

    assert verdict.reasons == ()


def test_it_does_not_expect_a_code_for_parcels_without_one(kit):
    verdict = score(kit, kit.delivered(pod=kit.pod(otp=None)), kit.parcel(otp=None))

    assert verdict.reasons == ()


# --- the last-mile step before the handover -------------------------------------------


def test_it_notes_a_delivery_without_out_for_delivery(kit):
    events = kit.to_the_door()[:-1]

    verdict = score(kit, kit.delivered(), events=events)

    assert verdict.codes == {Code.NO_OUT_FOR_DELIVERY}
    assert not verdict.suspected


def test_it_wants_a_new_out_for_delivery_after_the_parcel_came_back_to_the_station(kit):
    events = [
        *kit.to_the_door(),
        kit.scan("delivery_failed", "15:00", courier_id="C-1", reason="no_one_home"),
        kit.scan("arrived", "19:00", facility="ST-SH-07", facility_kind=FacilityKind.DELIVERY_STATION),
    ]

    verdict = score(kit, kit.delivered(kit.at("10:15", day=1)), events=events)

    assert Code.NO_OUT_FOR_DELIVERY in verdict.codes


def test_it_notes_a_collection_of_a_parcel_that_never_reached_the_pickup_point(kit):
    parcel = kit.parcel(pickup_point="PP-0042", pickup=kit.pickup)
    collected = kit.scan(
        "collected", "18:30", point=kit.pickup, accuracy=10, facility="PP-0042", pod=kit.pod()
    )

    verdict = score(kit, collected, parcel, kit.to_the_door()[:-1])

    assert verdict.codes == {Code.NOT_READY_FOR_PICKUP}


# --- scanned at a facility ---------------------------------------------------------------


def test_it_flags_a_delivered_scan_whose_fix_is_at_the_station(kit):
    delivered = kit.delivered(point=kit.moved(kit.station, north=30), accuracy=15)

    verdict = score(
        kit,
        delivered,
        facilities=[FacilityFact("ST-SH-07", "delivery_station", kit.station.lat, kit.station.lon)],
    )

    assert Code.AT_FACILITY in verdict.codes
    assert verdict.suspected


def test_it_flags_a_scan_whose_only_location_is_a_station(kit):
    delivered = kit.delivered(gps=False, facility="ST-SH-07", facility_kind=FacilityKind.DELIVERY_STATION)

    verdict = score(kit, delivered)

    assert Code.AT_FACILITY in verdict.codes


def test_it_ignores_the_home_station_code_on_a_courier_scan_made_at_the_door(kit):
    # The shape of the API sketch's example: station code plus a fix at the address.
    delivered = kit.delivered(facility="ST-SH-07", facility_kind=FacilityKind.DELIVERY_STATION)

    verdict = score(
        kit,
        delivered,
        facilities=[FacilityFact("ST-SH-07", "delivery_station", kit.station.lat, kit.station.lon)],
    )

    assert verdict.reasons == ()


def test_it_does_not_mind_a_station_next_door_to_the_address(kit):
    next_door = kit.moved(kit.home, east=90)

    verdict = score(
        kit,
        kit.delivered(),
        facilities=[FacilityFact("ST-SH-09", "delivery_station", next_door.lat, next_door.lon)],
    )

    assert verdict.reasons == ()


# --- scans after the handover ------------------------------------------------------------------


def test_it_flags_a_parcel_scanned_back_at_the_station_after_delivery(kit):
    delivered = kit.delivered()
    back = kit.scan("arrived", "19:40", facility="ST-SH-07", facility_kind=FacilityKind.DELIVERY_STATION)

    verdict = score(kit, delivered, events=[*kit.to_the_door(), back])

    assert Code.AFTER_DELIVERY in verdict.codes
    assert verdict.suspected


@pytest.mark.parametrize("type", ["out_for_delivery", "delivery_failed", "departed"])
def test_it_flags_other_network_scans_after_delivery(kit, type):
    later = kit.scan(type, "10:00", courier_id="C-1", facility="ST-SH-07")
    later = replace(later, occurred_at=kit.at("10:00", day=1))

    verdict = score(kit, kit.delivered(), events=[*kit.to_the_door(), later])

    assert Code.AFTER_DELIVERY in verdict.codes


def test_it_allows_a_scan_a_minute_later_for_clock_drift(kit):
    late_ofd = kit.scan("out_for_delivery", "15:03", courier_id="C-1")

    verdict = score(kit, kit.delivered("15:02"), events=[*kit.to_the_door(), late_ofd])

    assert Code.AFTER_DELIVERY not in verdict.codes


def test_it_ignores_a_damage_report_scan_after_delivery(kit):
    later = kit.scan("damaged", "17:00", courier_id="C-1", damage=None)

    assert score(kit, kit.delivered(), events=[*kit.to_the_door(), later]).reasons == ()


# --- the customer -------------------------------------------------------------------------


def test_it_notes_not_received_without_opening_a_case_on_it_alone(kit):
    parcel = kit.parcel(reports=(("not_received", kit.at("20:00")),))

    verdict = score(kit, kit.delivered(), parcel)

    assert verdict.codes == {Code.NOT_RECEIVED}
    assert not verdict.suspected


def test_it_ignores_a_not_received_report_made_before_the_delivery(kit):
    parcel = kit.parcel(reports=(("not_received", kit.at("12:00")),))

    assert score(kit, kit.delivered(), parcel).reasons == ()


def test_it_ignores_late_and_damaged_reports(kit):
    parcel = kit.parcel(reports=(("late", kit.at("20:00")), ("damaged", kit.at("20:05"))))

    assert score(kit, kit.delivered(), parcel).reasons == ()
