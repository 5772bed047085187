"""The case queue (filters, priority order, pages) and working a case (actions, history, JSON twins)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.conftest import FakeClock, Personas
from tests.console.conftest import Console, add_case, add_parcel
from tracker.cases.store import customer_answers
from tracker.console import queue
from tracker.core.db import make_engine
from tracker.core.models import Case, CaseEvent
from tracker.core.replicas import ReadRouter
from tracker.core.vocabulary import CaseType, CustomerTier

ROW = re.compile(r'<tr class="case-row[^"]*" data-case-id="(\d+)"')


def listed(console: Console, query: str = "") -> list[int]:
    answer = console.get(f"/ops/cases?lang=en{query}")
    assert answer.status_code == 200
    return [int(i) for i in ROW.findall(answer.get_data(as_text=True))]


def test_it_puts_vip_first_then_the_most_serious_type_then_the_earliest_due(
    ops: Console, engine: Engine, clock: FakeClock
) -> None:
    stale_old = add_case(engine, clock, "TRK0000000001", CaseType.STALE, hours_ago=30)
    dispute = add_case(engine, clock, "TRK0000000002", CaseType.CUSTOMER_DISPUTE, hours_ago=1)
    fake_new = add_case(engine, clock, "TRK0000000003", CaseType.SUSPECTED_FAKE_DELIVERY, hours_ago=1)
    fake_old = add_case(engine, clock, "TRK0000000004", CaseType.SUSPECTED_FAKE_DELIVERY, hours_ago=5)
    vip_stale = add_case(engine, clock, "TRK0000000005", CaseType.STALE, tier=CustomerTier.VIP)
    assert listed(ops) == [vip_stale, dispute, fake_old, fake_new, stale_old]
    page = ops.get("/ops/cases?lang=en").get_data(as_text=True)
    assert "overdue" in page  # the 5-hour-old fake delivery is past its 4 hours


def test_it_filters_the_queue_by_type_status_facility_courier_tier_and_age(
    ops: Console, engine: Engine, clock: FakeClock
) -> None:
    a = add_case(engine, clock, "TRK0000000011", CaseType.DAMAGE, facility="SC-SH-01", hours_ago=30)
    b = add_case(engine, clock, "TRK0000000012", CaseType.SUSPECTED_FAKE_DELIVERY, courier="C-SH011")
    c = add_case(engine, clock, "TRK0000000013", CaseType.STALE, tier=CustomerTier.VIP, hours_ago=2)
    assert listed(ops, "&type=damage") == [a]
    assert listed(ops, "&facility=SC-SH-01") == [a]
    assert listed(ops, "&courier=C-SH011") == [b]
    assert listed(ops, "&tier=vip") == [c]
    assert listed(ops, "&age=1h") == [c, a]
    assert listed(ops, "&age=24h") == [a]
    ops.get(f"/ops/cases/{b}")
    ops.post(f"/ops/cases/{b}/resolve", {"resolution": "false_alarm"})
    assert b not in listed(ops)
    assert listed(ops, "&status=resolved") == [b]
    assert sorted(listed(ops, "&status=all")) == sorted([a, b, c])
    assert listed(ops, "&type=not-a-type") == listed(ops)  # an unknown choice is no filter


def test_it_pages_the_queue_and_keeps_the_filters_on_the_links(
    ops: Console, engine: Engine, clock: FakeClock
) -> None:
    ids = [add_case(engine, clock, f"TRK00000001{i:02d}", CaseType.STALE, hours_ago=i) for i in range(30)]
    first = listed(ops, "&type=stale")
    second = listed(ops, "&type=stale&page=2")
    assert len(first) == queue.PAGE_SIZE and len(second) == 30 - queue.PAGE_SIZE
    assert first + second == list(reversed(ids))  # the oldest is due first
    html = ops.get("/ops/cases?lang=en&type=stale").get_data(as_text=True)
    assert 'href="/ops/cases?type=stale&amp;page=2&amp;lang=en"' in html


def _history(engine: Engine, case_id: int) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(CaseEvent.action, CaseEvent.actor, CaseEvent.note)
            .where(CaseEvent.case_id == case_id)
            .order_by(CaseEvent.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def test_it_works_a_case_from_open_to_resolved_with_the_user_as_actor(
    ops: Console, engine: Engine, clock: FakeClock
) -> None:
    case_id = add_case(engine, clock, "TRK0000000021", CaseType.SUSPECTED_FAKE_DELIVERY, courier="C-SH011")
    page = ops.get(f"/ops/cases/{case_id}?lang=en")
    assert "suspected_fake_delivery for TRK0000000021" in page.get_data(as_text=True)
    steps = [
        ("acknowledge", {"note": "looking"}),
        ("assign", {"assignee": "wang.admin"}),
        ("answer", {"message": "我们正在与快递员核实，今天内给您回复。"}),
        ("resolve", {"resolution": "confirmed", "note": "courier admitted"}),
    ]
    for action, form in steps:
        answer = ops.post(f"/ops/cases/{case_id}/{action}?lang=en", form)
        assert answer.status_code == 303, answer.get_data(as_text=True)
        assert answer.headers["Location"] == f"/ops/cases/{case_id}?done={action}&lang=en#history"
        ops.get(answer.headers["Location"])
    assert _history(engine, case_id)[1:] == [
        ("acknowledged", "user:li.na", "looking"),
        ("assigned", "user:li.na", None),
        ("answered", "user:li.na", "我们正在与快递员核实，今天内给您回复。"),
        ("resolved", "user:li.na", "courier admitted"),
    ]
    with engine.connect() as conn:
        case = conn.execute(
            select(Case.state, Case.resolution, Case.assignee).where(Case.id == case_id)
        ).one()
    assert tuple(case) == ("resolved", "confirmed", "wang.admin")
    html = ops.get(f"/ops/cases/{case_id}?lang=en").get_data(as_text=True)
    assert "Answered the customer" in html and "user:li.na" in html


def test_it_shows_the_form_again_with_what_is_wrong(ops: Console, engine: Engine, clock: FakeClock) -> None:
    case_id = add_case(engine, clock, "TRK0000000031", CaseType.DAMAGE)
    ops.get(f"/ops/cases/{case_id}")
    blank = ops.post(f"/ops/cases/{case_id}/answer?lang=en", {"message": "   "})
    assert blank.status_code == 422
    assert "message:" in blank.get_data(as_text=True)
    unknown = ops.post(f"/ops/cases/{case_id}/assign", {"assignee": "nobody"})
    assert unknown.status_code == 422 and "assignee:" in unknown.get_data(as_text=True)
    malformed = ops.post(f"/ops/cases/{case_id}/assign", {"assignee": "no such user!"})
    assert malformed.status_code == 422
    assert ops.post(f"/ops/cases/{case_id}/resolve", {"resolution": "maybe"}).status_code == 422
    assert ops.post(f"/ops/cases/{case_id}/resolve", {"resolution": "no_action"}).status_code == 303
    again = ops.post(f"/ops/cases/{case_id}/resolve?lang=en", {"resolution": "no_action"})
    assert again.status_code == 409 and "already resolved" in again.get_data(as_text=True)
    assert ops.post(f"/ops/cases/{case_id}/acknowledge", {}).status_code == 409
    assert ops.post(f"/ops/cases/{case_id}/frobnicate", {}).status_code == 404
    assert ops.get("/ops/cases/999999").status_code == 404


def test_ops_keys_answer_and_assign_through_the_json_api(
    personas: Personas, engine: Engine, clock: FakeClock, users: dict[str, int]
) -> None:
    case_id = add_case(engine, clock, "TRK0000000041", CaseType.CUSTOMER_DISPUTE)
    first = personas.ops.post(
        f"/api/v1/cases/{case_id}/answer", json={"message": "Checking with the courier."}
    )
    assert first.status_code == 200, first.get_json()
    clock.advance(minutes=5)
    second = personas.ops.post(
        f"/api/v1/cases/{case_id}/answer", json={"message": "Found: with the neighbour."}
    )
    assert [e["action"] for e in second.get_json()["history"]][-2:] == ["answered", "answered"]
    assert second.get_json()["history"][-1]["actor"].startswith("ops:")
    blank = personas.ops.post(f"/api/v1/cases/{case_id}/answer", json={"message": ""})
    assert blank.status_code == 422 and blank.get_json()["error"]["fields"][0]["field"] == "message"
    assert personas.courier.post(f"/api/v1/cases/{case_id}/answer", json={"message": "hi"}).status_code == 403

    assigned = personas.ops.post(f"/api/v1/cases/{case_id}/assign", json={"assignee": "li.na"})
    assert assigned.status_code == 200 and assigned.get_json()["assignee"] == "li.na"
    nobody = personas.ops.post(f"/api/v1/cases/{case_id}/assign", json={"assignee": "ghost"})
    assert nobody.status_code == 422 and nobody.get_json()["error"]["fields"][0]["field"] == "assignee"

    with engine.connect() as conn:
        parcel_id = conn.scalar(select(Case.parcel_id).where(Case.id == case_id))
        answers = customer_answers(conn, parcel_id)
    assert [a["message"] for a in answers] == ["Found: with the neighbour.", "Checking with the courier."]
    assert answers[0]["case_id"] == case_id and answers[0]["at"] > answers[1]["at"]


def test_customer_answers_are_empty_for_a_parcel_nobody_answered(engine: Engine, clock: FakeClock) -> None:
    parcel_id = add_parcel(engine, clock, "TRK0000000051")
    add_case(engine, clock, "TRK0000000051", CaseType.STALE)
    with engine.connect() as conn:
        assert customer_answers(conn, parcel_id) == []


def test_an_ops_user_cannot_revoke_keys_an_admin_can(
    ops: Console, admin: Console, personas: Personas, engine: Engine
) -> None:
    listing = ops.get("/ops/keys?lang=en").get_data(as_text=True)
    assert personas.merchant.key[:12] in listing
    assert "Revoke</button>" not in listing  # no button for an ops user
    from tracker.core.models import ApiKey

    with engine.connect() as conn:
        merchant_id = conn.scalar(select(ApiKey.id).where(ApiKey.prefix == personas.merchant.key[:12]))
    refused = ops.post(f"/ops/keys/{merchant_id}/revoke")
    assert refused.status_code == 403
    admin_page = admin.get("/ops/keys?lang=en").get_data(as_text=True)
    assert "Revoke</button>" in admin_page
    done = admin.post(f"/ops/keys/{merchant_id}/revoke")
    assert done.status_code == 303
    with engine.connect() as conn:
        assert conn.scalar(select(ApiKey.revoked_at).where(ApiKey.id == merchant_id)) is not None
    assert personas.merchant.get("/api/v1/cases").status_code == 401  # the key opens nothing now


# SQLite's backup makes the stand-in replica (the real PostgreSQL standby is tests/service/test_replica.py's).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pages_read_a_replica_but_a_user_sees_their_own_change_at_once(
    ops: Console, app: Any, engine: Engine, clock: FakeClock, tmp_path: Any
) -> None:
    case_id = add_case(engine, clock, "TRK0000000031", CaseType.STALE)
    # The "replica": a copy taken now, before the change below, and never replayed since.
    stale = make_engine(f"sqlite:///{tmp_path / 'replica.db'}")
    with engine.connect() as source, stale.connect() as target:
        source.connection.driver_connection.backup(target.connection.driver_connection)
    reads = ReadRouter(engine, [stale])
    reads._lag = lambda replica: 0.0  # type: ignore[method-assign]  # healthy, whatever SQLite says
    app.extensions["tracker"].reads = reads

    assert "on it" not in ops.get(f"/ops/cases/{case_id}?lang=en").get_data(as_text=True)
    assert ops.post(f"/ops/cases/{case_id}/acknowledge?lang=en", {"note": "on it"}).status_code == 303
    # The user's own change: shown at once (the primary).
    assert "on it" in ops.get(f"/ops/cases/{case_id}?lang=en").get_data(as_text=True)
    # Someone else's page reads the replica, which has not seen it yet.
    other = Console(app.test_client())
    assert other.sign_in("wang.admin").status_code == 303
    assert "on it" not in other.get(f"/ops/cases/{case_id}?lang=en").get_data(as_text=True)
    stale.dispose()


@pytest.mark.parametrize("type_", [CaseType.COMPLAINT, CaseType.LOST, CaseType.MISSED_APPOINTMENT])
def test_the_queue_lists_and_filters_every_case_type(
    type_: CaseType, ops: Console, engine: Engine, clock: FakeClock
) -> None:
    # These types came after the queue was written: listing one was a 500 (no response target).
    stale = add_case(engine, clock, "TRK0000000021", CaseType.STALE)
    newer = add_case(engine, clock, "TRK0000000022", type_)
    assert listed(ops) == [newer, stale]
    assert listed(ops, f"&type={type_.value}") == [newer]
    assert f'value="{type_.value}"' in ops.get("/ops/cases?lang=en").get_data(as_text=True)
