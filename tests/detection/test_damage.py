"""Damage attribution: the facility, leg or courier between whole and damaged."""

from __future__ import annotations

import random

from tracker.detection.damage import Segment, attribute_damage, segments_passed, tally_damage
from tracker.detection.facts import DamageNote, FacilityKind, Severity

HUB = {"facility": "HUB-SH", "facility_kind": FacilityKind.SORTING_CENTER}
STATION = {"facility": "ST-SH-07", "facility_kind": FacilityKind.DELIVERY_STATION}
PICKUP = {"facility": "PP-0042", "facility_kind": FacilityKind.PICKUP_POINT}


def journey(kit, tn="TRK1"):
    """Warehouse -> hub -> station -> courier C-1 -> the door."""
    return [
        kit.scan("outbound", "06:00", tn=tn, facility="WH-SH-01", facility_kind=FacilityKind.WAREHOUSE),
        kit.scan("arrived", "08:00", tn=tn, **HUB),
        kit.scan("departed", "09:00", tn=tn, **HUB),
        kit.scan("arrived", "11:00", tn=tn, **STATION),
        kit.scan("out_for_delivery", "14:00", tn=tn, courier_id="C-1", **STATION),
        kit.delivered("15:02", tn=tn),
    ]


def test_it_finds_no_damage_when_nothing_reports_any(kit):
    assert attribute_damage(kit.parcel(), journey(kit)) is None


def test_it_blames_the_facility_where_the_parcel_arrived_whole_and_was_found_damaged(kit):
    events = [
        *journey(kit)[:2],
        kit.scan("damaged", "08:40", damage=DamageNote(Severity.MAJOR, "crushed"), **HUB),
    ]

    attribution = attribute_damage(kit.parcel(), events)

    assert attribution.segment == Segment.facility("HUB-SH")
    assert attribution.severity is Severity.MAJOR
    assert attribution.last_clean.type == "arrived"


def test_it_blames_the_leg_when_damage_is_found_on_arrival_at_the_next_facility(kit):
    events = [*journey(kit)[:3], kit.scan("damaged", "11:00", damage=DamageNote(Severity.MINOR), **STATION)]

    attribution = attribute_damage(kit.parcel(), events)

    assert attribution.segment == Segment.leg("HUB-SH", "ST-SH-07")


def test_it_counts_damage_noted_on_an_arrival_scan_as_evidence(kit):
    arrived_damaged = kit.scan("arrived", "11:00", damage=DamageNote(Severity.MINOR, "wet corner"), **STATION)

    attribution = attribute_damage(kit.parcel(), [*journey(kit)[:3], arrived_damaged])

    assert attribution.segment == Segment.leg("HUB-SH", "ST-SH-07")
    assert attribution.evidence_event_id == arrived_damaged.event_id


def test_it_blames_the_courier_for_a_customer_report_after_delivery(kit):
    parcel = kit.parcel(reports=(("damaged", kit.at("18:00")),))

    attribution = attribute_damage(parcel, journey(kit))

    assert attribution.segment == Segment.courier("C-1")
    assert attribution.found_by == "customer_report"


def test_it_blames_the_courier_for_damage_found_during_the_last_mile(kit):
    # The courier's scan carries the home station's code; the courier held the parcel.
    found = kit.scan("damaged", "14:40", courier_id="C-1", damage=DamageNote(Severity.MAJOR), **STATION)

    attribution = attribute_damage(kit.parcel(), [*journey(kit)[:5], found])

    assert attribution.segment == Segment.courier("C-1")


def test_it_blames_the_pickup_point_for_damage_reported_after_collection(kit):
    events = [
        *journey(kit)[:5],
        kit.delivered("15:10", point=kit.pickup, **PICKUP),
        kit.scan("ready_for_pickup", "15:20", **PICKUP),
        kit.scan("collected", "19:00", **PICKUP),
    ]
    parcel = kit.parcel(pickup_point="PP-0042", reports=(("damaged", kit.at("19:30")),))

    assert attribute_damage(parcel, events).segment == Segment.facility("PP-0042")


