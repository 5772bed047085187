"""Loading and validating service-level files."""

from datetime import date, time, timedelta
from pathlib import Path

import pytest

from tracker.sla import RegionClass, ServiceLevelConfigError, load_service_levels, parse_service_levels

CUTOFFS = """cutoffs = [
  { until = 11:00:00, add_days = 0, deliver_by = 23:00:00 },
  { until = 23:00:00, add_days = 1, deliver_by = 14:00:00 },
]"""

TRANSIT = """[levels.express.transit_days]
same_city = 0
same_province = 0
cross_province = 1
remote = 3"""

VALID = f"""
holidays = [2026-10-01]

[stale_after_hours]
info_received = 48
in_transit = 24

[remote]
provinces = ["CN-54"]
cities = ["Garzê"]

[levels.express]
clock_starts_at = "outbound"
meets = ["delivered"]
observe_holidays = true
{CUTOFFS}

{TRANSIT}

[levels.express.stale_after_hours]
in_transit = 12
"""


def broken(old: str, new: str) -> str:
    assert old in VALID, old  # keeps the cases below honest when VALID changes
    return VALID.replace(old, new, 1)


def test_it_ships_the_four_default_levels(levels):
    assert set(levels) == {"211", "next_day", "standard", "group_buy"}
    assert all(level.timezone.key == "Asia/Shanghai" for level in levels.values())


def test_it_ships_default_stale_thresholds_with_per_level_overrides(levels):
    hours = timedelta(hours=1)
    assert levels["next_day"].stale_after == {
        "info_received": 48 * hours,
        "in_transit": 24 * hours,
        "out_for_delivery": 10 * hours,
        "failed_attempt": 24 * hours,
        "available_for_pickup": 72 * hours,
    }
    assert levels["211"].stale_after["in_transit"] == 12 * hours
    assert levels["211"].stale_after["out_for_delivery"] == 10 * hours


def test_it_counts_pickup_at_the_pickup_point_only_for_pickup_services(levels):
    assert levels["group_buy"].meets == {"ready_for_pickup", "collected", "delivered"}
    assert levels["group_buy"].pickup
    assert levels["211"].meets == {"delivered", "collected"}
    assert not levels["211"].pickup


def test_it_observes_holidays_only_where_configured(levels):
    assert date(2026, 10, 1) in levels["standard"].holidays
    assert levels["211"].holidays == frozenset()


def test_it_reads_a_file_given_by_path_instead_of_the_defaults(tmp_path: Path):
    path = tmp_path / "levels.toml"
    path.write_text(VALID, encoding="utf-8")
    levels = load_service_levels(path)
    assert list(levels) == ["express"]
    express = levels["express"]
    assert express.cutoffs[0].until == time(11, 0)
    assert express.transit_days[RegionClass.REMOTE] == 3
    assert express.stale_after == {"info_received": timedelta(hours=48), "in_transit": timedelta(hours=12)}
    assert express.holidays == {date(2026, 10, 1)}


def test_it_gives_zero_transit_days_when_a_level_has_no_table():
    levels = parse_service_levels(broken(TRANSIT, ""))
    assert set(levels["express"].transit_days.values()) == {0}


def test_it_names_the_file_when_it_cannot_be_read(tmp_path: Path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ServiceLevelConfigError, match=r"nope\.toml: cannot read"):
        load_service_levels(missing)


def test_it_rejects_text_that_is_not_toml():
    with pytest.raises(ServiceLevelConfigError, match="not valid TOML"):
        parse_service_levels("[levels.x\n", source="bad.toml")


@pytest.mark.parametrize(
    ("text", "level", "key", "message"),
    [
        (
            broken('clock_starts_at = "outbound"', 'clock_starts_at = "shipped"'),
            "express",
            "clock_starts_at",
            "must be one of",
        ),
        (broken('clock_starts_at = "outbound"\n', ""), "express", "clock_starts_at", "missing"),
        (
            broken("observe_holidays = true", "obsreve_holidays = true"),
            "express",
            "obsreve_holidays",
            "unknown key",
        ),
        (
            broken("observe_holidays = true", 'observe_holidays = "yes"'),
            "express",
            "observe_holidays",
            "true or false",
        ),
        (
            broken("until = 11:00:00", 'until = "11:00"'),
            "express",
            "cutoffs[0].until",
            "local time such as 11:00:00",
        ),
        (broken("until = 23:00:00", "until = 10:00:00"), "express", "cutoffs[1].until", "increasing order"),
        (
            broken("deliver_by = 23:00:00", "deliver_by = 10:00:00"),
            "express",
            "cutoffs[0].deliver_by",
            "must end after",
        ),
        (broken("add_days = 1", "add_days = -1"), "express", "cutoffs[1].add_days", "whole number of days"),
        (broken(CUTOFFS, "cutoffs = []"), "express", "cutoffs", "non-empty array"),
        (broken("remote = 3\n", ""), "express", "transit_days", "missing region classes ['remote']"),
        (broken("remote = 3", "remote = 3\nfar_away = 9"), "express", "transit_days.far_away", "unknown key"),
        (
            broken('meets = ["delivered"]', 'meets = ["signed"]'),
            "express",
            "meets",
            "unknown event type 'signed'",
        ),
        (
            broken("in_transit = 12", "in_transit = 0"),
            "express",
            "stale_after_hours.in_transit",
            "positive number",
        ),
        (
            broken("in_transit = 12", "delivered = 12"),
            "express",
            "stale_after_hours.delivered",
            "unknown key",
        ),
        (
            broken("[levels.express]", '[levels.express]\ntimezone = "Mars/Olympus"'),
            "express",
            "timezone",
            "unknown time zone",
        ),
        (broken("[levels.express]", '[levels."express 1"]'), "express 1", None, "level name"),
    ],
)
def test_it_names_the_level_and_key_of_a_bad_setting(text, level, key, message):
    with pytest.raises(ServiceLevelConfigError) as caught:
        parse_service_levels(text, source="levels.toml")
    error = caught.value
    assert (error.level, error.key) == (level, key)
    assert message in str(error)
    assert str(error).startswith(f"levels.toml: service level '{level}'")


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (broken("holidays = [2026-10-01]", "holidays = [2026-10-01T00:00:00]"), "holidays", "local dates"),
        (broken('provinces = ["CN-54"]', 'provinces = ["Tibet"]'), "remote.provinces", "ISO 3166-2:CN"),
        (broken('cities = ["Garzê"]', 'cities = [""]'), "remote.cities", "non-empty strings"),
        (broken("[remote]", "[remotes]"), "remotes", "unknown key"),
        (
            broken("[stale_after_hours]\ninfo_received = 48\nin_transit = 24\n", ""),
            "stale_after_hours",
            "missing",
        ),
        (broken("holidays = [2026-10-01]", 'timezone = "Nowhere/Town"'), "timezone", "unknown time zone"),
    ],
)
def test_it_names_the_key_of_a_bad_top_level_setting(text, key, message):
    with pytest.raises(ServiceLevelConfigError) as caught:
        parse_service_levels(text, source="levels.toml")
    assert (caught.value.level, caught.value.key) == (None, key)
    assert str(caught.value).startswith(f"levels.toml: {key}: ")
    assert message in str(caught.value)


def test_it_needs_at_least_one_level():
    with pytest.raises(ServiceLevelConfigError, match="levels: at least one service level"):
        parse_service_levels("[stale_after_hours]\n[remote]\n[levels]\n")
