"""Promises of each shipped service level at their cut-off edges.

Expected promises are written out by hand from the level's rule, in Shanghai
local time; 2026-11-20 is an ordinary Friday, 2026-10-01..07 is National Day.
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tracker.sla import Place, ServiceLevels, parse_service_levels, promise_for

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOME = Place("CN-31", "Shanghai")


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def promise(levels: ServiceLevels, name: str, start: datetime, destination: Place = HOME) -> datetime:
    return promise_for(levels[name], clock_start=start, origin=HOME, destination=destination)


@pytest.mark.parametrize(
    ("outbound", "due"),
    [
        ("2026-11-20 10:59", "2026-11-20 23:00"),
        ("2026-11-20 11:00", "2026-11-20 23:00"),
        ("2026-11-20 11:00:00.000001", "2026-11-21 14:00"),
        ("2026-11-20 11:01", "2026-11-21 14:00"),
        ("2026-11-20 22:59", "2026-11-21 14:00"),
        ("2026-11-20 23:00", "2026-11-21 14:00"),
        ("2026-11-20 23:01", "2026-11-21 23:00"),
        ("2026-11-20 00:00", "2026-11-20 23:00"),
    ],
)
def test_it_promises_211_by_the_morning_and_evening_cutoffs(levels, outbound, due):
    assert promise(levels, "211", local(outbound)) == local(due)


def test_it_reads_the_cutoff_in_local_time_not_utc(levels):
    # 00:30 in Shanghai on the 21st is 16:30 UTC on the 20th: the same-day
    # rule applies to the 21st, local.
    start = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)
    assert start == local("2026-11-21 00:30")
    assert promise(levels, "211", start) == local("2026-11-21 23:00")
    assert promise(levels, "group_buy", start) == local("2026-11-22 12:00")


def test_it_returns_the_promise_in_utc(levels):
    due = promise(levels, "211", local("2026-11-20 10:00"))
    assert due.tzinfo is UTC
    assert due == datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def test_it_refuses_a_naive_clock_start(levels):
    with pytest.raises(ValueError, match="timezone-aware"):
        promise(levels, "211", datetime(2026, 11, 20, 10, 0))


def test_it_keeps_211_running_on_holidays(levels):
    assert promise(levels, "211", local("2026-10-01 10:00")) == local("2026-10-01 23:00")
    assert promise(levels, "211", local("2026-09-30 23:30")) == local("2026-10-01 23:00")


@pytest.mark.parametrize(
    ("outbound", "due"),
    [
        ("2026-11-20 11:00", "2026-11-21 23:00"),
        ("2026-11-20 22:59", "2026-11-21 23:00"),
        ("2026-11-20 23:00", "2026-11-21 23:00"),
        ("2026-11-20 23:01", "2026-11-22 23:00"),
    ],
)
def test_it_promises_next_day_by_23_the_next_day(levels, outbound, due):
    assert promise(levels, "next_day", local(outbound)) == local(due)


def test_it_gives_next_day_two_more_days_into_a_remote_area(levels, lhasa):
    assert promise(levels, "next_day", local("2026-11-20 10:00"), lhasa) == local("2026-11-23 23:00")


@pytest.mark.parametrize(
    ("outbound", "destination", "due"),
    [
        ("2026-11-20 17:59", Place("CN-31", "Shanghai"), "2026-11-21 20:00"),
        ("2026-11-20 18:00", Place("CN-31", "Shanghai"), "2026-11-21 20:00"),
        ("2026-11-20 18:01", Place("CN-31", "Shanghai"), "2026-11-22 20:00"),
        ("2026-11-20 10:00", Place("CN-33", "Hangzhou"), "2026-11-23 20:00"),
        ("2026-11-20 10:00", Place("CN-54", "Lhasa"), "2026-11-26 20:00"),
        ("2026-11-20 23:30", Place("CN-33", "Hangzhou"), "2026-11-24 20:00"),
    ],
)
def test_it_counts_standard_transit_days_by_region_class(levels, outbound, destination, due):
    assert promise(levels, "standard", local(outbound), destination) == local(due)


def test_it_moves_a_standard_promise_off_a_holiday_to_the_next_working_day(levels, hangzhou):
    # 3 days cross-province from 09-29 land on 10-02, inside National Day.
    assert promise(levels, "standard", local("2026-09-29 10:00"), hangzhou) == local("2026-10-08 20:00")


def test_it_counts_standard_transit_in_calendar_days_through_a_holiday(levels, hangzhou):
    # 09-23 + 3 = 09-26 (Mid-Autumn, 25-27) -> 09-28; the days before are not stretched.
    assert promise(levels, "standard", local("2026-09-23 10:00"), hangzhou) == local("2026-09-28 20:00")
    # Landing after the holiday is not affected at all.
    assert promise(levels, "standard", local("2026-09-25 10:00"), hangzhou) == local("2026-09-28 20:00")


@pytest.mark.parametrize(
    ("ordered", "due"),
    [
        ("2026-11-20 10:59", "2026-11-21 12:00"),
        ("2026-11-20 11:00", "2026-11-21 12:00"),
        ("2026-11-20 11:01", "2026-11-21 12:00"),
        ("2026-11-20 22:59", "2026-11-21 12:00"),
        ("2026-11-20 23:00", "2026-11-21 12:00"),
        ("2026-11-20 23:01", "2026-11-22 12:00"),
    ],
)
def test_it_promises_group_buy_at_the_pickup_point_by_noon_next_day(levels, ordered, due):
    assert promise(levels, "group_buy", local(ordered)) == local(due)


def test_it_starts_each_levels_clock_at_its_own_event(levels):
    assert {name: level.clock_starts_at for name, level in levels.items()} == {
        "211": "outbound",
        "next_day": "outbound",
        "standard": "outbound",
        "group_buy": "ordered",
    }


def test_it_applies_cutoffs_in_the_levels_own_timezone():
    levels = parse_service_levels(
        """
        [stale_after_hours]
        [remote]
        [levels.xinjiang_211]
        timezone = "Asia/Urumqi"
        clock_starts_at = "outbound"
        meets = ["delivered"]
        observe_holidays = false
        cutoffs = [{ until = 11:00:00, add_days = 0, deliver_by = 23:00:00 }]
        """
    )
    urumqi = ZoneInfo("Asia/Urumqi")  # UTC+6: 11:00 there is 13:00 in Shanghai
    start = datetime(2026, 11, 20, 11, 0, tzinfo=urumqi)
    due = promise_for(levels["xinjiang_211"], clock_start=start, origin=HOME, destination=HOME)
    assert due == datetime(2026, 11, 20, 23, 0, tzinfo=urumqi)
    late = promise_for(
        levels["xinjiang_211"], clock_start=local("2026-11-20 13:01"), origin=HOME, destination=HOME
    )
    assert late == datetime(2026, 11, 21, 23, 0, tzinfo=urumqi)