def test_it_uses_the_earliest_evidence_whether_report_or_scan(kit):
    parcel = kit.parcel(reports=(("damaged", kit.at("18:00")),))
    # The station records the damage the next day, when the parcel comes back.
    returned_damaged = kit.scan(
        "damaged", kit.at("10:00", day=1), damage=DamageNote(Severity.MAJOR), **STATION
    )
    events = [*journey(kit), returned_damaged]

    attribution = attribute_damage(parcel, events)

    assert attribution.found_by == "customer_report"
    assert attribution.segment == Segment.courier("C-1")


def test_it_reads_scans_in_the_order_they_happened(kit):
    events = [*journey(kit)[:3], kit.scan("damaged", "11:00", damage=DamageNote(Severity.MINOR), **STATION)]
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)

    assert attribute_damage(kit.parcel(), shuffled) == attribute_damage(kit.parcel(), events)


def test_it_names_who_found_damage_at_the_very_first_scan(kit):
    first = kit.scan("damaged", "08:00", damage=DamageNote(Severity.DESTROYED), **HUB)

    attribution = attribute_damage(kit.parcel(), [first])

    assert attribution.last_clean is None
    assert attribution.segment == Segment.facility("HUB-SH")


def test_it_explains_the_evidence_and_the_attribution_in_reasons(kit):
    events = [*journey(kit)[:3], kit.scan("damaged", "11:00", damage=DamageNote(Severity.MINOR), **STATION)]

    reasons = attribute_damage(kit.parcel(), events).reasons

    assert [r.code for r in reasons] == ["damage_found", "damage_attributed"]
    assert "HUB-SH->ST-SH-07" in reasons[1].detail
    assert "departed at HUB-SH" in reasons[1].detail


def test_it_lists_every_facility_leg_and_courier_a_parcel_passed(kit):
    assert segments_passed(journey(kit)) == {
        Segment.facility("WH-SH-01"),
        Segment.facility("HUB-SH"),
        Segment.facility("ST-SH-07"),
        Segment.leg("WH-SH-01", "HUB-SH"),
        Segment.leg("HUB-SH", "ST-SH-07"),
        Segment.courier("C-1"),
    }


def test_it_tallies_handled_and_damaged_parcels_per_segment(kit):
    whole = journey(kit, "TRK1")
    damaged = [
        *journey(kit, "TRK2")[:3],
        kit.scan("damaged", "11:00", tn="TRK2", damage=DamageNote(Severity.MINOR), **STATION),
    ]
    journeys = [
        (whole, attribute_damage(kit.parcel("TRK1"), whole)),
        (damaged, attribute_damage(kit.parcel("TRK2"), damaged)),
    ]

    tallies = tally_damage(journeys)

    assert tallies[Segment.leg("HUB-SH", "ST-SH-07")].handled == 2
    assert tallies[Segment.leg("HUB-SH", "ST-SH-07")].damaged == 1
    assert tallies[Segment.facility("HUB-SH")].damaged == 0
    assert tallies[Segment.courier("C-1")].handled == 1


def test_it_prefers_an_earlier_damage_scan_over_a_later_complaint(kit):
    found = kit.scan("damaged", "08:40", damage=DamageNote(Severity.MINOR), **HUB)
    parcel = kit.parcel(reports=(("damaged", kit.at("18:00")),))

    attribution = attribute_damage(parcel, [*journey(kit), found])

    assert attribution.found_by == "scan"
    assert attribution.segment == Segment.facility("HUB-SH")


def test_it_blames_an_open_leg_when_the_parcel_left_a_facility_and_was_never_scanned_again(kit):
    events = journey(kit)[:3]  # departed the hub, then silence
    parcel = kit.parcel(reports=(("damaged", kit.at("20:00")),))

    attribution = attribute_damage(parcel, events)
    tallies = tally_damage([(events, attribution)])

    assert attribution.segment == Segment.leg("HUB-SH", None)
    assert tallies[attribution.segment].damaged <= tallies[attribution.segment].handled
