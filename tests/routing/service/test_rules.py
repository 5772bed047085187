"""The planning rules on their own: which window a parcel gets, what a customer is told."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tracker.core.errors import ValidationFailed
from tracker.routing import TimeWindow
from tracker.routing.planning import Candidate, PlanOptions, eta_window, shift_bounds, stop_window

SH = ZoneInfo("Asia/Shanghai")
SHIFT_START = datetime(2026, 11, 20, 8, 0, tzinfo=SH)
SHIFT_END = datetime(2026, 11, 20, 20, 0, tzinfo=SH)


def parcel(**fields: datetime | None) -> Candidate:
    values: dict[str, datetime | None] = {
        "appointment_start": None,
        "appointment_end": None,
        "promised_by": None,
    }
    values.update(fields)
    return Candidate(1, "TRK0000001", 31.2, 121.4, 1.0, "normal", route_eta=False, **values)  # type: ignore[arg-type]


def local(hour: int, minute: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


def test_it_uses_the_appointment_then_the_promise_as_a_parcels_window() -> None:
    appointment = parcel(appointment_start=local(14), appointment_end=local(16), promised_by=local(23))

    assert stop_window(appointment, SHIFT_START, SHIFT_END) == TimeWindow(local(14), local(16))
    assert stop_window(parcel(promised_by=local(18)), SHIFT_START, SHIFT_END) == TimeWindow(None, local(18))
    assert stop_window(parcel(), SHIFT_START, SHIFT_END) == TimeWindow()


def test_it_sends_a_late_parcel_out_without_a_window_and_keeps_a_later_appointment_for_its_day() -> None:
    missed = parcel(
        appointment_start=local(9, day=19), appointment_end=local(11, day=19), promised_by=local(23, day=19)
    )
    tomorrow = parcel(appointment_start=local(9, day=21), appointment_end=local(11, day=21))

    assert stop_window(missed, SHIFT_START, SHIFT_END) == TimeWindow()
    assert stop_window(tomorrow, SHIFT_START, SHIFT_END) is None


def test_it_tells_a_customer_from_30_minutes_before_service_to_an_hour_after_on_quarter_hours() -> None:
    service = local(14, 7).replace(second=40)

    # 13:37:40 - 15:07:40, widened outward to quarter hours: never to the minute, at most 2 hours.
    assert eta_window(service, leaves=local(13)) == (local(13, 30), local(15, 15))
    # Not before the courier leaves the station, nor before the appointment opens.
    assert eta_window(service, leaves=local(14)) == (local(14), local(15, 15))
    assert eta_window(service, leaves=local(13), opens=local(14, 5)) == (local(14, 15), local(15, 15))


def test_it_starts_a_shift_already_under_way_at_the_next_minute() -> None:
    now = datetime(2026, 11, 20, 4, 0, 30, tzinfo=UTC)  # 12:00:30 in Shanghai
    options = PlanOptions(day=date(2026, 11, 20))

    assert shift_bounds(options, now=now, zone=SH) == (local(12, 1), SHIFT_END)
    tomorrow = PlanOptions(day=date(2026, 11, 21), shift_start=time(9), shift_end=time(17))
    assert shift_bounds(tomorrow, now=now, zone=SH) == (local(9, day=21), local(17, day=21))
    with pytest.raises(ValidationFailed):
        shift_bounds(PlanOptions(day=date(2026, 11, 20), shift_end=time(12)), now=now, zone=SH)
    assert shift_bounds(options, now=now - timedelta(hours=5), zone=SH)[0] == SHIFT_START
