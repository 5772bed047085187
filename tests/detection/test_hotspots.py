"""Damage hotspots: significantly worse than the network, never on a small sample."""

from __future__ import annotations

import random

import pytest

from tracker.detection.damage import (
    HotspotConfig,
    Segment,
    SegmentKind,
    Tally,
    attribute_damage,
    damage_rates,
    hotspots,
    tally_damage,
)
from tracker.detection.facts import DamageNote, FacilityKind, Severity
from tracker.detection.stats import wilson_interval


def network_with(**extra: Tally) -> dict[Segment, Tally]:
    """Twelve ordinary hubs at 2 % damage, plus the given facilities."""
    tallies = {Segment.facility(f"HUB-{i:02}"): Tally(handled=500, damaged=10) for i in range(12)}
    tallies.update({Segment.facility(code): tally for code, tally in extra.items()})
    return tallies


def flagged(tallies, **kwargs) -> set[Segment]:
    return {rate.segment for rate in hotspots(tallies, **kwargs)}


def test_it_flags_a_hub_that_damages_far_more_than_the_network():
    assert flagged(network_with(BAD=Tally(500, 45))) == {Segment.facility("BAD")}


def test_it_does_not_accuse_a_small_facility_with_one_damaged_parcel_in_three():
    tallies = network_with(TINY=Tally(3, 1))

    assert Segment.facility("TINY") not in flagged(tallies)


def test_it_does_not_accuse_on_a_handful_of_parcels_even_if_all_were_damaged():
    assert flagged(network_with(NEW=Tally(3, 3))) == set()


def test_it_does_not_flag_a_rate_that_is_above_average_only_by_chance():
    # 3 % on 400 parcels against 2 %: higher, but well within what chance gives.
    assert flagged(network_with(UNLUCKY=Tally(400, 12))) == set()


def test_it_reports_every_segment_with_counts_and_its_interval():
    rates = {r.segment: r for r in damage_rates(network_with(TINY=Tally(3, 1)))}

    tiny = rates[Segment.facility("TINY")]
    assert (tiny.handled, tiny.damaged) == (3, 1)
    assert tiny.low <= tiny.rate <= tiny.high
    assert not tiny.flagged
    assert "1 of 3" in tiny.reason.detail


def test_it_compares_each_kind_with_its_own_network_rate():
    tallies = network_with()  # facilities at 2 %
    tallies.update({Segment.courier(f"C-{i}"): Tally(400, 1) for i in range(20)})  # couriers at 0.25 %
    tallies[Segment.courier("C-ROUGH")] = Tally(400, 10)  # 2.5 %: ordinary for a hub, not for a courier

    assert flagged(tallies) == {Segment.courier("C-ROUGH")}


def test_it_can_judge_against_a_given_baseline():
    tallies = network_with(MID=Tally(500, 20))

    assert flagged(tallies, baseline={SegmentKind.FACILITY: 0.005}) >= {Segment.facility("MID")}


def test_it_honours_a_stricter_confidence():
    tallies = network_with(EDGE=Tally(500, 19))

    assert Segment.facility("EDGE") in flagged(tallies)
    assert Segment.facility("EDGE") not in flagged(tallies, config=HotspotConfig(confidence=0.999))


def test_it_finds_a_planted_bad_leg_from_raw_journeys(kit):
    """End to end: scans -> attribution -> tallies -> hotspots."""
    rng = random.Random(11)
    journeys = []
    for n in range(600):
        tn = f"TRK{n}"
        hub = "HUB-A" if n % 2 else "HUB-B"
        events = [
            kit.scan("arrived", "08:00", tn=tn, facility=hub, facility_kind=FacilityKind.SORTING_CENTER),
            kit.scan("departed", "09:00", tn=tn, facility=hub, facility_kind=FacilityKind.SORTING_CENTER),
        ]
        # HUB-B's trucks to the station damage 10 % of parcels; everything else 1 %.
        bad_leg = hub == "HUB-B" and rng.random() < 0.10
        note = DamageNote(Severity.MINOR) if bad_leg or rng.random() < 0.01 else None
        events.append(
            kit.scan(
                "arrived",
                "11:00",
                tn=tn,
                facility="ST-1",
                facility_kind=FacilityKind.DELIVERY_STATION,
                damage=note,
            )
        )
        journeys.append((events, attribute_damage(kit.parcel(tn), events)))

    found = flagged(tally_damage(journeys))

    assert found == {Segment.leg("HUB-B", "ST-1")}


# --- the Wilson interval itself ---------------------------------------------------------------


@pytest.mark.parametrize(("successes", "trials"), [(0, 1), (1, 3), (7, 40), (40, 40), (5, 10_000)])
def test_its_interval_lies_in_0_1_and_contains_the_observed_rate(successes, trials):
    low, high = wilson_interval(successes, trials)

    assert 0 <= low <= successes / trials <= high <= 1


def test_its_interval_narrows_as_the_sample_grows():
    small = wilson_interval(2, 20)
    large = wilson_interval(200, 2000)

    assert large[1] - large[0] < small[1] - small[0]


def test_its_upper_bound_for_zero_events_is_z_squared_over_n_plus_z_squared():
    z = 1.959964
    assert wilson_interval(0, 10)[1] == pytest.approx(z * z / (10 + z * z), rel=1e-5)


def test_its_interval_is_symmetric_between_successes_and_failures():
    low, high = wilson_interval(3, 17)
    mirror_low, mirror_high = wilson_interval(14, 17)

    assert low == pytest.approx(1 - mirror_high)
    assert high == pytest.approx(1 - mirror_low)


def test_its_interval_knows_nothing_without_trials():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_its_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(4, 3)


def test_it_does_not_accuse_on_two_incidents_however_rare_damage_is_elsewhere():
    # 2 of 40 against 0.2 %: the interval alone would flag it; two incidents are not a pattern.
    tallies = {Segment.courier(f"C-{i}"): Tally(1000, 2) for i in range(10)}
    tallies[Segment.courier("C-NEW")] = Tally(40, 2)

    assert flagged(tallies) == set()
