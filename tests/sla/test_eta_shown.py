"""The ETA a customer is shown: learned, conditional on silence, shaped for people (pure)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.core.geo import Point, haversine_m
from tracker.settings import Settings, SettingsError
from tracker.sla import DEFAULT_STAGE_ESTIMATES
from tracker.sla.eta_shown import (
    DeliveryHistory,
    DeliveryHours,
    Passage,
    describe_day,
    estimate_delivery,
    keeps_appointment,
    route_window,
    shape_day,
)

SH = ZoneInfo("Asia/Shanghai")
HOURS = DeliveryHours()


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


def history(*durations_at: tuple[datetime, float], facility: str = "SC-SH-01") -> DeliveryHistory:
    """Parcels that arrived at ``facility`` at the given moments and were delivered so many hours later."""
    return DeliveryHistory.from_passages(
        [
            Passage("arrived", "in_transit", facility, "next_day", at, at + timedelta(hours=h), "上海")
            for at, h in durations_at
        ],
        SH,
    )


def estimate(hist: DeliveryHistory, entered: datetime, now: datetime) -> object:
    return estimate_delivery(
        event_type="arrived", status="in_transit", facility="SC-SH-01", service_level="next_day",
        destination="上海", entered_at=entered, now=now, history=hist, tz=SH,
        stage_estimates=DEFAULT_STAGE_ESTIMATES,
    )  # fmt: skip


# Thirty parcels that arrived at the sorting centre around 14:00 on past days and were
# delivered the next morning (18-21 h later); twelve more that sat there until the morning after.
NEXT_MORNING = history(
    *((local(10 + i % 5, 14, i), 18 + (i % 4)) for i in range(30)),
    *((local(10 + i % 5, 14, 30 + i), 40 + i % 3) for i in range(12)),
)


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)))
def test_a_route_window_is_on_quarter_hours_at_most_two_hours_and_around_the_planned_time(
    naive: datetime,
) -> None:
    service = naive.replace(tzinfo=UTC)
    start, end = route_window(service)
    assert start.minute % 15 == 0 and end.minute % 15 == 0 and start.second == end.second == 0
    assert start <= service <= end
    assert timedelta(minutes=15) <= end - start <= timedelta(hours=2)


def test_a_route_window_opens_neither_before_the_courier_leaves_nor_before_the_appointment() -> None:
    assert route_window(local(20, 9, 10), leaves=local(20, 8, 50)) == (local(20, 9), local(20, 10, 15))
    assert route_window(local(20, 15, 0), opens=local(20, 15)) == (local(20, 15), local(20, 16))


def test_a_route_window_holds_the_planned_time_of_a_door_just_after_the_courier_leaves() -> None:
    # Leaving at 10:31, at the first door at 10:33: not "10:45 - 11:45".
    start, end = route_window(local(20, 10, 33), leaves=local(20, 10, 31))
    assert (start, end) == (local(20, 10, 30), local(20, 11, 45))
    for minute in range(31, 45):
        start, end = route_window(local(20, 10, minute), leaves=local(20, 10, 31))
        assert start <= local(20, 10, minute) <= end


def test_a_route_window_ends_with_a_booking_the_plan_keeps_and_shows_one_it_misses() -> None:
    booked = (local(20, 15), local(20, 17))
    kept = route_window(local(20, 16, 50), opens=booked[0], closes=booked[1])
    assert kept == (local(20, 16, 15), local(20, 17)) and keeps_appointment(kept, booked)
    missed = route_window(local(20, 17, 20), opens=booked[0], closes=booked[1])
    assert missed == (local(20, 16, 45), local(20, 18, 30)) and not keeps_appointment(missed, booked)


def test_a_route_window_stays_within_delivery_hours() -> None:
    assert route_window(local(20, 20, 40), tz=SH) == (local(20, 20, 0), local(20, 21, 0))
    late = DeliveryHours(time(9), time(18))
    assert route_window(local(20, 9, 5), tz=SH, hours=late) == (local(20, 9), local(20, 10, 15))


def test_delivery_hours_move_a_moment_at_night_to_the_next_opening() -> None:
    assert HOURS.within(local(20, 22, 30), SH) == local(21, 8)
    assert HOURS.within(local(21, 6), SH) == local(21, 8)
    assert HOURS.within(local(21, 9, 30), SH) == local(21, 9, 30)


def test_delivery_hours_are_a_setting_read_from_the_environment() -> None:
    settings = Settings.from_env({"TRACKER_DELIVERY_HOURS": "09:00-20:30"})
    assert DeliveryHours(*settings.delivery_hours) == DeliveryHours(time(9), time(20, 30))
    with pytest.raises(SettingsError, match="TRACKER_DELIVERY_HOURS"):
        Settings.from_env({"TRACKER_DELIVERY_HOURS": "21:00-08:00"})
    with pytest.raises(SettingsError, match="TRACKER_DELIVERY_HOURS"):
        Settings.from_env({"TRACKER_DELIVERY_HOURS": "mornings"})


def test_in_transit_it_shows_the_day_and_the_part_of_it_the_history_points_to() -> None:
    now = local(20, 14, 20)
    est = estimate(NEXT_MORNING, local(20, 14, 5), now)
    assert est.basis == "history"
    day = shape_day(est, now=now, tz=SH)
    assert (day.day, day.part) == (local(21, 0).date(), "morning")
    assert (day.start, day.end) == (local(21, 8), local(21, 12))


def test_an_uncertain_part_of_the_day_is_not_named() -> None:
    spread = history(*((local(10 + i % 5, 14, i), 18 + (i % 10)) for i in range(30)))
    day = shape_day(estimate(spread, local(20, 14), local(20, 14)), now=local(20, 14), tz=SH)
    assert day.part is None and (day.start, day.end) == (local(21, 8), local(21, 21))
    assert describe_day(day.start, day.end, tz=SH).part is None


def test_a_silent_parcel_is_compared_with_the_parcels_that_stayed_as_long() -> None:
    # Still at the sorting centre a day after arriving: not the typical next morning,
    # but what the parcels that sat that long did (two days in all).
    now = local(21, 14, 30)
    est = estimate(NEXT_MORNING, local(20, 14, 5), now)
    assert est.basis == "history"
    day = shape_day(est, now=now, tz=SH)
    assert day.day == local(22, 0).date()


def test_a_parcel_stuck_longer_than_any_known_is_estimated_as_if_it_moved_now_never_a_few_hours() -> None:
    now = local(22, 12)  # silent for 46 h at the sorting centre
    est = estimate(NEXT_MORNING, local(20, 14), now)
    assert est.basis == "stalled"
    assert min(est.moments) >= now + timedelta(hours=18)
    day = shape_day(est, now=now, tz=SH)
    assert day.start >= now and day.day >= local(23, 0).date()


def test_without_history_the_stage_defaults_give_a_day_and_never_one_in_the_past() -> None:
    now = local(20, 22)
    est = estimate(DeliveryHistory(), local(18, 9), now)
    assert est is not None and est.basis == "defaults"
    day = shape_day(est, now=now, tz=SH)
    assert (
        day.start >= now
        and HOURS.bounds(day.day, SH)[0] <= day.start < day.end <= HOURS.bounds(day.day, SH)[1]
    )


def test_each_stage_narrows_what_the_last_showed() -> None:
    # In transit: a day (13 h) or a part of it; on a route: at most 2 h.
    spread = history(*((local(10 + i % 5, 14, i), 18 + (i % 10)) for i in range(30)))
    whole = shape_day(estimate(spread, local(20, 14), local(20, 14)), now=local(20, 14), tz=SH)
    part = shape_day(
        estimate(NEXT_MORNING, local(20, 14, 5), local(20, 14, 20)), now=local(20, 14, 20), tz=SH
    )
    start, end = route_window(local(21, 9, 40), leaves=local(21, 8))
    assert whole.end - whole.start >= part.end - part.start >= end - start
    assert end - start <= timedelta(hours=2)


def test_a_stored_day_reads_back_as_the_same_day_and_part() -> None:
    for part in ("morning", "afternoon", "evening"):
        start, end = HOURS.part_bounds(local(21, 0).date(), part, SH)
        assert describe_day(start, end, tz=SH).part == part
    assert describe_day(*HOURS.bounds(local(21, 0).date(), SH), tz=SH).part is None


def test_a_plan_keeps_an_appointment_only_inside_it() -> None:
    booked = (local(20, 15), local(20, 17))
    assert keeps_appointment((local(20, 15, 15), local(20, 16, 45)), booked)
    assert not keeps_appointment((local(20, 16, 30), local(20, 18)), booked)


def test_a_parcel_that_missed_its_usual_departure_is_compared_with_those_that_waited_for_a_later_one() -> (
    None
):
    # Arrived around 06:00: most left at 09:00 and came the same afternoon; some missed
    # that truck, left at 15:00 and came the next morning.
    def arrived(day: int, minute: int, leaves_after: float, delivered_after: float) -> Passage:
        at = local(day, 6, minute)
        return Passage("arrived", "in_transit", "SC-SH-01", "next_day", at, at + timedelta(hours=delivered_after),
                       "上海", at + timedelta(hours=leaves_after))  # fmt: skip

    hist = DeliveryHistory.from_passages(
        [arrived(10 + i % 5, i, 3, 8.5) for i in range(20)]
        + [arrived(10 + i % 5, i, 9, 26) for i in range(15)],
        SH,
    )
    on_time = shape_day(estimate(hist, local(20, 6, 10), local(20, 7)), now=local(20, 7), tz=SH)
    assert on_time.day == local(20, 0).date()
    # 10:00 and no departure scan: not "this afternoon" any more.
    missed = shape_day(estimate(hist, local(20, 6, 10), local(20, 10)), now=local(20, 10), tz=SH)
    assert missed.day == local(21, 0).date()


def test_it_learns_only_from_scans_old_enough_that_their_slow_parcels_have_arrived_too() -> None:
    now = local(20, 14)

    def passage(at: datetime, hours: float) -> Passage:
        return Passage(
            "arrived", "in_transit", "SC-SH-01", "next_day", at, at + timedelta(hours=hours), "上海"
        )

    # Days ago: half next morning (19 h), half the day after (43 h). Since this morning
    # only the fast ones are known yet: the slow ones of this morning are still on their way.
    old = [passage(local(15 + i % 3, 13, i), 19 if i % 2 else 43) for i in range(40)]
    recent = [passage(local(19, 13, i), 19) for i in range(30)]
    for hist, expected in (
        (DeliveryHistory.from_passages([*old, *recent], SH), local(21, 0).date()),  # biased early
        (DeliveryHistory.from_passages([*old, *recent], SH, now=now), None),
    ):
        day = shape_day(estimate(hist, local(20, 13, 30), now), now=now, tz=SH)
        if expected is not None:
            assert day.day == expected
        else:
            # Without the incomplete scans: the old mix, where the earliest of two equal days wins,
            # and the next morning no longer outweighs the day after three to one.
            moments = estimate(hist, local(20, 13, 30), now).moments
            assert sum(m.astimezone(SH).date() == local(22, 0).date() for m in moments) >= len(moments) // 2


def test_a_far_city_parcel_is_compared_with_its_own_leg_before_the_near_cities_at_its_hour() -> None:
    # A warehouse's 16:00 trucks: thirty parcels for 上海 delivered the next morning. Its
    # parcels for 阿勒泰 take two and a half days, and none left at 16:00 lately (they
    # left at 10:00 and 22:00): too few at the hour, enough on the leg.
    def departed(at: datetime, city: str, hours: float) -> Passage:
        return Passage(
            "departed", "in_transit", "WH-SH-01", "standard", at, at + timedelta(hours=hours), city
        )

    hist = DeliveryHistory.from_passages(
        [departed(local(10 + i % 5, 16, i), "上海", 17) for i in range(30)]
        + [departed(local(10 + i % 5, 10 if i % 2 else 22, i), "阿勒泰", 60) for i in range(14)],
        SH,
    )
    now = local(20, 16, 30)
    est = estimate_delivery(
        event_type="departed", status="in_transit", facility="WH-SH-01", service_level="standard",
        destination="阿勒泰", entered_at=local(20, 16, 5), now=now, history=hist, tz=SH,
    )  # fmt: skip
    assert est is not None and est.basis == "history"
    assert shape_day(est, now=now, tz=SH).day == local(23, 0).date()


def test_a_leg_slower_than_its_history_is_old_is_told_by_its_parcels_still_on_their_way() -> None:
    # The warehouse's 上海 parcels come the next morning. Its 阿勒泰 parcels take two and a half
    # days: three were delivered, the others are still on their way, some for two days already.
    def departed(at: datetime, city: str, hours: float | None) -> Passage:
        done = at + timedelta(hours=hours) if hours is not None else None
        return Passage("departed", "in_transit", "WH-SH-01", "standard", at, done, city)

    now = local(20, 16, 30)
    near = [departed(local(10 + i % 5, 16, i), "上海", 17) for i in range(30)]
    far_done = [departed(local(15, 16, i), "阿勒泰", 60) for i in range(3)]
    far_on_way = [departed(now - timedelta(hours=4 + 3 * i), "阿勒泰", None) for i in range(16)]

    def shown(passages: list[Passage]) -> object:
        est = estimate_delivery(
            event_type="departed", status="in_transit", facility="WH-SH-01", service_level="standard",
            destination="阿勒泰", entered_at=local(20, 16, 5), now=now,
            history=DeliveryHistory.from_passages(passages, SH, now=now), tz=SH,
        )  # fmt: skip
        assert est is not None
        return est

    # Knowing only the deliveries, it pools the warehouse's near parcels: tomorrow, wrong.
    assert shape_day(shown([*near, *far_done]), now=now, tz=SH).day == local(21, 0).date()
    # With the leg's parcels on their way: what the slow ones that did arrive took.
    est = shown([*near, *far_done, *far_on_way])
    assert est.basis == "in_flight"
    assert shape_day(est, now=now, tz=SH).day == local(23, 0).date()
    # Most of them slower than any delivery yet (here: none delivered): no day can be told,
    # so none is shown (not the near city's), and it is estimated again in a few hours.
    est = shown([*near, *far_on_way])
    assert est.basis == "unknown" and est.moments == ()
    assert est.overdue_at is not None and now < est.overdue_at <= now + timedelta(hours=6)


def test_a_parcel_is_estimated_again_once_it_is_overdue_for_its_next_scan() -> None:
    # Arrived around 06:00; the 09:00 departure takes them all. A parcel with no departure
    # scan by 09:30 is held up: the estimate says so, and a new one compares it with the
    # parcels that waited for the 15:00 truck.
    def arrived(day: int, minute: int, leaves_at: int, delivered_after: float) -> Passage:
        at = local(day, 6, minute)
        return Passage("arrived", "in_transit", "SC-SH-01", "next_day", at, at + timedelta(hours=delivered_after),
                       "上海", local(day, leaves_at))  # fmt: skip

    hist = DeliveryHistory.from_passages(
        [arrived(10 + i % 5, i, 9, 8.5) for i in range(30)]
        + [arrived(10 + i % 3, i, 15, 26) for i in range(12)],
        SH,
    )
    first = estimate(hist, local(20, 6, 10), local(20, 6, 30))
    assert first.overdue_at is not None and local(20, 9) <= first.overdue_at < local(20, 10)
    assert shape_day(first, now=local(20, 6, 30), tz=SH).day == local(20, 0).date()
    held = estimate(hist, local(20, 6, 10), first.overdue_at)
    assert shape_day(held, now=first.overdue_at, tz=SH).day == local(21, 0).date()


def test_at_its_hour_a_parcel_is_compared_on_the_clock_with_the_parcels_still_waiting_then() -> None:
    # Packed around 22:00: those packed before the 22:00 truck came the next day, those
    # packed after it the day after. A parcel packed at 22:20 is one of the latter.
    def outbound(day: int, minute: int) -> Passage:
        at = local(day, 21, 0) + timedelta(minutes=minute)
        truck = local(day, 22) if at <= local(day, 22) else local(day + 1, 10)
        done = local(day + 1, 10) if at <= local(day, 22) else local(day + 2, 10)
        return Passage("outbound", "in_transit", "WH-SH-01", "next_day", at, done, "上海", truck)

    hist = DeliveryHistory.from_passages([outbound(10 + i % 5, 30 + i) for i in range(50)], SH)
    est = estimate_delivery(
        event_type="outbound", status="in_transit", facility="WH-SH-01", service_level="next_day",
        destination="上海", entered_at=local(20, 22, 20), now=local(20, 22, 20), history=hist, tz=SH,
    )  # fmt: skip
    assert est is not None and est.basis == "history"
    assert shape_day(est, now=local(20, 22, 20), tz=SH).day == local(22, 0).date()


def test_a_parcel_at_a_station_at_an_unusual_hour_goes_out_with_the_stations_next_round() -> None:
    # The station's parcels arrive around 21:45 and go out with the 08:00 round, delivered
    # that morning. One arrives at 09:40 (its sorting centre ran late): none of the history
    # waited there then, so at any hour the usual 10-13 h say "tomorrow"; the station's
    # route plans say a round leaves at 14:00, and parcels out at 08:00 take a few hours.
    def arrived(day: int, minute: int) -> Passage:
        at = local(day, 21, 30 + minute % 20)
        return Passage("arrived", "in_transit", "ST-SH-01", "next_day", at, local(day + 1, 9, minute % 50),
                       "上海", local(day + 1, 8))  # fmt: skip

    def out(day: int, minute: int) -> Passage:
        at = local(day, 8)
        return Passage("out_for_delivery", "out_for_delivery", "ST-SH-01", "next_day", at,
                       local(day, 9, minute % 50), "上海")  # fmt: skip

    passages = [arrived(10 + i % 5, i) for i in range(30)] + [out(11 + i % 5, i) for i in range(30)]
    without = DeliveryHistory.from_passages(passages, SH)
    with_rounds = DeliveryHistory.from_passages(passages, SH, rounds={"ST-SH-01": (8 * 3600.0, 14 * 3600.0)})
    now = local(20, 10)
    assert shape_day(at_station(without, now), now=now, tz=SH).day == local(21, 0).date()
    est = at_station(with_rounds, now)
    assert est.basis == "rounds" and shape_day(est, now=now, tz=SH).day == local(20, 0).date()
    assert min(est.moments) >= local(20, 14)
    # Not out with it half an hour after the round (left out of a full one): estimated again then.
    assert est.overdue_at == local(20, 14, 30)
    late = at_station(with_rounds, local(20, 14, 30))
    assert shape_day(late, now=local(20, 14, 30), tz=SH).day == local(21, 0).date()


def test_a_station_whose_parcels_keep_coming_back_does_not_send_the_estimate_round_in_circles() -> None:
    # Out with the 08:00 round, back at the station six hours later, every one of them:
    # next round, out, back, next round... was followed until Python's recursion limit.
    def back(day: int, minute: int) -> Passage:
        at = local(day, 8, minute % 30)
        return Passage("out_for_delivery", "out_for_delivery", "ST-SH-01", "next_day", at, None, "上海",
                       at + timedelta(hours=6), ("arrived", "in_transit", "ST-SH-01"))  # fmt: skip

    hist = DeliveryHistory.from_passages(
        [back(10 + i % 5, i) for i in range(30)], SH, rounds={"ST-SH-01": (8 * 3600.0, 14 * 3600.0)}
    )
    est = at_station(hist, local(20, 10))  # returns (with whatever it can tell), no RecursionError
    assert est is None or est.moments


def at_station(hist: DeliveryHistory, now: datetime) -> object:
    """A parcel that arrived at the station ST-SH-01 at 09:40 on the 20th, silent since."""
    return estimate_delivery(
        event_type="arrived", status="in_transit", facility="ST-SH-01", service_level="next_day",
        destination="上海", entered_at=local(20, 9, 40), now=now, history=hist, tz=SH,
    )  # fmt: skip


def test_a_far_city_parcel_with_too_few_deliveries_on_its_leg_follows_its_path_hop_by_hop() -> None:
    # Warehouse 上海 to 阿勒泰 takes about 58 h on the road: twelve parcels got to the
    # sorting centre there, none is delivered yet. The warehouse's 上海 parcels come the next
    # day. At the far sorting centre, parcels arriving around 20:00 are delivered the next
    # morning. A parcel that left the warehouse at 10:05 is followed there: two days on.
    def to_far(day: int, i: int) -> Passage:
        at = local(day, 10, i)
        return Passage("departed", "in_transit", "WH-SH-01", "standard", at, None, "阿勒泰",
                       at + timedelta(hours=58), ("arrived", "in_transit", "SC-ALT-01"))  # fmt: skip

    def near(day: int, i: int) -> Passage:
        at = local(day, 10, i)
        return Passage("departed", "in_transit", "WH-SH-01", "standard", at, at + timedelta(hours=24), "上海")

    def at_far_centre(day: int, i: int) -> Passage:
        at = local(day, 19, 30 + i)
        return Passage(
            "arrived", "in_transit", "SC-ALT-01", "standard", at, at + timedelta(hours=13), "阿勒泰"
        )

    now = local(20, 16, 30)
    passages = [near(10 + i % 8, i) for i in range(40)] + [at_far_centre(10 + i % 5, i) for i in range(20)]

    def shown(hops: list[Passage]) -> object:
        est = estimate_delivery(
            event_type="departed", status="in_transit", facility="WH-SH-01", service_level="standard",
            destination="阿勒泰", entered_at=local(20, 10, 5), now=now,
            history=DeliveryHistory.from_passages([*passages, *hops], SH, now=now), tz=SH,
        )  # fmt: skip
        assert est is not None
        return est

    # Without the far leg's parcels: the near city's day.
    assert shape_day(shown([]), now=now, tz=SH).day == local(21, 0).date()
    est = shown([to_far(14 + i % 4, i) for i in range(12)])
    assert est.basis == "path" and shape_day(est, now=now, tz=SH).day == local(23, 0).date()
    # Re-estimated once the parcel should have got to the next facility.
    assert est.overdue_at is not None and local(22, 20) <= est.overdue_at <= local(22, 21)


def test_a_leg_no_parcel_has_travelled_yet_is_timed_by_the_networks_line_hauls_and_their_distance() -> None:
    # No parcel from the 杭州 warehouse has reached 阿勒泰 yet; three from the 上海 warehouse
    # got to its sorting centre (so that is where a warehouse's parcels for 阿勒泰 go next), and
    # the network's line-hauls take half an hour plus about 1.1 minutes per km of distance.
    places = {
        "WH-SH-01": (31.23, 121.47, "warehouse"),
        "WH-HZ-01": (30.27, 120.15, "warehouse"),
        "SC-SH-01": (31.30, 121.50, "sorting_center"),
        "SC-HZ-01": (30.30, 120.20, "sorting_center"),
        "SC-ALT-01": (47.84, 88.14, "sorting_center"),
    }

    def haul(origin: str, to: str, city: str, day: int, i: int) -> Passage:
        at = local(day, 10, i)
        km = haversine_m(Point(*places[origin][:2]), Point(*places[to][:2])) / 1000
        return Passage("departed", "in_transit", origin, "standard", at, None, city,
                       at + timedelta(hours=0.5 + 0.018 * km), ("arrived", "in_transit", to))  # fmt: skip

    def at_far_centre(i: int) -> Passage:
        at = local(10 + i % 5, 21, i)
        return Passage(
            "arrived", "in_transit", "SC-ALT-01", "standard", at, at + timedelta(hours=13), "阿勒泰"
        )

    now = local(20, 16, 30)
    passages = (
        [haul("WH-SH-01", "SC-HZ-01", "杭州", 10 + i % 8, i) for i in range(20)]
        + [haul("WH-HZ-01", "SC-SH-01", "上海", 10 + i % 8, i) for i in range(20)]
        + [haul("WH-SH-01", "SC-ALT-01", "阿勒泰", 15 + i, i) for i in range(3)]
        + [at_far_centre(i) for i in range(20)]
    )
    hist = DeliveryHistory.from_passages(passages, SH, now=now, places=places)
    est = estimate_delivery(
        event_type="departed", status="in_transit", facility="WH-HZ-01", service_level="standard",
        destination="阿勒泰", entered_at=local(20, 10, 5), now=now, history=hist, tz=SH,
    )  # fmt: skip
    # About 60 h on the road: at the far sorting centre late on the 22nd, delivered the next day,
    # and estimated again if not there half an hour after the line-hauls say it should be.
    km = haversine_m(Point(*places["WH-HZ-01"][:2]), Point(*places["SC-ALT-01"][:2])) / 1000
    there = local(20, 10, 5) + timedelta(hours=0.5 + 0.018 * km)
    assert est is not None and est.basis == "path"
    assert shape_day(est, now=now, tz=SH).day == local(23, 0).date()
    assert est.overdue_at is not None and abs(est.overdue_at - there - timedelta(minutes=30)) < timedelta(
        minutes=5
    )


def test_looking_samples_up_by_clock_time_counts_exactly_the_samples_a_walk_would() -> None:
    # The sweep's estimate looks samples up by clock time instead of walking them all
    # (most of a due parcel's sweep time); it must count the same ones, in the same order.
    from tracker.sla.eta_shown import _DAY, _near_on_the_clock, _on_the_clock

    rng = random.Random(20261201)
    history = DeliveryHistory()
    for case in range(400):
        samples = sorted(
            (float(rng.randrange(int(_DAY))), rng.uniform(0, 4 * _DAY), rng.uniform(0, 2 * _DAY))
            for _ in range(rng.choice((10, 200, 2000)))
        )
        samples.sort(key=lambda s: s[1])
        key = ("case", str(case))
        tod = float(rng.choice((0, 1, 3600 * 23 + 3599, rng.randrange(int(_DAY)))))
        elapsed = rng.choice((0.0, 60.0, rng.uniform(0, 2 * _DAY)))
        span = rng.choice((1800.0, 4 * 3600.0, 11 * 3600.0, 13 * 3600.0, _DAY))

        near = _near_on_the_clock(history, key, samples, tod, elapsed, span)
        walked = [s for s in samples if _on_the_clock(tod, s[0], elapsed, span) is not None]
        assert [s for s in near if _on_the_clock(tod, s[0], elapsed, span) is not None] == walked


def test_of_days_named_equally_often_the_one_nearest_the_median_is_shown() -> None:
    # The stage defaults' low, likely and high moments fall on three days (17:00 on the
    # 20th, 07:00 on the 21st, 03:00 on the 22nd): the likely one's day, not the best case.
    now = local(20, 7, 30)
    est = estimate(DeliveryHistory(), local(20, 7), now)
    assert est is not None and est.basis == "defaults"
    assert len({m.astimezone(SH).date() for m in est.moments}) == 3


# A hub network: the hub (in 苏州, where no parcel goes) sends each city's parcels to that
# city's own sorting centre; 阿勒泰 is three thousand km away.
HUB_PLACES = {
    "HUB-01": (31.30, 120.59, "sorting_center"),
    "SC-SH-01": (31.30, 121.50, "sorting_center"),
    "SC-HZ-01": (30.30, 120.20, "sorting_center"),
    "SC-ALT-01": (47.84, 88.14, "sorting_center"),
}
HUB_CITIES = {"HUB-01": "苏州", "SC-SH-01": "上海", "SC-HZ-01": "杭州", "SC-ALT-01": "阿勒泰"}


def _hub_km(a: str, b: str) -> float:
    return haversine_m(Point(*HUB_PLACES[a][:2]), Point(*HUB_PLACES[b][:2])) / 1000


def _near_cities(clock: time) -> list[Passage]:
    """上海 and 杭州 parcels: off the hub at 17:xx, delivered the next morning; and at their own
    sorting centres up to ``clock``, delivered 13 h later. A warehouse's in-transit parcels (three
    days from the door) are in the history too."""
    passages = []
    for i in range(20):
        for city, centre in (("上海", "SC-SH-01"), ("杭州", "SC-HZ-01")):
            left = local(10 + i % 8, 17, i)
            there = left + timedelta(hours=0.5 + 0.018 * _hub_km("HUB-01", centre))
            passages.append(
                Passage(
                    "departed",
                    "in_transit",
                    "HUB-01",
                    "standard",
                    left,
                    left + timedelta(hours=17),
                    city,
                    there,
                    ("arrived", "in_transit", centre),
                )
            )
            at = datetime.combine(local(10 + i % 8, 0).date(), clock, tzinfo=SH) - timedelta(minutes=i)
            passages.append(
                Passage("arrived", "in_transit", centre, "standard", at, at + timedelta(hours=13), city)
            )
            for minute in (i, 30 + i):
                far = at - timedelta(minutes=minute)
                passages.append(
                    Passage(
                        "departed",
                        "in_transit",
                        "WH-SH-01",
                        "standard",
                        far,
                        far + timedelta(hours=72),
                        "乌鲁木齐",
                    )
                )
    return passages


def _to_far_city(clock: time, event_type: str, facility: str, entered: datetime, now: datetime) -> object:
    """The estimate for a 阿勒泰 parcel scanned at ``facility``, among the near cities' parcels."""
    hist = DeliveryHistory.from_passages(
        _near_cities(clock), SH, now=now, places=HUB_PLACES, cities=HUB_CITIES
    )
    return estimate_delivery(
        event_type=event_type, status="in_transit", facility=facility, service_level="standard",
        destination="阿勒泰", entered_at=entered, now=now, history=hist, tz=SH,
    )  # fmt: skip


