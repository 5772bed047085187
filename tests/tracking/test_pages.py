"""The tracking pages: search, not found, malformed numbers, and what a parcel page shows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tests.conftest import T0


def test_it_offers_a_search_form_that_leads_to_the_parcel(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    form = client.get("/track?lang=en").get_data(as_text=True)
    assert '<label for="tn">Tracking number</label>' in form and 'name="tn"' in form
    answer = client.get("/track", query_string={"tn": f" {tn[:4]} {tn[4:]} "})
    assert answer.status_code == 303 and answer.headers["Location"] == f"/track/{tn}"


def test_it_finds_a_parcel_typed_in_lower_case(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    answer = client.get(f"/api/v1/track/{tn.lower()}")
    assert answer.status_code == 200 and answer.json["tracking_number"] == tn


def test_it_explains_a_malformed_tracking_number(client: Any) -> None:
    for path in ("/track?tn=ab%24%25&lang=en", "/track/ab$%25?lang=en", "/track/TOO?lang=en"):
        page = client.get(path)
        assert page.status_code == 400, path
        html = page.get_data(as_text=True)
        assert "A tracking number has 6 to 40 letters, digits and dashes" in html
        assert 'role="alert"' in html and 'aria-invalid="true"' in html
    data = client.get("/api/v1/track/ab")
    assert data.status_code == 422 and data.json["error"]["fields"][0]["field"] == "tracking_number"


def test_it_shows_a_friendly_not_found_page_with_the_search_form(client: Any) -> None:
    page = client.get("/track/TRK9999999999?lang=en")
    assert page.status_code == 404
    html = page.get_data(as_text=True)
    assert "<h1>We can't find that parcel</h1>" in html and "TRK9999999999" in html
    assert 'role="search"' in html
    data = client.get("/api/v1/track/TRK9999999999")
    assert data.status_code == 404 and data.json["error"]["code"] == "not_found"


def test_it_escapes_whatever_the_visitor_typed(client: Any) -> None:
    html = client.get("/track", query_string={"tn": "<script>alert(1)</script>"}).get_data(as_text=True)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_it_shows_status_progress_and_the_newest_event_first(parcels: Any, client: Any) -> None:
    tn = parcels.make("out_for_delivery")
    html = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    assert '<h1 id="headline" class="status status-out_for_delivery">Out for delivery</h1>' in html
    steps = re.findall(r'<li class="step (\w+)"', html)
    assert steps == ["done", "done", "current", "todo"]
    assert 'aria-current="step"' in html
    events = re.findall(r'<span class="what">([^<]+)</span>', html)
    assert events[0] == "Out for delivery" and events[-1] == "Shipping label created"
    assert "上海分拣中心" in html  # place names from the facilities table


def test_it_marks_the_current_step_as_a_problem_after_a_failed_attempt(parcels: Any, client: Any) -> None:
    tn = parcels.make("failed_attempt")
    data = client.get(f"/api/v1/track/{tn}?lang=en").json
    assert [s["state"] for s in data["progress"]["steps"]] == ["done", "done", "problem", "todo"]
    assert data["events"][0]["text"] == "Delivery attempt failed: no one was home"


def test_it_shows_where_and_until_when_a_pickup_parcel_waits(parcels: Any, client: Any) -> None:
    tn = parcels.make("available_for_pickup")  # ready at 2026-11-20 09:00 Shanghai
    data = client.get(f"/api/v1/track/{tn}?lang=en").json
    assert data["headline"]["code"] == "ready_for_pickup"
    assert data["progress"]["path"] == "pickup"
    assert [s["key"] for s in data["progress"]["steps"]] == [
        "received",
        "in_transit",
        "ready_for_pickup",
        "collected",
    ]
    pickup = data["pickup"]
    assert (
        pickup["name"].endswith("自提点") and pickup["opening_hours"] == "09:00-21:00" and pickup["address"]
    )
    assert pickup["held_until"] == "2026-11-23T09:00:00+08:00"  # 72 h hold by default
    html = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    assert "Held until" in html and "Mon, Nov 23, 09:00" in html


def test_it_holds_pickup_parcels_for_the_configured_time(parcels: Any, app_with: Any) -> None:
    tn = parcels.make("available_for_pickup")
    client = app_with(pickup_hold=timedelta(hours=24)).test_client()
    assert client.get(f"/api/v1/track/{tn}").json["pickup"]["held_until"] == "2026-11-21T09:00:00+08:00"


def test_it_shows_the_promise_and_the_day_expected_in_transit(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    parcels.set(
        tn,
        promised_by=T0 + timedelta(hours=11),
        # What the sweep stores for "this afternoon": the part's bounds (T0 is 12:00 local).
        eta_start=T0,
        eta_end=T0 + timedelta(hours=6),
        eta_source="stages",
    )
    data = client.get(f"/api/v1/track/{tn}?lang=en").json
    assert data["promised_by"] == "2026-11-20T23:00:00+08:00"
    assert data["eta"] == {
        "kind": "day",
        "date": "2026-11-20",
        "part": "afternoon",
        "start": "2026-11-20T12:00:00+08:00",
        "end": "2026-11-20T18:00:00+08:00",
        "plan": None,
        "planned": None,
        "text": "Expected on Fri, Nov 20, in the afternoon.",
    }
    assert data["late"] is False and data["delay"] is None
    html = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    assert "Promised by" in html and "Fri, Nov 20, 23:00" in html
    assert "Expected on Fri, Nov 20, in the afternoon." in html
    assert "12:00" not in html.split('id="eta"')[1].split("</p>")[0]  # a part of the day, not times
    zh = client.get(f"/api/v1/track/{tn}?lang=zh-CN").json["eta"]["text"]
    assert zh == "预计 11月20日周五下午送达。"
    # The facts under the headline write the day and its part as the headline does.
    assert "<dd>Fri, Nov 20, in the afternoon</dd>" in html
    assert "<dd>11月20日周五下午</dd>" in client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True)


def test_it_shows_a_planned_route_as_a_window_of_two_hours_at_most(parcels: Any, client: Any) -> None:
    tn = parcels.make("out_for_delivery")
    parcels.set(
        tn,
        promised_by=T0 + timedelta(hours=11),
        eta_start=T0 + timedelta(hours=3),
        eta_end=T0 + timedelta(hours=4, minutes=30),
        eta_source="route",
    )
    data = client.get(f"/api/v1/track/{tn}?lang=en").json
    assert data["eta"]["kind"] == "window" and data["eta"]["part"] is None
    assert (data["eta"]["start"], data["eta"]["end"]) == (
        "2026-11-20T15:00:00+08:00",
        "2026-11-20T16:30:00+08:00",
    )
    html = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    assert (
        "Expected Fri, Nov 20, 15:00\u202f–\u2060\u202f16:30." in html
    )  # narrow no-break spaces around the dash
    zh = client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True)
    assert "预计 11月20日周五 15:00–\u206016:30 送达。" in zh


def test_it_says_sorry_when_the_promise_has_passed(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    parcels.set(tn, promised_by=T0 - timedelta(minutes=1))
    assert client.get(f"/api/v1/track/{tn}").json["late"] is True
    assert "later than we promised" in client.get(f"/track/{tn}?lang=en").get_data(as_text=True)


def test_it_tells_a_registered_parcel_without_scans_what_comes_next(parcels: Any, client: Any) -> None:
    tn = parcels.make("info_received")
    html = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    assert "Order received, waiting for the parcel" in html
    assert "Updates appear here as soon as it is scanned." in html


def test_it_serves_pages_with_no_external_asset_and_a_strict_policy(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    page = client.get(f"/track/{tn}")
    html = page.get_data(as_text=True)
    assert not re.search(r"""(src|href)=["'](https?:)?//""", html)
    assert "<script" not in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    with client.get("/static/tracker.css") as css:
        assert css.status_code == 200
        text = css.get_data(as_text=True)
    assert "@import" not in text and "url(" not in text


def test_it_labels_every_form_field(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    client.post(f"/track/{tn}/verify", data={"code": "1234"})
    for html in (
        client.get(f"/track/{tn}").get_data(as_text=True),
        client.get("/track").get_data(as_text=True),
    ):
        for field_id in re.findall(r'<(?:input|textarea)[^>]*\bid="([^"]+)"', html):
            assert f'for="{field_id}"' in html, field_id
        # Radio buttons sit inside their <label>; hidden fields need none.
        for tag in re.findall(r"<input[^>]*>", html):
            if 'type="radio"' in tag or 'type="hidden"' in tag:
                continue
            assert "id=" in tag, tag
