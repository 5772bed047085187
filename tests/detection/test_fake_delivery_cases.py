"""Whole verdicts: combinations, late evidence, honest hard cases, configuration."""

from __future__ import annotations

import random
import re
from dataclasses import replace

import pytest

import tracker.detection.fake_delivery as module
from tracker.detection.facts import CustomerReport, FacilityKind, ReportKind
from tracker.detection.fake_delivery import DEFAULT_WEIGHTS, Code, FakeDeliveryConfig, score_delivery


def with_report(parcel, kind, at):
    return replace(parcel, reports=(*parcel.reports, CustomerReport(ReportKind(kind), at)))


# --- combinations ------------------------------------------------------------------------


def test_it_opens_a_case_when_the_customer_says_not_received_and_the_fix_is_far(kit):
    delivered = kit.delivered(point=kit.moved(kit.home, north=2000), accuracy=10)
    parcel = with_report(kit.parcel(), "not_received", kit.at("20:00"))

    verdict = score_delivery(delivered, parcel, [*kit.to_the_door(), delivered])

    assert {Code.GPS_FAR, Code.NOT_RECEIVED} <= verdict.codes
    assert verdict.suspected


def test_it_opens_a_case_on_not_received_with_a_moderately_misplaced_fix(kit):
    delivered = kit.delivered(point=kit.moved(kit.home, east=700), accuracy=10)
    parcel = with_report(kit.parcel(), "not_received", kit.at("20:00"))

    verdict = score_delivery(delivered, parcel, [*kit.to_the_door(), delivered])

    assert verdict.codes == {Code.GPS_OFF, Code.NOT_RECEIVED}
    assert verdict.suspected


def test_it_does_not_open_a_case_on_two_weak_traces(kit):
    delivered = kit.delivered(pod=None)

    verdict = score_delivery(delivered, kit.parcel(), kit.to_the_door()[:-1])

    assert verdict.codes == {Code.NO_POD, Code.NO_OUT_FOR_DELIVERY}
    assert not verdict.suspected


def test_it_opens_a_case_on_a_bare_status_flip_with_no_proof_no_fix_and_no_last_mile(kit):
    delivered = kit.delivered(pod=None, gps=False)

    verdict = score_delivery(delivered, kit.parcel(), kit.to_the_door()[:-1])

    assert verdict.codes == {Code.NO_POD, Code.NO_OUT_FOR_DELIVERY, Code.NO_GPS}
    assert verdict.suspected


def test_its_score_is_the_sum_of_the_weights_it_explains(kit):
    delivered = kit.delivered(point=kit.moved(kit.home, east=700), accuracy=10, pod=None)
    parcel = with_report(kit.parcel(), "not_received", kit.at("20:00"))

    verdict = score_delivery(delivered, parcel, kit.to_the_door()[:-1])

    assert verdict.score == pytest.approx(sum(r.weight for r in verdict.reasons))
    assert all(r.weight == DEFAULT_WEIGHTS[r.code] for r in verdict.reasons)
    assert all(r.detail for r in verdict.reasons)


# --- scoring again when evidence arrives late ----------------------------------------------


def test_it_crosses_the_threshold_when_a_not_received_report_arrives_later(kit):
    delivered = kit.delivered(point=kit.moved(kit.home, east=700), accuracy=10)
    events = [*kit.to_the_door(), delivered]

    before = score_delivery(delivered, kit.parcel(), events)
    after = score_delivery(
        delivered, with_report(kit.parcel(), "not_received", kit.at("09:00", day=1)), events
    )

    assert not before.suspected
    assert after.suspected
    assert after.score > before.score


def test_it_crosses_the_threshold_when_a_scan_after_delivery_arrives_later(kit):
    delivered = kit.delivered()
    events = [*kit.to_the_door(), delivered]
    back_at_station = kit.scan(
        "arrived", kit.at("08:10", day=1), facility="ST-SH-07", facility_kind=FacilityKind.DELIVERY_STATION
    )

    before = score_delivery(delivered, kit.parcel(), events)
    after = score_delivery(delivered, kit.parcel(), [*events, back_at_station])

    assert not before.suspected
    assert after.suspected


def test_it_drops_a_reason_when_the_missing_scan_turns_up(kit):
    delivered = kit.delivered(pod=None)
    without_ofd = [*kit.to_the_door()[:-1], delivered]
    late_ofd = kit.scan("out_for_delivery", "14:00", courier_id="C-1")

    before = score_delivery(delivered, kit.parcel(), without_ofd)
    after = score_delivery(delivered, kit.parcel(), [*without_ofd, late_ofd])

    assert Code.NO_OUT_FOR_DELIVERY in before.codes
    assert Code.NO_OUT_FOR_DELIVERY not in after.codes


def test_it_reads_events_in_the_order_they_happened_not_the_order_given(kit):
    delivered = kit.delivered(pod=None)
    events = [*kit.to_the_door(), delivered]
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)

    assert score_delivery(delivered, kit.parcel(), shuffled) == score_delivery(
        delivered, kit.parcel(), events
    )


# --- honest hard cases ------------------------------------------------------------------------


def test_it_keeps_quiet_about_a_family_member_signing_in_a_dense_block(kit):
    delivered = kit.delivered(
        point=kit.moved(kit.home, north=-70, east=40),
        accuracy=35,
        pod=kit.pod("family", signed_by="Li Na", photo=False, otp=None),
    )

    assert not score_delivery(delivered, kit.parcel(), [*kit.to_the_door(), delivered]).suspected


