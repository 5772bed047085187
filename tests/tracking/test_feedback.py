"""Feedback rules: what a verified customer may report, and what it leaves behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from tests.tracking.conftest import CODE
from tracker.cases.store import Reason, open_case, resolve
from tracker.core.db import write_transaction
from tracker.core.models import Case, CaseEvent, Feedback, Parcel, Rating
from tracker.core.vocabulary import CaseType
from tracker.tracking import feedback

RATING = {"kind": "rating", "verification": CODE, "packaging": 5, "courier": 4, "speed": 3}


def _post(client: Any, tn: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/track/{tn}/feedback", json=body)


def _parcel_id(engine: Any, tn: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(Parcel.id).where(Parcel.tracking_number == tn)))


@pytest.mark.parametrize(
    "status", ["in_transit", "out_for_delivery", "failed_attempt", "available_for_pickup"]
)
def test_it_refuses_not_received_before_the_parcel_shows_delivered(
    status: str, parcels: Any, client: Any, engine: Any
) -> None:
    tn = parcels.make(status)
    answer = _post(client, tn, {"kind": "not_received", "verification": CODE})
    assert answer.status_code == 409
    assert answer.json["error"]["code"] == "conflict"
    with engine.connect() as conn:
        assert conn.scalar(select(Case.id).where(Case.type == CaseType.CUSTOMER_DISPUTE)) is None
        assert conn.scalar(select(Feedback.id)) is None


@pytest.mark.parametrize("status", ["delivered", "collected"])
def test_it_opens_a_customer_dispute_when_a_delivered_parcel_was_not_received(
    status: str, parcels: Any, client: Any, engine: Any
) -> None:
    tn = parcels.make(status)
    answer = _post(client, tn, {"kind": "not_received", "verification": CODE, "comment": "门口没有"})
    assert answer.status_code == 201
    assert answer.json["kind"] == "not_received" and answer.json["reference"].startswith("F")
    with engine.connect() as conn:
        case = conn.execute(select(Case).where(Case.type == CaseType.CUSTOMER_DISPUTE)).one()
        opened = conn.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)).one()
        stored = conn.execute(select(Feedback)).one()
    assert case.state == "open"
    assert opened.actor == "customer" and opened.action == "opened"
    assert case.reasons[0]["code"] == "customer_not_received"
    if status == "delivered":
        assert case.courier_code == "C-SH011"
    else:
        assert case.facility_code == "PP-SH-011"
    assert stored.kind == "not_received" and stored.case_id == case.id
    assert stored.payload["comment"] == "门口没有"


def test_it_keeps_one_rating_per_parcel_and_every_version_of_it(
    parcels: Any, client: Any, engine: Any, clock: Any
) -> None:
    tn = parcels.make("delivered")
    first = _post(client, tn, RATING)
    clock.advance(hours=2)
    second = _post(client, tn, {**RATING, "courier": 1, "comment": "态度不好"})
    assert (first.status_code, first.json["rating_revision"]) == (201, 1)
    assert (second.status_code, second.json["rating_revision"]) == (200, 2)
    parcel_id = _parcel_id(engine, tn)
    with engine.connect() as conn:
        ratings = conn.execute(select(Rating)).all()
        versions = conn.execute(select(Feedback.payload).order_by(Feedback.created_at)).scalars().all()
        current = feedback.current_rating(conn, parcel_id)
    assert len(ratings) == 1
    assert ratings[0].courier_code == "C-SH011" and ratings[0].revision == 2
    assert [v["courier"] for v in versions] == [4, 1]
    assert current == {"packaging": 5, "courier": 1, "speed": 3, "comment": "态度不好", "revision": 2}


def test_it_refuses_a_rating_before_delivery(parcels: Any, client: Any) -> None:
    tn = parcels.make("out_for_delivery")
    assert _post(client, tn, RATING).status_code == 409


@pytest.mark.parametrize(
    "change",
    [{"packaging": 0}, {"speed": 6}, {"courier": "five"}, {"comment": "x" * 1001}, {"stars": 5}],
)
def test_it_validates_rating_scores_and_fields(change: dict[str, Any], parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    answer = _post(client, tn, {**RATING, **change})
    assert answer.status_code == 422
    assert answer.json["error"]["fields"]


def test_it_adds_a_customer_damage_report_to_the_case_a_scan_opened(
    parcels: Any, client: Any, engine: Any, clock: Any
) -> None:
    tn = parcels.make("delivered")
    parcel_id = _parcel_id(engine, tn)
    with write_transaction(engine) as conn:
        open_case(
            conn, parcel_id, CaseType.DAMAGE, [Reason("damage_scan", "外箱破损 at SC-SH-01")], now=clock()
        )
    before = REGISTRY.get_sample_value("tracker_damage_reports_total", {"source": "customer"}) or 0
    answer = _post(
        client,
        tn,
        {"kind": "damaged", "verification": CODE, "description": "箱子压扁了", "photo_sha256": "a" * 64},
    )
    assert answer.status_code == 201
    with engine.connect() as conn:
        case = conn.execute(select(Case).where(Case.type == CaseType.DAMAGE)).one()
        actors = conn.execute(
            select(CaseEvent.actor).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        )
        assert list(actors.scalars()) == ["system", "customer"]
    assert [r["code"] for r in case.reasons] == ["damage_scan", "customer_damage_report"]
    assert "箱子压扁了" in case.reasons[1]["detail"]
    after = REGISTRY.get_sample_value("tracker_damage_reports_total", {"source": "customer"})
    assert after == before + 1


def test_it_refuses_a_damage_report_for_a_parcel_still_on_its_way(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    body = {"kind": "damaged", "verification": CODE, "description": "?"}
    assert _post(client, tn, body).status_code == 409


def test_it_records_a_late_report_with_what_the_promise_said(parcels: Any, client: Any, engine: Any) -> None:
    tn = parcels.make("in_transit")
    assert _post(client, tn, {"kind": "late", "verification": CODE, "comment": "还没到"}).status_code == 201
    with engine.connect() as conn:
        payload = conn.execute(select(Feedback.payload)).scalar_one()
    assert payload["status"] == "in_transit" and payload["comment"] == "还没到"
    assert set(payload) == {"comment", "promised_by", "promise_passed", "status"}


def test_it_lists_a_parcels_reports_for_detection_oldest_first(
    parcels: Any, client: Any, engine: Any, clock: Any
) -> None:
    tn = parcels.make("delivered")
    _post(client, tn, {"kind": "late", "verification": CODE})
    clock.advance(minutes=5)
    _post(client, tn, {"kind": "not_received", "verification": CODE})
    clock.advance(minutes=5)
    _post(client, tn, RATING)
    with engine.connect() as conn:
        everything = feedback.customer_reports(conn, _parcel_id(engine, tn))
        complaints = feedback.customer_reports(conn, _parcel_id(engine, tn), feedback.COMPLAINTS)
    assert [r["kind"] for r in everything] == ["late", "not_received", "rating"]
    assert [r["kind"] for r in complaints] == ["late", "not_received"]
    assert everything[1]["at"] == clock() - timedelta(minutes=5)


def test_it_keeps_a_complaint_and_its_case_history_after_the_case_is_resolved(
    parcels: Any, client: Any, engine: Any, clock: Any
) -> None:
    tn = parcels.make("delivered")
    _post(client, tn, {"kind": "not_received", "verification": CODE})
    with engine.connect() as conn:
        case_id = conn.scalar(select(Case.id))
    with write_transaction(engine) as conn:
        resolve(conn, case_id, "redelivered", now=clock(), actor="ops:1")
    with engine.connect() as conn:
        assert [r["kind"] for r in feedback.customer_reports(conn, _parcel_id(engine, tn))] == [
            "not_received"
        ]
        actions = conn.execute(
            select(CaseEvent.action).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        )
        assert list(actions.scalars()) == ["opened", "resolved"]


def test_it_takes_a_rating_from_the_page_form_of_a_verified_customer(
    parcels: Any, client: Any, engine: Any
) -> None:
    tn = parcels.make("delivered")
    client.post(f"/track/{tn}/verify", data={"code": CODE})
    page = client.get(f"/track/{tn}?lang=en").get_data(as_text=True)
    token = page.split('name="token" value="', 1)[1].split('"', 1)[0]
    answer = client.post(
        f"/track/{tn}/feedback",
        data={
            "token": token,
            "kind": "rating",
            "packaging": "4",
            "courier": "5",
            "speed": "5",
            "comment": "",
        },
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("?thanks=rating#feedback")
    thanks = client.get(answer.headers["Location"].split("#")[0] + "&lang=en").get_data(as_text=True)
    assert "Thank you for your rating." in thanks and "Update your rating" in thanks
    with engine.connect() as conn:
        assert conn.execute(select(Rating.packaging, Rating.courier, Rating.speed)).one() == (4, 5, 5)


def test_it_refuses_a_page_form_without_the_token_of_a_verified_page(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    form = {"kind": "late", "comment": "forged"}
    assert client.post(f"/track/{tn}/feedback", data=form).status_code == 403
    client.post(f"/track/{tn}/verify", data={"code": CODE})
    assert client.post(f"/track/{tn}/feedback", data={**form, "token": "0" * 64}).status_code == 403


def test_it_shows_only_the_feedback_forms_the_rules_allow(parcels: Any, client: Any) -> None:
    moving, delivered = parcels.make("in_transit"), parcels.make("delivered")
    for tn in (moving, delivered):
        client.post(f"/track/{tn}/verify", data={"code": CODE})
    on_the_way = client.get(f"/track/{moving}").get_data(as_text=True)
    arrived = client.get(f"/track/{delivered}").get_data(as_text=True)
    assert 'value="not_received"' not in on_the_way and 'value="rating"' not in on_the_way
    assert 'value="late"' in on_the_way
    assert 'value="not_received"' in arrived and 'value="rating"' in arrived and 'value="damaged"' in arrived


def test_a_bad_field_of_a_report_is_named_as_sent_not_after_its_kind(parcels: Any, client: Any) -> None:
    # The field is ``description``: the report's kind is not a level of the path.
    tn = parcels.make("delivered")
    answer = _post(client, tn, {"kind": "damaged", "verification": CODE, "description": "a\u0000b"})

    assert answer.status_code == 422
    assert [f["field"] for f in answer.json["error"]["fields"]] == ["description"]


@pytest.mark.parametrize("kind", [{}, [], None, 3, "nope"])
def test_a_kind_that_is_none_of_the_reports_is_a_422(kind: Any, parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    answer = _post(client, tn, {"kind": kind, "verification": CODE})

    assert answer.status_code == 422
    assert "not_received, damaged, late, rating" in answer.json["error"]["fields"][0]["message"]
