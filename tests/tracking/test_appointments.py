"""Delivery appointments: which windows are offered, and choosing one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.conftest import T0
from tests.tracking.conftest import CODE
from tracker.core.models import Feedback, Parcel
from tracker.core.vocabulary import ParcelStatus
from tracker.tracking import view as tracking

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _facts(**changes: Any) -> tracking.ParcelFacts:
    base = dict(
        id=1, tracking_number="TRK1", registered=True, status=ParcelStatus.IN_TRANSIT, service_level="standard",
        recipient_name=None, recipient_phone=None, dest_city=None, dest_district=None, dest_address=None,
        pickup_point=None, promised_by=None, eta_start=None, eta_end=None, appointment_start=None,
        appointment_end=None, delivered_at=None, ready_for_pickup_at=None, updated_at=T0,
    )  # fmt: skip
    return tracking.ParcelFacts(**{**base, **changes})


def _local(windows: list[tuple[datetime, datetime]]) -> list[str]:
    return [f"{s.astimezone(SHANGHAI):%d %H:%M}-{e.astimezone(SHANGHAI):%H:%M}" for s, e in windows]


def test_it_offers_two_hour_windows_from_an_hour_ahead_over_three_days() -> None:
    windows = tracking.appointment_windows(_facts(), now=T0, tz=SHANGHAI)  # 12:00 on the 20th
    assert _local(windows)[:4] == ["20 13:00-15:00", "20 15:00-17:00", "20 17:00-19:00", "20 19:00-21:00"]
    assert _local(windows)[4:10] == [f"21 {h:02d}:00-{h + 2:02d}:00" for h in (9, 11, 13, 15, 17, 19)]
    assert _local(windows)[-1] == "22 19:00-21:00"
    assert len(windows) == 4 + 6 + 6
    assert all(s.tzinfo is UTC for s, _ in windows)


def test_it_starts_next_day_windows_on_the_day_of_the_promise() -> None:
    promise = datetime(2026, 11, 21, 23, 0, tzinfo=SHANGHAI)
    windows = tracking.appointment_windows(
        _facts(service_level="next_day", promised_by=promise), now=T0, tz=SHANGHAI
    )
    assert _local(windows)[0] == "21 09:00-11:00" and _local(windows)[-1] == "23 19:00-21:00"
    # A standard parcel with the same promise may be booked from today.
    standard = tracking.appointment_windows(_facts(promised_by=promise), now=T0, tz=SHANGHAI)
    assert _local(standard)[0] == "20 13:00-15:00"


def test_it_offers_no_window_once_the_last_mile_began_or_for_pickup_parcels() -> None:
    point = tracking.PickupPoint("PP-SH-011", "自提点", None, None)
    for facts in (
        _facts(status=ParcelStatus.OUT_FOR_DELIVERY),
        _facts(status=ParcelStatus.DELIVERED),
        _facts(pickup_point=point),
        _facts(registered=False),
    ):
        assert tracking.appointment_windows(facts, now=T0, tz=SHANGHAI) == []
    assert tracking.appointment_windows(_facts(status=ParcelStatus.FAILED_ATTEMPT), now=T0, tz=SHANGHAI)


def _book(client: Any, tn: str, start: str, end: str) -> Any:
    return client.post(
        f"/api/v1/track/{tn}/appointment", json={"verification": CODE, "start": start, "end": end}
    )


def test_it_stores_a_chosen_window_on_the_parcel_for_routing(parcels: Any, client: Any, engine: Any) -> None:
    tn = parcels.make("in_transit", service_level="standard")
    offered = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": CODE}).json["appointment_windows"]
    choice = offered[5]
    answer = _book(client, tn, choice["start"], choice["end"])
    assert answer.status_code == 200 and answer.json["appointment"] == choice
    with engine.connect() as conn:
        row = conn.execute(
            select(Parcel.appointment_start, Parcel.appointment_end).where(Parcel.tracking_number == tn)
        ).one()
        kinds = conn.execute(select(Feedback.kind)).scalars().all()
    assert row.appointment_start == datetime.fromisoformat(choice["start"])
    assert row.appointment_end - row.appointment_start == timedelta(hours=2)
    assert kinds == ["appointment"]
    assert client.get(f"/api/v1/track/{tn}").json["appointment"] == choice


def test_it_refuses_a_window_it_did_not_offer(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit", service_level="standard")
    assert _book(client, tn, "2026-11-20T12:30:00+08:00", "2026-11-20T14:30:00+08:00").status_code == 409
    assert _book(client, tn, "2026-11-25T09:00:00+08:00", "2026-11-25T11:00:00+08:00").status_code == 409
    delivered = parcels.make("delivered")
    assert (
        _book(client, delivered, "2026-11-21T09:00:00+08:00", "2026-11-21T11:00:00+08:00").status_code == 409
    )


def test_it_takes_a_window_from_the_page_form(parcels: Any, client: Any, engine: Any) -> None:
    tn = parcels.make("in_transit", service_level="standard")
    client.post(f"/track/{tn}/verify", data={"code": CODE})
    html = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    token = html.split('name="token" value="', 1)[1].split('"', 1)[0]
    window = html.split('name="window" value="', 1)[1].split('"', 1)[0]
    answer = client.post(f"/track/{tn}/appointment", data={"token": token, "window": window})
    assert answer.status_code == 303
    page = client.get(answer.headers["Location"].split("#")[0] + "&lang=en").get_data(as_text=True)
    assert "Your delivery window is saved." in page and "Your delivery window" in page
    with engine.connect() as conn:
        start = conn.scalar(select(Parcel.appointment_start).where(Parcel.tracking_number == tn))
    assert start == datetime.fromisoformat(window)


def test_a_booking_sets_aside_the_route_planned_for_another_window(parcels: Any, client: Any) -> None:
    # The plan was made before the booking: until the station plans again the
    # booked window is "not planned yet", not "today's route misses it".
    tn = parcels.make("in_transit", service_level="standard")
    parcels.set(tn, eta_start=T0 + timedelta(hours=1), eta_end=T0 + timedelta(hours=2), eta_source="route")
    assert client.get(f"/api/v1/track/{tn}").json["eta"]["kind"] == "window"
    offered = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": CODE}).json["appointment_windows"]
    choice = offered[-1]  # the third day's last window: nowhere near the route's
    assert _book(client, tn, choice["start"], choice["end"]).status_code == 200
    eta = client.get(f"/api/v1/track/{tn}").json["eta"]
    assert (eta["kind"], eta["plan"], eta["planned"]) == ("appointment", "not_planned", None)
    assert (eta["start"], eta["end"]) == (choice["start"], choice["end"])
