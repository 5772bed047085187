"""What the page and its JSON say about when the parcel comes: the delay notice and a booked window.

(The day in transit and the route's window are in ``test_pages.py``; the sweep
writing them in ``tests/sweep/test_sweep.py``.) T0 is Friday 20 November, 12:00
in Shanghai.
"""

from __future__ import annotations

from datetime import timedelta
from html import unescape
from typing import Any

from sqlalchemy import select

from tests.conftest import T0
from tracker.cases.reasons import Reason
from tracker.cases.store import open_case
from tracker.core.db import write_transaction
from tracker.core.models import Parcel
from tracker.core.vocabulary import CaseType

H = timedelta(hours=1)
TOMORROW_MORNING = {
    "eta_start": T0 + 20 * H,
    "eta_end": T0 + 24 * H,
    "eta_source": "stages",
}  # Sat 08:00-12:00


def _open_at_risk(engine: Any, tn: str) -> None:
    with write_transaction(engine) as conn:
        pid = conn.scalar(select(Parcel.id).where(Parcel.tracking_number == tn))
        open_case(conn, pid, CaseType.AT_RISK, [Reason("eta_after_promise", "test")], now=T0, facility=None)


def test_an_at_risk_parcel_says_so_plainly_with_the_new_day_in_both_languages(
    parcels: Any, client: Any, engine: Any
) -> None:
    tn = parcels.make("in_transit")
    parcels.set(tn, promised_by=T0 + 11 * H, **TOMORROW_MORNING)  # promised by 23:00 today
    _open_at_risk(engine, tn)

    data = client.get(f"/api/v1/track/{tn}?lang=en").json
    assert data["delay"] == {
        "because": "at_risk",
        "date": "2026-11-21",
        "text": "Your parcel may arrive later than we promised. It is now expected on Sat, Nov 21.",
    }
    assert data["late"] is False and data["eta"]["date"] == "2026-11-21"
    html = unescape(client.get(f"/track/{tn}?lang=en").get_data(as_text=True))
    assert "It is now expected on Sat, Nov 21." in html
    zh = client.get(f"/api/v1/track/{tn}?lang=zh-CN").json["delay"]["text"]
    assert zh == "您的包裹可能晚于承诺时间送达。现预计 11月21日周六 送达。"
    assert zh in unescape(client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True))


def test_an_at_risk_case_beside_an_estimate_within_the_promise_names_no_day(
    parcels: Any, client: Any, engine: Any
) -> None:
    # Ops (or the sweep's stage quartiles) see a risk the estimate does not
    # show yet: the notice says so without naming a day inside the promise.
    tn = parcels.make("in_transit")
    parcels.set(tn, promised_by=T0 + 35 * H, **TOMORROW_MORNING)  # promised by Sat 23:00
    _open_at_risk(engine, tn)

    data = client.get(f"/api/v1/track/{tn}?lang=en").json
    assert data["delay"]["because"] == "at_risk" and data["delay"]["date"] is None
    assert data["delay"]["text"] == (
        "Your parcel may arrive later than we promised. We will tell you the new day as soon as it moves."
    )


def test_an_estimate_after_the_promised_day_is_a_delay_even_before_a_case_opens(
    parcels: Any, client: Any
) -> None:
    tn = parcels.make("in_transit")
    parcels.set(tn, promised_by=T0 + 11 * H, **TOMORROW_MORNING)
    delay = client.get(f"/api/v1/track/{tn}?lang=en").json["delay"]
    assert (delay["because"], delay["date"]) == ("estimate", "2026-11-21")

    on_time = parcels.make("in_transit")
    parcels.set(on_time, promised_by=T0 + 35 * H, **TOMORROW_MORNING)  # promised by Sat 23:00
    assert client.get(f"/api/v1/track/{on_time}").json["delay"] is None


