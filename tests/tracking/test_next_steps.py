"""After a failed attempt: a new delivery window, or a pickup point to hold the parcel at."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.tracking.conftest import CODE
from tracker.core.models import Parcel


def _parcel(engine: Any, tn: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(Parcel.hold_at, Parcel.appointment_start).where(Parcel.tracking_number == tn)
        ).one()


def _token(html: str) -> str:
    return html.split('name="token" value="', 1)[1].split('"', 1)[0]


def test_the_verified_customer_is_offered_a_new_window_or_a_pickup_point(parcels: Any, client: Any) -> None:
    tn = parcels.make("failed_attempt")

    public = client.get(f"/api/v1/track/{tn}").json
    assert "next_steps" not in public
    assert "We missed you" not in client.get(f"/track/{tn}").get_data(as_text=True)

    steps = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": CODE}).json["next_steps"]
    # The failed attempt went out with C-SH011, whose station ST-SH-01 has this pickup point.
    assert steps["choose_window"] is True
    assert "PP-SH-011" in [p["facility"] for p in steps["hold_points"]]
    assert all(p["name"] for p in steps["hold_points"])

    client.post(f"/track/{tn}/verify?lang=en", data={"code": CODE})
    page = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    assert "We missed you" in page and 'name="facility" value="PP-SH-011"' in page
    assert (
        f'action="/track/{tn}/hold?lang=en"' in page and f'action="/track/{tn}/appointment?lang=en"' in page
    )


def test_booking_a_window_works_again_after_a_failed_attempt(parcels: Any, client: Any, engine: Any) -> None:
    tn = parcels.make("failed_attempt")
    windows = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": CODE}).json["appointment_windows"]
    assert windows

    booked = client.post(f"/api/v1/track/{tn}/appointment", json={"verification": CODE, **windows[0]})

    assert booked.status_code == 200, booked.json
    assert _parcel(engine, tn).appointment_start is not None


def test_a_hold_request_from_the_page_is_stored_in_the_chosen_language(
    parcels: Any, client: Any, engine: Any
) -> None:
    tn = parcels.make("failed_attempt")
    client.post(f"/track/{tn}/verify?lang=zh-CN", data={"code": CODE})
    token = _token(client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True))
    windows = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": CODE}).json["appointment_windows"]
    client.post(f"/api/v1/track/{tn}/appointment", json={"verification": CODE, **windows[0]})

    answer = client.post(f"/track/{tn}/hold?lang=zh-CN", data={"token": token, "facility": "PP-SH-011"})

    assert answer.status_code == 303 and "lang=zh-CN" in answer.headers["Location"]
    stored = _parcel(engine, tn)
    # Held at the point: the window chosen for the door is dropped.
    assert stored.hold_at == "PP-SH-011" and stored.appointment_start is None
    page = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "自提点" in page or "PP-SH-011" not in page  # the point is named by its name
    verified = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": CODE}).json
    assert verified["hold_at"]["facility"] == "PP-SH-011"
    assert "hold_at" not in client.get(f"/api/v1/track/{tn}").json


def test_a_hold_is_refused_where_it_does_not_fit(parcels: Any, client: Any) -> None:
    failed, moving = parcels.make("failed_attempt"), parcels.make("in_transit")

    def hold(tn: str, facility: str) -> Any:
        return client.post(f"/api/v1/track/{tn}/hold", json={"verification": CODE, "facility": facility})

    not_failed = hold(moving, "PP-SH-011")
    assert not_failed.status_code == 409 and not_failed.json["error"]["fields"][0]["field"] == "facility"
    elsewhere = hold(failed, "ST-SH-01")  # a station, not one of its pickup points
    assert elsewhere.status_code == 409 and elsewhere.json["error"]["fields"][0]["field"] == "facility"
    bad = hold(failed, "PP SH 011")
    assert bad.status_code == 422 and bad.json["error"]["fields"][0]["field"] == "facility"
    assert hold(failed, "PP-SH-011").json["hold_at"]["facility"] == "PP-SH-011"
    assert (
        client.post(
            f"/api/v1/track/{failed}/hold", json={"verification": "0000", "facility": "PP-SH-011"}
        ).status_code
        == 403
    )