def test_a_far_city_none_of_whose_parcels_arrived_yet_is_followed_to_its_own_sorting_centre() -> None:
    # No 阿勒泰 parcel has got past the hub yet. It goes to 阿勒泰's own sorting centre (the
    # only one there), the line-hauls say when; from there it goes like the other cities'
    # parcels from theirs. Not the next morning, like the 上海 and 杭州 parcels off the hub.
    left = local(20, 17, 5)
    there = left + timedelta(hours=0.5 + 0.018 * _hub_km("HUB-01", "SC-ALT-01"))
    now = local(21, 9, 0)
    est = _to_far_city(there.astimezone(SH).time(), "departed", "HUB-01", left, now)
    assert est is not None and est.basis == "path"
    assert (
        shape_day(est, now=now, tz=SH).day
        == HOURS.within(there + timedelta(hours=13), SH).astimezone(SH).date()
    )
    # Later than the line-hauls say and still not there: due now, still a far city's parcel.
    late = there + timedelta(hours=2)
    est = _to_far_city(there.astimezone(SH).time(), "departed", "HUB-01", left, late)
    assert est is not None and est.basis == "path"
    assert est.overdue_at == late + timedelta(minutes=30)


def test_a_far_citys_sorting_centre_with_no_deliveries_yet_is_told_by_the_other_cities_own_centres() -> None:
    # The first 阿勒泰 parcel at its sorting centre, 21:10: the 上海 and 杭州 parcels at theirs at
    # that hour were delivered 13 h later, the next morning. Every in-transit parcel at that
    # hour (a warehouse's, three days from the door) says nothing about it.
    now = local(20, 21, 10)
    est = _to_far_city(time(21, 0), "arrived", "SC-ALT-01", now, now)
    assert est is not None and est.basis == "history"
    assert shape_day(est, now=now, tz=SH).day == local(21, 0).date()
