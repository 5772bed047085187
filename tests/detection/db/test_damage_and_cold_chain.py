"""Damage cases blamed on the right segment, and cold-chain excursions, through the service."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.detection.db.conftest import World
from tracker.core.db import write_transaction
from tracker.tracking.feedback import report_damaged
from tracker.tracking.store import read_parcel

CRUSHED = {"severity": "major", "description": "外箱压扁"}


def scan_reports() -> float:
    return REGISTRY.get_sample_value("tracker_damage_reports_total", {"source": "scan"}) or 0.0


def test_it_blames_the_hub_for_damage_found_there_after_a_clean_arrival(world: World) -> None:
    world.register("TRKDMGHUB1")
    world.post(
        *world.to_the_station("TRKDMGHUB1")[:3],
        world.scan("TRKDMGHUB1", "damaged", 6.8, facility="SC-SH-01", damage=CRUSHED),
    )

    world.evaluate("TRKDMGHUB1")

    (case,) = world.cases("TRKDMGHUB1")
    assert (case.type, case.facility_code, case.courier_code) == ("damage", "SC-SH-01", None)
    assert {"code": "damage_segment", "detail": "facility SC-SH-01"} in case.reasons


def test_it_blames_the_leg_for_damage_found_on_arrival_at_the_next_facility(world: World) -> None:
    world.register("TRKDMGLEG1")
    journey = world.to_the_station("TRKDMGLEG1", ofd=False)
    journey[-1]["damage"] = CRUSHED  # the station's inbound scan notes the crushed box
    world.post(*journey)

    world.evaluate("TRKDMGLEG1")

    (case,) = world.cases("TRKDMGLEG1")
    assert {"code": "damage_segment", "detail": "leg SC-SH-01->ST-SH-01"} in case.reasons
    assert case.facility_code == "SC-SH-01"


def test_it_blames_the_courier_for_damage_the_customer_reports_and_keeps_the_customers_words(
    world: World,
) -> None:
    world.register("TRKDMGCUS1")
    world.post(*world.to_the_station("TRKDMGCUS1"), world.delivered("TRKDMGCUS1"))
    with write_transaction(world.engine) as conn:
        report_damaged(conn, read_parcel(conn, "TRKDMGCUS1"), now=world.clock(), description="杯子碎了")

    world.evaluate("TRKDMGCUS1")

    (case,) = world.cases("TRKDMGCUS1")
    codes = {r["code"] for r in case.reasons}
    assert {"damage_reported", "damage_segment", "customer_damage_report"} <= codes
    assert {"code": "damage_segment", "detail": "courier C-SH011"} in case.reasons


def test_it_counts_a_damaged_scan_once_however_often_the_parcel_is_judged(world: World) -> None:
    world.register("TRKDMGCNT1")
    world.post(
        *world.to_the_station("TRKDMGCNT1")[:3],
        world.scan("TRKDMGCNT1", "damaged", 6.8, facility="SC-SH-01", damage=CRUSHED),
    )
    before = scan_reports()

    world.evaluate("TRKDMGCNT1")
    world.later(hours=1)
    world.evaluate("TRKDMGCNT1")

    assert scan_reports() - before == 1


def test_it_opens_a_temperature_excursion_with_the_readings_and_where_they_were_taken(world: World) -> None:
    world.register("TRKCOLD001", perishable={"min_c": 0, "max_c": 4})
    cold = world.to_the_station("TRKCOLD001")
    for event, reading in zip(cold, [2.0, 3.1, 3.5, 9.5, 3.8, 4.0]):
        event["temperature_c"] = reading
    world.post(*cold)

    world.evaluate("TRKCOLD001")

    (case,) = world.cases("TRKCOLD001")
    assert (case.type, case.facility_code, case.score) == ("temperature_excursion", "SC-SH-01", 5.5)
    above = [r for r in case.reasons if r["code"] == "temperature_above_range"]
    assert len(above) == 1 and "9.5 °C at SC-SH-01" in above[0]["detail"]


def test_it_keeps_quiet_about_readings_in_range_or_on_parcels_that_are_not_perishable(world: World) -> None:
    world.register("TRKCOLD002", perishable={"min_c": 0, "max_c": 4})
    world.register("TRKWARM001")
    cold, warm = world.to_the_station("TRKCOLD002"), world.to_the_station("TRKWARM001")
    for event in cold:
        event["temperature_c"] = 4.0
    for event in warm:
        event["temperature_c"] = 24.0
    world.post(*cold, *warm)

    world.evaluate("TRKCOLD002", "TRKWARM001")

    assert world.cases("TRKCOLD002") == [] and world.cases("TRKWARM001") == []
