"""Cross-parcel signals from the courier's day: bulk signing and impossible travel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tracker.detection.facts import CourierContext, FacilityKind
from tracker.detection.fake_delivery import Code, score_delivery

#: Offsets (north, east) in metres from the kit's home: a round spread over a district.
SPREAD = [(0, 0), (800, 0), (0, 900), (-700, -600), (1200, 1000), (0, -1500), (-300, 2000)]


def round_signed_at(kit, spot, count, *, start="15:00", accuracy=15):
    """``count`` parcels to spread-out addresses, all marked delivered at ``spot``."""
    parcels, scans = [], []
    for i, (north, east) in enumerate(SPREAD[:count]):
        tn = f"TRK{i + 1}"
        parcels.append(kit.parcel(tn, home=kit.moved(kit.home, north=north, east=east)))
        when = kit.at(start) + timedelta(minutes=i)
        scans.append(
            kit.delivered(when, tn=tn, point=kit.moved(spot, north=5 * i), accuracy=accuracy, courier="C-7")
        )
    return parcels, scans


def score_each(kit, parcels, scans, vehicle=None):
    context = CourierContext.from_parcels("C-7", scans, parcels, vehicle)
    verdicts = []
    for parcel, scan in zip(parcels, scans, strict=True):
        history = [*kit.to_the_door(parcel.tracking_number, courier="C-7"), scan]
        verdicts.append(score_delivery(scan, parcel, history, courier=context))
    return verdicts


# --- bulk signing ------------------------------------------------------------------------


def test_it_flags_a_round_of_spread_out_addresses_signed_from_the_station(kit):
    parcels, scans = round_signed_at(kit, kit.station, 6)

    verdicts = score_each(kit, parcels, scans)

    assert all(Code.BULK_SIGNING in v.codes for v in verdicts)
    assert all(v.suspected for v in verdicts)


def test_it_lets_bulk_signing_tip_a_moderately_misplaced_scan_into_a_case(kit):
    # The spot is only 600 m from the first address: on its own a moderate signal.
    spot = kit.moved(kit.home, east=-600)
    parcels, scans = round_signed_at(kit, spot, 6)
    first = parcels[0]

    alone = score_delivery(scans[0], first, [*kit.to_the_door(), scans[0]])
    with_round = score_each(kit, parcels, scans)[0]

    assert alone.codes == {Code.GPS_OFF} and not alone.suspected
    assert Code.BULK_SIGNING in with_round.codes and with_round.suspected


def test_it_does_not_count_the_one_parcel_that_was_really_delivered_at_the_spot(kit):
    # The courier stands at TRK1's door and marks the whole round delivered there.
    parcels, scans = round_signed_at(kit, kit.home, 7)

    verdicts = score_each(kit, parcels, scans)

    assert verdicts[0].reasons == ()
    assert all(Code.BULK_SIGNING in v.codes for v in verdicts[1:])


def test_it_does_not_call_parcels_to_one_far_building_a_spread(kit):
    # Six parcels for one tower signed 2 km away: each is off its address, but not a spread round.
    tower = kit.moved(kit.home, north=2000)
    parcels = [kit.parcel(f"TRK{i}", home=kit.moved(tower, east=4 * i)) for i in range(6)]
    scans = [
        kit.delivered(kit.at("15:00") + timedelta(minutes=i), tn=p.tracking_number, courier="C-7")
        for i, p in enumerate(parcels)
    ]

    verdicts = score_each(kit, parcels, scans)

    assert all(Code.GPS_FAR in v.codes for v in verdicts)
    assert not any(Code.BULK_SIGNING in v.codes for v in verdicts)


def test_it_does_not_call_a_few_parcels_from_one_spot_a_bulk_signing(kit):
    parcels, scans = round_signed_at(kit, kit.station, 3)

    assert not any(Code.BULK_SIGNING in v.codes for v in score_each(kit, parcels, scans))


def test_it_keeps_quiet_about_many_parcels_to_one_office_building(kit):
    tower = kit.moved(kit.home, north=1000, east=1000)
    parcels = [kit.parcel(f"TRK{i}", home=kit.moved(tower, east=3 * i)) for i in range(10)]
    scans = [
        kit.delivered(
            kit.at("15:00") + timedelta(seconds=40 * i),
            tn=p.tracking_number,
            point=kit.moved(tower, north=25),
            accuracy=20,
            courier="C-7",
            pod=kit.pod("reception", signed_by="front desk", otp=None),
        )
        for i, p in enumerate(parcels)
    ]

    verdicts = score_each(kit, parcels, scans)

    assert not any(v.suspected for v in verdicts)
    assert not any(v.codes & {Code.BULK_SIGNING, Code.GPS_OFF, Code.GPS_FAR} for v in verdicts)


def test_it_keeps_quiet_about_many_parcels_dropped_at_their_pickup_point(kit):
    parcels = [
        kit.parcel(
            f"TRK{i}",
            home=kit.moved(kit.home, north=north, east=east),
            pickup_point="PP-0042",
            pickup=kit.pickup,
        )
        for i, (north, east) in enumerate(SPREAD)
    ]
    scans = [
        kit.delivered(
            kit.at("16:00") + timedelta(minutes=i),
            tn=p.tracking_number,
            point=kit.pickup,
            accuracy=10,
            courier="C-7",
            facility="PP-0042",
            facility_kind=FacilityKind.PICKUP_POINT,
            pod=kit.pod("reception", signed_by="PP-0042 staff", otp=None),
        )
        for i, p in enumerate(parcels)
    ]

    verdicts = score_each(kit, parcels, scans)

    assert all(v.reasons == () for v in verdicts)


# --- impossible travel -------------------------------------------------------------------


def courier_day(kit, *scans, vehicle="e_bike"):
    return CourierContext("C-1", scans, {}, vehicle)


def test_it_flags_a_courier_who_was_five_km_away_three_minutes_earlier(kit):
    before = kit.scan(
        "picked_up", "14:59", tn="TRK9", point=kit.moved(kit.home, north=5000), accuracy=12, courier_id="C-1"
    )
    delivered = kit.delivered("15:02")

    verdict = score_delivery(
        delivered, kit.parcel(), [*kit.to_the_door(), delivered], courier=courier_day(kit, before)
    )

    assert verdict.codes == {Code.IMPOSSIBLE_TRAVEL}
    assert not verdict.suspected


def test_it_checks_the_next_scan_as_well_as_the_previous_one(kit):
    after = kit.scan(
        "delivered", "15:04", tn="TRK9", point=kit.moved(kit.home, east=-6000), accuracy=12, courier_id="C-1"
    )
    delivered = kit.delivered("15:02")

    verdict = score_delivery(
        delivered, kit.parcel(), [*kit.to_the_door(), delivered], courier=courier_day(kit, after)
    )

    assert Code.IMPOSSIBLE_TRAVEL in verdict.codes


def test_it_accepts_the_same_distance_given_enough_time(kit):
    before = kit.scan(
        "picked_up", "14:20", tn="TRK9", point=kit.moved(kit.home, north=5000), accuracy=12, courier_id="C-1"
    )
    delivered = kit.delivered("15:02")

    verdict = score_delivery(
        delivered, kit.parcel(), [*kit.to_the_door(), delivered], courier=courier_day(kit, before)
    )

    assert verdict.reasons == ()


@pytest.mark.parametrize(("vehicle", "flagged"), [("bicycle", True), ("car", False), (None, False)])
def test_it_judges_speed_by_the_couriers_vehicle(kit, vehicle, flagged):
    # 6 km in 6 minutes: 60 km/h, beyond a bicycle, easy for a car.
    before = kit.scan(
        "delivered", "14:56", tn="TRK9", point=kit.moved(kit.home, north=6000), accuracy=10, courier_id="C-1"
    )
    delivered = kit.delivered("15:02", accuracy=10)

    verdict = score_delivery(
        delivered,
        kit.parcel(),
        [*kit.to_the_door(), delivered],
        courier=courier_day(kit, before, vehicle=vehicle),
    )

    assert (Code.IMPOSSIBLE_TRAVEL in verdict.codes) is flagged


def test_a_sub_minute_gap_reads_in_seconds(kit):
    # 3 km in 20 seconds: flagged, and the reason says "20 s apart", not "0 min apart" (issue 11).
    before = kit.scan(
        "delivery_failed",
        "15:01",
        tn="TRK9",
        point=kit.moved(kit.home, north=3000),
        accuracy=10,
        courier_id="C-1",
    )
    delivered = kit.delivered(kit.at("15:01") + timedelta(seconds=20), accuracy=10)

    verdict = score_delivery(
        delivered, kit.parcel(), [*kit.to_the_door(), delivered], courier=courier_day(kit, before)
    )

    details = [r.detail for r in verdict.reasons if r.code == Code.IMPOSSIBLE_TRAVEL]
    assert details and "20 s apart" in details[0] and "min apart" not in details[0], details


def test_it_leaves_short_gps_jumps_to_noise(kit):
    # 400 m in 20 seconds is a glitch in an urban canyon, not a teleport.
    before = kit.scan(
        "delivery_failed",
        "15:01",
        tn="TRK9",
        point=kit.moved(kit.home, north=400),
        accuracy=15,
        courier_id="C-1",
    )
    delivered = kit.delivered(kit.at("15:01") + timedelta(seconds=20))

    verdict = score_delivery(
        delivered, kit.parcel(), [*kit.to_the_door(), delivered], courier=courier_day(kit, before)
    )

    assert verdict.reasons == ()


def test_it_places_deliveries_without_gps_at_their_claimed_addresses(kit):
    far = kit.moved(kit.home, north=7000)
    other = kit.delivered("15:00", tn="TRK9", gps=False)
    context = CourierContext("C-1", [other], {"TRK9": far}, "e_bike")
    delivered = kit.delivered("15:02", gps=False)

    verdict = score_delivery(delivered, kit.parcel(), [*kit.to_the_door(), delivered], courier=context)

    # Two doors 7 km apart two minutes apart: one of the two claims is false.
    assert Code.IMPOSSIBLE_TRAVEL in verdict.codes


def test_it_holds_impossible_travel_against_the_handover_that_has_no_fix_of_its_own(kit):
    # The courier's phone placed them 5 km away three minutes before; this
    # "delivered" has no fix, so only the address it claims puts them here.
    before = kit.scan(
        "picked_up", "14:59", tn="TRK9", point=kit.moved(kit.home, north=5000), accuracy=12, courier_id="C-1"
    )
    delivered = kit.delivered("15:02", gps=False)

    verdict = score_delivery(
        delivered, kit.parcel(), [*kit.to_the_door(), delivered], courier=courier_day(kit, before)
    )

    assert Code.TRAVEL_CONTRADICTS_CLAIM in verdict.codes
    assert Code.IMPOSSIBLE_TRAVEL not in verdict.codes
    assert verdict.suspected


def test_it_keeps_impossible_travel_moderate_when_both_claims_lack_a_fix(kit):
    far = kit.moved(kit.home, north=7000)
    other = kit.delivered("15:00", tn="TRK9", gps=False)
    context = CourierContext("C-1", [other], {"TRK9": far}, "e_bike")
    delivered = kit.delivered("15:02", gps=False)

    verdict = score_delivery(delivered, kit.parcel(), [*kit.to_the_door(), delivered], courier=context)

    # Either claim may be the false one: no stronger signal than before.
    assert Code.TRAVEL_CONTRADICTS_CLAIM not in verdict.codes


def test_it_ignores_scans_of_other_couriers_in_the_context(kit):
    someone_else = kit.scan(
        "delivered", "15:01", tn="TRK9", point=kit.moved(kit.home, north=9000), accuracy=10, courier_id="C-2"
    )
    delivered = kit.delivered("15:02")

    verdict = score_delivery(
        delivered, kit.parcel(), [*kit.to_the_door(), delivered], courier=courier_day(kit, someone_else)
    )

    assert verdict.reasons == ()