def test_a_late_parcel_says_sorry_and_the_day_now_expected(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    parcels.set(tn, promised_by=T0 - H, **TOMORROW_MORNING)
    data = client.get(f"/api/v1/track/{tn}?lang=en").json
    assert data["late"] is True and data["delay"]["because"] == "late"
    assert data["delay"]["text"] == (
        "Your parcel is later than we promised. We are sorry, and we are on it. It is now expected on Sat, Nov 21."
    )


def test_a_booked_window_is_the_window_shown_and_the_page_says_the_plan_keeps_it(
    parcels: Any, client: Any
) -> None:
    tn = parcels.make("out_for_delivery")
    parcels.set(
        tn,
        appointment_start=T0 + 3 * H,  # 15:00-17:00
        appointment_end=T0 + 5 * H,
        eta_start=T0 + 3.25 * H,  # the route: 15:15-16:45
        eta_end=T0 + 4.75 * H,
        eta_source="route",
    )
    eta = client.get(f"/api/v1/track/{tn}?lang=en").json["eta"]
    assert eta == {
        "kind": "appointment",
        "date": "2026-11-20",
        "part": None,
        "start": "2026-11-20T15:00:00+08:00",
        "end": "2026-11-20T17:00:00+08:00",
        "plan": "keeps",
        "planned": {"start": "2026-11-20T15:15:00+08:00", "end": "2026-11-20T16:45:00+08:00"},
        "text": "Your delivery window: Fri, Nov 20, 15:00\u202f–\u2060\u202f17:00.",
    }
    html = unescape(client.get(f"/track/{tn}?lang=en").get_data(as_text=True))
    assert "Your delivery window: Fri, Nov 20, 15:00\u202f–\u2060\u202f17:00." in html
    assert "Today's route keeps your window: the courier is expected 15:15\u202f–\u2060\u202f16:45." in html
    assert "18:57" not in html and "Expected Fri" not in html  # the route's own window is not the headline
    zh = unescape(client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True))
    assert "您预约的送达时段：11月20日周五 15:00–\u206017:00。" in zh
    assert "今天的派送路线能守住您预约的时段：快递员预计 15:15–\u206016:45 到达。" in zh


def test_a_booked_window_the_plan_misses_or_has_not_planned_is_said_too(parcels: Any, client: Any) -> None:
    tn = parcels.make("out_for_delivery")
    booked = {"appointment_start": T0 + 3 * H, "appointment_end": T0 + 5 * H}
    parcels.set(tn, **booked, eta_start=T0 + 5.5 * H, eta_end=T0 + 7 * H, eta_source="route")  # 17:30-19:00
    eta = client.get(f"/api/v1/track/{tn}?lang=en").json["eta"]
    assert (eta["kind"], eta["plan"], eta["start"]) == ("appointment", "misses", "2026-11-20T15:00:00+08:00")
    html = unescape(client.get(f"/track/{tn}?lang=en").get_data(as_text=True))
    assert (
        "does not keep your window: the courier is expected 17:30\u202f–\u2060\u202f19:00. We are sorry."
        in html
    )
    zh = unescape(client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True))
    assert "今天的派送路线守不住您预约的时段：快递员预计 17:30–\u206019:00 到达。非常抱歉。" in zh

    waiting = parcels.make("in_transit")
    parcels.set(waiting, **booked, eta_start=T0, eta_end=T0 + 6 * H, eta_source="stages")
    eta = client.get(f"/api/v1/track/{waiting}?lang=en").json["eta"]
    assert (eta["kind"], eta["plan"], eta["planned"]) == ("appointment", "not_planned", None)
    assert "Not on a courier's route yet." in unescape(
        client.get(f"/track/{waiting}?lang=en").get_data(as_text=True)
    )


def test_a_route_planned_for_tomorrow_is_not_called_today_s(parcels: Any, client: Any) -> None:
    # Planned the evening before (T0 is Friday noon): Saturday's route, with Saturday's booked window.
    tn = parcels.make("out_for_delivery")
    parcels.set(
        tn,
        appointment_start=T0 + 22 * H,  # Sat 10:00-12:00
        appointment_end=T0 + 24 * H,
        eta_start=T0 + 22.25 * H,  # the route: Sat 10:15-11:45
        eta_end=T0 + 23.75 * H,
        eta_source="route",
    )
    assert client.get(f"/api/v1/track/{tn}?lang=en").json["eta"]["plan"] == "keeps"
    html = unescape(client.get(f"/track/{tn}?lang=en").get_data(as_text=True))
    assert (
        "The route for Sat, Nov 21 keeps your window: the courier is expected 10:15\u202f–\u2060\u202f11:45."
        in html
    )
    assert "Today's route" not in html
    zh = unescape(client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True))
    assert "11月21日周六的派送路线能守住您预约的时段：快递员预计 10:15–\u206011:45 到达。" in zh
    assert "今天的派送路线" not in zh
