"""Complaints (投诉) reach ops as cases owing an answer; ops reads every report; the customer sees the outcome."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import insert, select

from tests.conftest import FakeClock, Personas
from tests.tracking.conftest import CODE
from tracker.cases import store as cases
from tracker.core.db import write_transaction
from tracker.core.models import Case, CaseEvent, Parcel


def _post(client: Any, tn: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/track/{tn}/feedback", json={"verification": CODE, **body})


def _case(engine: Any, case_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Case).where(Case.id == case_id)).one()


def _complaints(kind: str) -> float:
    return REGISTRY.get_sample_value("tracker_complaints_total", {"kind": kind}) or 0.0


def test_a_complaint_about_the_courier_opens_a_complaint_case_owing_an_answer_in_24_hours(
    parcels: Any, client: Any, engine: Any, clock: FakeClock
) -> None:
    before = _complaints("courier_conduct")
    tn = parcels.make("delivered")

    answer = _post(client, tn, {"kind": "complaint", "about": "courier_conduct", "comment": "态度很差"})

    assert answer.status_code == 201, answer.json
    case = _case(engine, answer.json["case_id"])
    assert case.type == "complaint" and case.courier_code == "C-SH011"
    assert (
        case.reasons[-1]["code"] == "complaint_courier_conduct" and "态度很差" in case.reasons[-1]["detail"]
    )
    assert case.due_at == clock() + timedelta(hours=24)
    assert _complaints("courier_conduct") == before + 1


def test_a_vip_customer_is_owed_an_answer_sooner(
    parcels: Any, client: Any, engine: Any, clock: FakeClock
) -> None:
    tn = parcels.make("collected", customer_tier="vip")

    answer = _post(client, tn, {"kind": "complaint", "about": "pickup_point_service"})

    case = _case(engine, answer.json["case_id"])
    assert case.facility_code == "PP-SH-011" and case.due_at == clock() + timedelta(hours=4)


def test_a_complaint_that_does_not_fit_the_parcel_is_a_409_naming_about(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")  # a door delivery: no pickup point

    answer = _post(client, tn, {"kind": "complaint", "about": "pickup_point_service"})

    assert answer.status_code == 409 and answer.json["error"]["fields"][0]["field"] == "about"


def test_late_reports_and_low_ratings_reach_ops_as_complaint_cases(
    parcels: Any, client: Any, engine: Any
) -> None:
    late_before = _complaints("late")
    slow = parcels.make("in_transit")
    rated = parcels.make("delivered")
    fine = parcels.make("delivered")

    late = _post(client, slow, {"kind": "late", "comment": "一周了"})
    low = _post(
        client, rated, {"kind": "rating", "packaging": 5, "courier": 1, "speed": 4, "comment": "扔在门口"}
    )
    good = _post(client, fine, {"kind": "rating", "packaging": 5, "courier": 4, "speed": 3})

    assert _case(engine, late.json["case_id"]).reasons[-1]["code"] == "complaint_late"
    low_case = _case(engine, low.json["case_id"])
    assert low_case.type == "complaint" and low_case.reasons[-1]["code"] == "low_rating"
    assert "courier 1/5" in low_case.reasons[-1]["detail"] and low_case.due_at is not None
    assert good.json["case_id"] is None
    assert _complaints("late") == late_before + 1


def test_ops_reads_every_report_filtered_and_paged(parcels: Any, client: Any, personas: Personas) -> None:
    slow, rated, fine = parcels.make("in_transit"), parcels.make("delivered"), parcels.make("delivered")
    _post(client, slow, {"kind": "late", "comment": "一周了"})
    _post(client, rated, {"kind": "rating", "packaging": 2, "courier": 3, "speed": 4, "comment": "盒子破了"})
    _post(client, fine, {"kind": "rating", "packaging": 5, "courier": 5, "speed": 5, "comment": "很好"})

    everything, url = [], "/api/v1/feedback?limit=2"
    while url:
        page = personas.ops.get(url)
        assert page.status_code == 200, page.json
        everything += page.json["feedback"]
        url = page.json["next"]
    low = personas.ops.get("/api/v1/feedback?low_rating=true").json["feedback"]
    late = personas.ops.get("/api/v1/feedback?about=late").json["feedback"]

    assert len(everything) == 3
    assert [(f["tracking_number"], f["comment"]) for f in low] == [(rated, "盒子破了")]
    assert low[0]["scores"] == {"packaging": 2, "courier": 3, "speed": 4} and low[0]["case_state"] == "open"
    assert [(f["kind"], f["comment"], f["about"]) for f in late] == [("late", "一周了", "late")]
    assert personas.merchant.get("/api/v1/feedback").status_code == 403
    assert personas.ops.get("/api/v1/feedback?kind=nonsense").status_code == 422


def test_the_verified_page_shows_each_report_with_its_case_and_ops_answer(
    parcels: Any, client: Any, engine: Any, clock: FakeClock
) -> None:
    tn = parcels.make("delivered")
    case_id = _post(client, tn, {"kind": "complaint", "about": "courier_conduct"}).json["case_id"]
    with write_transaction(engine) as conn:
        conn.execute(
            insert(CaseEvent).values(
                case_id=case_id,
                at=clock(),
                action="answered",
                actor="ops:1",
                note="我们已联系快递员，向您道歉。",
            )
        )
    client.post(f"/track/{tn}/verify", data={"code": CODE})

    page = client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True)

    assert "快递员服务" in page and "处理中" in page
    assert "我们已联系快递员，向您道歉。" in page
    with engine.connect() as conn:
        assert conn.scalar(select(Parcel.id).where(Parcel.tracking_number == tn)) is not None


def test_complaints_count_on_the_courier_and_pickup_point_scorecards(
    parcels: Any, client: Any, personas: Personas
) -> None:
    door, pickup = parcels.make("delivered"), parcels.make("collected")
    _post(client, door, {"kind": "complaint", "about": "courier_conduct"})
    _post(client, pickup, {"kind": "complaint", "about": "pickup_point_service"})

    courier = personas.ops.get("/api/v1/couriers/C-SH011/scorecard").json
    point = personas.ops.get("/api/v1/facilities/PP-SH-011/scorecard").json

    assert courier["complaints"]["by_kind"] == {"courier_conduct": 1}
    assert point["complaints"]["by_kind"] == {"pickup_point_service": 1}
    assert point["complaints"]["count"] == 1


def test_the_time_to_ops_first_answer_is_a_metric_by_kind(
    parcels: Any, client: Any, engine: Any, clock: FakeClock
) -> None:
    def answered(kind: str) -> float:
        return REGISTRY.get_sample_value("tracker_complaint_answer_seconds_count", {"kind": kind}) or 0.0

    before = answered("courier_conduct")
    tn = parcels.make("delivered")
    case_id = _post(client, tn, {"kind": "complaint", "about": "courier_conduct"}).json["case_id"]
    seconds = []
    for hours in (3, 5):
        with write_transaction(engine) as conn:
            at = clock() + timedelta(hours=hours)
            conn.execute(
                insert(CaseEvent).values(case_id=case_id, at=at, action="answered", actor="ops:1", note="好")
            )
            seconds.append(cases.observe_answer(conn, case_id, at=at))

    assert seconds == [3 * 3600.0, None]  # only the first answer counts
    assert answered("courier_conduct") == before + 1


def test_the_verified_json_lists_the_reports_and_ops_answers(
    parcels: Any, client: Any, engine: Any, clock: FakeClock
) -> None:
    tn = parcels.make("delivered")
    case_id = _post(client, tn, {"kind": "complaint", "about": "courier_conduct"}).json["case_id"]
    with write_transaction(engine) as conn:
        conn.execute(
            insert(CaseEvent).values(
                case_id=case_id, at=clock(), action="answered", actor="ops:1", note="抱歉"
            )
        )

    verified = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": CODE}).json
    public = client.get(f"/api/v1/track/{tn}").json

    assert [(r["kind"], r["about"], r["case_state"]) for r in verified["reports"]] == [
        ("complaint", "courier_conduct", "open")
    ]
    assert [(a["case_id"], a["message"]) for a in verified["answers"]] == [(case_id, "抱歉")]
    assert "reports" not in public and "answers" not in public