def test_it_keeps_quiet_about_an_urban_canyon_glitch_with_a_family_signature(kit):
    # Accuracy claims 10 m, the fix is 300 m off: optimistic, as it is between towers.
    delivered = kit.delivered(
        point=kit.moved(kit.home, north=300), accuracy=10, pod=kit.pod("family", signed_by="Li Na", otp=None)
    )

    verdict = score_delivery(delivered, kit.parcel(), [*kit.to_the_door(), delivered])

    assert not verdict.suspected


def test_it_keeps_quiet_about_a_not_received_complaint_against_a_proper_delivery(kit):
    # Someone at home signed with a photo at the door; the complaint is a dispute, not evidence of fraud.
    delivered = kit.delivered(pod=kit.pod("family", signed_by="Li Na", otp=None))
    parcel = with_report(kit.parcel(), "not_received", kit.at("21:00"))

    verdict = score_delivery(delivered, parcel, [*kit.to_the_door(), delivered])

    assert Code.NOT_RECEIVED in verdict.codes
    assert not verdict.suspected


def test_it_keeps_quiet_about_a_drop_at_the_pickup_point_and_its_collection(kit):
    parcel = kit.parcel(pickup_point="PP-0042", pickup=kit.pickup, home=kit.moved(kit.home, north=2500))
    at_pickup = {"facility": "PP-0042", "facility_kind": FacilityKind.PICKUP_POINT}
    drop = kit.delivered(
        "15:10",
        point=kit.pickup,
        accuracy=10,
        pod=kit.pod("reception", signed_by="PP staff", otp=None),
        **at_pickup,
    )
    ready = kit.scan("ready_for_pickup", "15:20", **at_pickup)
    collected = kit.scan("collected", "19:05", point=kit.pickup, accuracy=25, pod=kit.pod(), **at_pickup)
    events = [*kit.to_the_door(), drop, ready, collected]

    assert score_delivery(drop, parcel, events).reasons == ()
    assert score_delivery(collected, parcel, events).reasons == ()


def test_it_keeps_quiet_about_a_pickup_point_terminal_without_gps(kit):
    parcel = kit.parcel(pickup_point="PP-0042", pickup=kit.pickup)
    at_pickup = {"facility": "PP-0042", "facility_kind": FacilityKind.PICKUP_POINT}
    ready = kit.scan("ready_for_pickup", "15:20", **at_pickup)
    collected = kit.scan("collected", "19:05", pod=kit.pod(), **at_pickup)

    assert score_delivery(collected, parcel, [*kit.to_the_door(), ready, collected]).reasons == ()


def test_it_still_flags_a_parcel_back_in_the_network_after_collection(kit):
    parcel = kit.parcel(pickup_point="PP-0042", pickup=kit.pickup)
    ready = kit.scan("ready_for_pickup", "15:20", facility="PP-0042")
    collected = kit.scan(
        "collected", "19:05", point=kit.pickup, accuracy=10, pod=kit.pod(), facility="PP-0042"
    )
    again = kit.scan("ready_for_pickup", "09:00", facility="PP-0042")
    again = replace(again, occurred_at=kit.at("09:00", day=1))

    verdict = score_delivery(collected, parcel, [*kit.to_the_door(), ready, collected, again])

    assert Code.AFTER_DELIVERY in verdict.codes


# --- configuration and contract ----------------------------------------------------------------------


def test_it_follows_the_configured_threshold(kit):
    delivered = kit.delivered(point=kit.moved(kit.home, north=2000), accuracy=10)
    events = [*kit.to_the_door(), delivered]

    lenient = score_delivery(delivered, kit.parcel(), events, config=FakeDeliveryConfig(threshold=1.5))

    assert score_delivery(delivered, kit.parcel(), events).suspected
    assert not lenient.suspected


def test_it_switches_a_signal_off_with_a_zero_weight(kit):
    delivered = kit.delivered(gps=False)
    config = FakeDeliveryConfig(weights={**DEFAULT_WEIGHTS, Code.NO_GPS: 0})

    assert score_delivery(delivered, kit.parcel(), kit.to_the_door(), config=config).reasons == ()


def test_it_refuses_to_score_a_scan_that_is_not_a_handover(kit):
    with pytest.raises(ValueError, match="delivered or collected"):
        score_delivery(kit.to_the_door()[-1], kit.parcel())


def test_it_serialises_a_verdict_with_code_detail_and_weight(kit):
    delivered = kit.delivered(pod=None)

    body = score_delivery(delivered, kit.parcel(), kit.to_the_door()).as_dict()

    assert body["suspected"] is False
    assert body["reasons"] == [
        {
            "code": "no_proof_of_delivery",
            "detail": body["reasons"][0]["detail"],
            "weight": DEFAULT_WEIGHTS[Code.NO_POD],
        }
    ]


def test_its_documented_table_matches_the_weights_in_force():
    rows = re.findall(r"^\| `(\w+)`\s*\|\s*([\d.]+) \|", module.__doc__, flags=re.MULTILINE)

    assert {code: float(weight) for code, weight in rows} == dict(DEFAULT_WEIGHTS)
    assert {code for code, _ in rows} == {c.value for c in Code}
