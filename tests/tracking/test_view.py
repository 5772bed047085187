"""The customer's view of a parcel, built from plain facts (no database, no Flask)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import T0
from tracker.core.vocabulary import EventType, ParcelStatus
from tracker.tracking import view as tracking

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _event(
    n: int, type_: EventType, minutes: float, facility: str | None = "SC-SH-01", **kw: Any
) -> tracking.TrackedEvent:
    at = T0 - timedelta(hours=6) + timedelta(minutes=minutes)
    return tracking.TrackedEvent(
        f"e{n}", type_, at, at, facility, f"{facility} name" if facility else None,
        kw.get("courier"), kw.get("reason"), kw.get("relation"),
    )  # fmt: skip


def _facts(status: ParcelStatus, *events: tracking.TrackedEvent, **changes: Any) -> tracking.ParcelFacts:
    base: dict[str, Any] = dict(
        id=1, tracking_number="TRK1", registered=True, status=status, service_level="211",
        recipient_name="张三丰", recipient_phone="13800001234", dest_city="上海", dest_district="黄浦区",
        dest_address="南京东路100号", pickup_point=None, promised_by=None, eta_start=None, eta_end=None,
        appointment_start=None, appointment_end=None, delivered_at=None, ready_for_pickup_at=None,
        updated_at=T0, events=events,
    )  # fmt: skip
    return tracking.ParcelFacts(**{**base, **changes})


def _view(facts: tracking.ParcelFacts, **kw: Any) -> tracking.PublicView:
    return tracking.public_view(facts, now=T0, hold=timedelta(hours=72), tz=SHANGHAI, **kw)


CREATED = _event(1, EventType.CREATED, 0, "WH-SH-01")
ARRIVED = _event(2, EventType.ARRIVED, 60)
OUT = _event(3, EventType.OUT_FOR_DELIVERY, 120, "ST-SH-01", courier="C-1")
FAILED = _event(4, EventType.DELIVERY_FAILED, 150, None, courier="C-1", reason="no_one_home")
BACK = _event(5, EventType.ARRIVED, 180, "ST-SH-01")
DELIVERED = _event(6, EventType.DELIVERED, 200, None, courier="C-1", relation="self")


def test_it_lists_the_timeline_newest_first_with_places() -> None:
    view = _view(_facts(ParcelStatus.OUT_FOR_DELIVERY, CREATED, ARRIVED, OUT))
    assert [e.type for e in view.events] == [EventType.OUT_FOR_DELIVERY, EventType.ARRIVED, EventType.CREATED]
    assert [e.place for e in view.events] == ["ST-SH-01 name", "SC-SH-01 name", "WH-SH-01 name"]


def test_it_names_only_the_district_for_a_scan_at_the_door() -> None:
    view = _view(_facts(ParcelStatus.DELIVERED, CREATED, OUT, DELIVERED))
    assert view.events[0].place == "上海 黄浦区"
    assert view.events[0].relation == "self"


def test_it_moves_the_progress_line_back_when_a_failed_parcel_returns_to_the_station() -> None:
    failed = _view(_facts(ParcelStatus.FAILED_ATTEMPT, CREATED, ARRIVED, OUT, FAILED))
    assert [s.state for s in failed.steps] == ["done", "done", "problem", "todo"]
    back = _view(_facts(ParcelStatus.IN_TRANSIT, CREATED, ARRIVED, OUT, FAILED, BACK))
    assert [s.state for s in back.steps] == ["done", "current", "todo", "todo"]


def test_it_keeps_a_delivered_parcel_at_the_end_of_the_line() -> None:
    late_scan = _event(7, EventType.ARRIVED, 300)
    view = _view(_facts(ParcelStatus.DELIVERED, CREATED, ARRIVED, OUT, DELIVERED, late_scan))
    assert [s.state for s in view.steps] == ["done", "done", "done", "done"]
    assert view.headline == "delivered" and view.delivered


def test_it_flags_a_parcel_held_up_on_its_current_step() -> None:
    held = _event(8, EventType.EXCEPTION, 90, reason="customs")
    secret = _event(9, EventType.EXCEPTION, 95, reason="courier lost it in the river")
    view = _view(_facts(ParcelStatus.EXCEPTION, CREATED, ARRIVED, held, secret))
    assert [s.state for s in view.steps] == ["done", "problem", "todo", "todo"]
    # Known reasons are shown; free text from a scanner is not.
    assert [e.reason for e in view.events[:2]] == [None, "customs"]


def test_it_is_late_past_the_promise_and_not_before() -> None:
    moving = _facts(ParcelStatus.IN_TRANSIT, CREATED, promised_by=T0 + timedelta(minutes=1))
    assert not tracking.is_late(moving, T0)
    assert tracking.is_late(moving, T0 + timedelta(minutes=2))
    on_time = replace(moving, status=ParcelStatus.DELIVERED, delivered_at=T0)
    assert not tracking.is_late(on_time, T0 + timedelta(days=3))


def test_a_later_window_the_customer_chose_is_not_a_promise_missed_before_it_ends() -> None:
    # Promised by 12:00 (T0); the customer booked 17:00-19:00 of that day, which the route keeps.
    window = (T0 + timedelta(hours=5), T0 + timedelta(hours=7))
    booked = _facts(
        ParcelStatus.IN_TRANSIT, CREATED, ARRIVED,
        promised_by=T0, appointment_start=window[0], appointment_end=window[1],
    )  # fmt: skip
    eta = tracking.ShownEta(
        "appointment", *window, T0.date(), plan="keeps", planned=(window[0], window[0] + timedelta(hours=1))
    )
    afternoon = T0 + timedelta(hours=2)
    assert not tracking.is_late(booked, afternoon)
    assert tracking.delay(booked, eta, now=afternoon, tz=SHANGHAI) is None
    assert tracking.is_late(booked, window[1] + timedelta(minutes=1))
    assert tracking.delay(booked, eta, now=window[1] + timedelta(minutes=1), tz=SHANGHAI).because == "late"
    # Without the booking the same parcel is late from 12:00.
    assert tracking.is_late(replace(booked, appointment_start=None, appointment_end=None), afternoon)


def test_an_at_risk_notice_names_no_day_that_is_the_promised_one() -> None:
    # Ops opened an at-risk case; the estimate is the promised day, later in it: naming the day
    # ("now expected on Wed, Dec 2" under "promised by Wed, Dec 2, 12:00") would say nothing new.
    facts = _facts(
        ParcelStatus.IN_TRANSIT, CREATED, ARRIVED, promised_by=T0 + timedelta(hours=1), at_risk_case=True
    )
    same_day = tracking.ShownEta("window", T0 + timedelta(hours=4), T0 + timedelta(hours=5), T0.date())
    assert tracking.delay(facts, same_day, now=T0, tz=SHANGHAI) == tracking.Delay("at_risk", None)
    next_day = tracking.ShownEta(
        "day", T0 + timedelta(days=1), T0 + timedelta(days=1, hours=6), T0.date() + timedelta(days=1)
    )
    assert tracking.delay(facts, next_day, now=T0, tz=SHANGHAI) == tracking.Delay("at_risk", next_day.day)


def test_it_hides_the_eta_once_delivered_and_the_windows_unless_verified() -> None:
    facts = _facts(
        ParcelStatus.IN_TRANSIT, CREATED, eta_start=T0 + timedelta(hours=1), eta_end=T0 + timedelta(hours=3)
    )
    eta = _view(facts).eta
    assert eta is not None and eta.kind == "day" and (eta.start, eta.end) == (facts.eta_start, facts.eta_end)
    assert eta.day == T0.astimezone(SHANGHAI).date()
    assert _view(facts).appointment_windows == ()
    assert _view(facts, verified=True).appointment_windows
    assert _view(replace(facts, status=ParcelStatus.DELIVERED)).eta is None


def test_a_hold_that_ends_while_the_point_is_shut_ends_at_the_closing_before_it() -> None:
    ready = T0 - timedelta(hours=3, minutes=29)  # 08:31 local on the 20th
    hold = timedelta(hours=72)
    # The hold's end, 08:31 on the 23rd, is before the point opens: 21:00 on the 22nd.
    assert tracking.held_until(ready, hold, "09:00-21:00", SHANGHAI) == T0 + timedelta(days=2, hours=9)
    assert tracking.held_until(ready, hold, "09:00 – 21:00", SHANGHAI) == T0 + timedelta(days=2, hours=9)
    # Open at 08:31 (from 08:00): the hold stands; so it does for hours it cannot read.
    for hours in ("08:00-20:00", "24 小时", "20:00-02:00", None):
        assert tracking.held_until(ready, hold, hours, SHANGHAI) == ready + hold, hours
    # After closing (22:00 + 72 h): the same day's closing.
    late = T0 + timedelta(hours=10)
    assert tracking.held_until(late, hold, "09:00-21:00", SHANGHAI) == late + hold - timedelta(hours=1)
