"""Cold chain excursions: one per parcel, listing every out-of-range reading."""

from __future__ import annotations

import math
from dataclasses import replace

from tracker.detection.cold_chain import find_excursion
from tracker.detection.facts import FacilityKind, SensorReading

STATION = {"facility": "ST-SH-07", "facility_kind": FacilityKind.DELIVERY_STATION}


def readings(kit, *temperatures, tn="TRK1"):
    """Scans two hours apart from 06:00, each with one reading (None: no reading)."""
    return [
        kit.scan("arrived", f"{6 + 2 * i:02}:00", tn=tn, temperature_c=t, facility=f"F-{i}")
        for i, t in enumerate(temperatures)
    ]


def test_it_finds_nothing_when_every_reading_is_in_range(kit):
    assert find_excursion(kit.parcel(perishable=(0, 4)), readings(kit, 2.0, 3.5, 1.0)) is None


def test_it_ignores_parcels_that_are_not_perishable(kit):
    assert find_excursion(kit.parcel(), readings(kit, 30.0)) is None


def test_it_counts_readings_on_the_bounds_as_in_range(kit):
    assert find_excursion(kit.parcel(perishable=(0, 4)), readings(kit, 0.0, 4.0)) is None


def test_it_lists_every_out_of_range_reading_in_one_excursion(kit):
    events = readings(kit, 3.0, 8.5, 2.0, -1.5, None)

    excursion = find_excursion(kit.parcel(perishable=(0, 4)), events)

    assert [r.temperature_c for r in excursion.readings] == [8.5, -1.5]
    assert excursion.readings_total == 4
    assert excursion.first_at < excursion.last_at
    assert [r.code for r in excursion.reasons] == ["temperature_above_range", "temperature_below_range"]


def test_it_says_where_and_when_each_reading_was_taken(kit):
    cold_room = kit.scan("arrived", "11:00", temperature_c=9.0, **STATION)
    van = kit.scan(
        "out_for_delivery", "14:00", courier_id="C-1", temperature_c=7.0, point=kit.home, accuracy=10
    )

    excursion = find_excursion(kit.parcel(perishable=(2, 6)), [van, cold_room])

    first, second = excursion.readings
    assert (first.where, first.occurred_at) == ("ST-SH-07", kit.at("11:00"))
    assert second.where == "courier C-1"
    assert second.position == kit.home
    assert "ST-SH-07" in excursion.reasons[0].detail


def test_it_measures_how_far_each_reading_strayed_and_picks_the_worst(kit):
    excursion = find_excursion(kit.parcel(perishable=(0, 4)), readings(kit, 5.0, -3.0, 6.5))

    assert [r.deviation_c for r in excursion.readings] == [1.0, -3.0, 2.5]
    assert excursion.worst.temperature_c == -3.0


def test_it_can_allow_a_sensor_tolerance(kit):
    parcel = kit.parcel(perishable=(0, 4))

    assert find_excursion(parcel, readings(kit, 4.4), tolerance_c=0.5) is None
    assert find_excursion(parcel, readings(kit, 4.6), tolerance_c=0.5).readings[0].deviation_c > 0


def test_it_skips_sensor_faults_and_other_parcels_readings(kit):
    events = [*readings(kit, math.nan), *readings(kit, 30.0, tn="TRK2")]

    assert find_excursion(kit.parcel(perishable=(0, 4)), events) is None


def test_it_reads_sensor_readings_beside_the_scans_and_a_span_strays_at_either_end(kit):
    logger = [
        SensorReading(
            "r-1", kit.at("07:00"), (3.0,), facility="SC-SH-01", source="sensor reading, device D-1"
        ),
        SensorReading(
            "r-2", kit.at("09:00"), (-1.0, 3.5), facility="SC-SH-01", source="sensor reading, device D-1"
        ),
        SensorReading("r-3", kit.at("10:00"), (math.nan,), source="sensor reading, device D-1"),
    ]
    parcel = replace(kit.parcel(perishable=(0, 4)), readings=logger)

    excursion = find_excursion(parcel, readings(kit, 3.0, 8.5))  # scans at 06:00 and 08:00

    assert [(r.occurred_at, r.temperature_c) for r in excursion.readings] == [
        (kit.at("08:00"), 8.5),  # the scan
        (kit.at("09:00"), -1.0),  # the logger's span, below the range at its low end
    ]
    assert excursion.readings_total == 4  # two scans, two readings (the NaN is a sensor fault)
    sensed = excursion.readings[1]
    assert (sensed.type, sensed.where, sensed.deviation_c) == (None, "SC-SH-01", -1.0)
    assert "(sensor reading, device D-1, " in sensed.reason.detail
