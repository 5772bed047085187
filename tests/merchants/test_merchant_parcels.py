"""Merchant accounts (issue 14): a merchant reaches its own parcels, and nobody else's.

Personas: ``merchant`` is bound to SHOP-A, ``other_merchant`` to SHOP-B
(tests/conftest.py). Every read and write of another merchant's parcel must
answer exactly what an unknown tracking number answers.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from sqlalchemy import insert, select

from tests.conftest import T0, FakeClock, Personas
from tests.helpers import SHANGHAI, at, registration, scan
from tracker.cases import store as cases
from tracker.cases.reasons import Reason
from tracker.core.db import write_transaction
from tracker.core.models import ApiKey, Case, Parcel
from tracker.core.vocabulary import CaseState, CaseType, Role
from tracker.keys.principal import hash_key
from tracker.sweep.run import sweep

A1, A2, B1 = "TRKMA00001", "TRKMA00002", "TRKMB00001"


def _register(persona: Any, tn: str, **overrides: Any) -> None:
    answer = persona.post("/api/v1/parcels", json=registration(tn, **overrides))
    assert answer.status_code == 201, answer.get_json()


def _csv(answer: Any) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.mimetype == "text/csv"
    text = answer.get_data(as_text=True)
    assert text.startswith("\ufeff")  # for Excel
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_a_merchant_never_reaches_another_merchants_parcel(personas: Personas) -> None:
    _register(personas.merchant, A1)
    _register(personas.other_merchant, B1)
    unknown = "TRKNOBODY1"

    def every_way(tn: str) -> list[Any]:
        return [
            personas.merchant.get(f"/api/v1/parcels/{tn}"),
            personas.merchant.patch(f"/api/v1/parcels/{tn}", json={"weight_kg": 2.0}),
            personas.merchant.post(f"/api/v1/parcels/{tn}/cancel"),
        ]

    for theirs, nobodys in zip(every_way(B1), every_way(unknown), strict=True):
        assert theirs.status_code == nobodys.status_code == 404
        # The same body, but for the number itself: nothing tells "not yours" from "nobody's".
        assert theirs.get_json() == {
            "error": {**nobodys.get_json()["error"], "message": f"no parcel with tracking number {B1}"}
        }
    listed = personas.merchant.get("/api/v1/parcels").get_json()
    assert [p["tracking_number"] for p in listed["parcels"]] == [A1]
    assert [r["tracking_number"] for r in _csv(personas.merchant.get("/api/v1/parcels.csv"))] == [A1]
    # B's parcel is untouched, and B still sees it whole.
    theirs = personas.other_merchant.get(f"/api/v1/parcels/{B1}").get_json()
    assert theirs["weight_kg"] == 1.2 and theirs["cancelled_at"] is None and theirs["merchant"] == "SHOP-B"


def test_registering_another_merchants_tracking_number_takes_nothing_over(personas: Personas) -> None:
    _register(personas.other_merchant, B1)

    same = personas.merchant.post("/api/v1/parcels", json=registration(B1))
    other = personas.merchant.post("/api/v1/parcels", json=registration(B1, weight_kg=9.0))

    # One answer whatever the details: a guess of B's recipient cannot be tested this way.
    assert same.status_code == other.status_code == 409
    assert same.get_json() == other.get_json()
    assert "SHOP-B" not in same.get_data(as_text=True) and "张三丰" not in same.get_data(as_text=True)
    assert personas.merchant.get(f"/api/v1/parcels/{B1}").status_code == 404
    assert personas.other_merchant.get(f"/api/v1/parcels/{B1}").get_json()["merchant"] == "SHOP-B"


def test_a_merchant_claims_a_parcel_first_seen_by_a_scan(personas: Personas) -> None:
    seen = personas.admin.post(
        "/api/v1/scans", json=scan("claim-1", A1, "created", at(T0, -60), facility="WH-SH-01")
    )
    assert seen.status_code == 201
    assert personas.merchant.get(f"/api/v1/parcels/{A1}").status_code == 404  # nobody's yet

    claimed = personas.merchant.post("/api/v1/parcels", json=registration(A1))

    assert claimed.status_code == 200 and claimed.get_json()["result"] == "completed"
    record = personas.merchant.get(f"/api/v1/parcels/{A1}").get_json()
    assert record["merchant"] == "SHOP-A" and len(record["events"]) == 1
    assert personas.other_merchant.post("/api/v1/parcels", json=registration(A1)).status_code == 409


def test_a_merchant_reads_its_own_parcel_whole_but_not_ops_cases(
    personas: Personas, engine: Any, clock: FakeClock
) -> None:
    _register(personas.merchant, A1)
    with write_transaction(engine) as conn:
        parcel_id = conn.scalar(select(Parcel.id).where(Parcel.tracking_number == A1))
        cases.open_case(conn, parcel_id, CaseType.STALE, [Reason("silent", "quiet")], now=clock())

    mine = personas.merchant.get(f"/api/v1/parcels/{A1}").get_json()
    ops = personas.ops.get(f"/api/v1/parcels/{A1}").get_json()

    assert mine["recipient"] == {"name": "张三丰", "phone": "13800001234"}
    assert mine["destination"]["address"] == "南京东路100号5栋1202室"
    assert mine["cases"] is None and [c["type"] for c in ops["cases"]] == ["stale"]
    assert {k: v for k, v in mine.items() if k != "cases"} == {k: v for k, v in ops.items() if k != "cases"}


def test_the_list_filters_and_pages_to_the_end_without_repeats(personas: Personas, clock: FakeClock) -> None:
    numbers = [f"TRKPG{n:05d}" for n in range(7)]
    for n, tn in enumerate(numbers):
        _register(personas.merchant, tn, service_level="standard" if n % 2 else "211")
    _register(personas.other_merchant, B1)

    seen: list[str] = []
    url: str | None = "/api/v1/parcels?limit=3"
    pages = 0
    while url:
        answer = personas.merchant.get(url)
        assert answer.status_code == 200, answer.get_json()
        seen += [p["tracking_number"] for p in answer.get_json()["parcels"]]
        url = answer.get_json()["next"]
        pages += 1
    assert pages == 3 and seen == numbers[::-1]  # newest first, each once

    def listed(**query: str) -> list[str]:
        answer = personas.merchant.get("/api/v1/parcels", query_string=query)
        assert answer.status_code == 200, answer.get_json()
        return [p["tracking_number"] for p in answer.get_json()["parcels"]]

    assert listed(service_level="standard") == [numbers[5], numbers[3], numbers[1]]
    assert (
        listed(search="TRKPG0000", status="info_received")
        == [numbers[6], numbers[5], numbers[4], numbers[3], numbers[2], numbers[1], numbers[0]][-7:]
    )
    assert listed(search="TRKPG00003") == [numbers[3]]
    today = clock().astimezone(T0.tzinfo).date()  # 12:00 in Shanghai is the same day as 04:00 UTC
    assert listed(registered_from=today.isoformat(), registered_to=today.isoformat(), limit="1") == [
        numbers[6]
    ]
    assert listed(registered_from=(today + timedelta(days=1)).isoformat()) == []
    # The filters are kept in next; a forged cursor is a 422 naming it.
    first = personas.merchant.get("/api/v1/parcels", query_string={"service_level": "standard", "limit": 1})
    assert "service_level=standard" in first.get_json()["next"]
    forged = personas.merchant.get("/api/v1/parcels", query_string={"cursor": "bm90LWEtY3Vyc29y"})
    assert forged.status_code == 422 and forged.get_json()["error"]["fields"][0]["field"] == "cursor"


def test_the_export_is_the_list_as_csv_and_safe_to_open_in_excel(personas: Personas) -> None:
    _register(personas.merchant, A1, recipient={"name": '=HYPERLINK("http://x")', "phone": "+8613800001234"})
    _register(personas.merchant, A2, service_level="standard")

    rows = _csv(personas.merchant.get("/api/v1/parcels.csv"))
    only_standard = _csv(personas.merchant.get("/api/v1/parcels.csv?service_level=standard"))

    assert [r["tracking_number"] for r in rows] == [A2, A1]
    assert [r["tracking_number"] for r in only_standard] == [A2]
    first = rows[1]
    assert (
        first["recipient_name"] == '\'=HYPERLINK("http://x")'
        and first["recipient_phone"] == "'+8613800001234"
    )
    assert first["address"] == "南京东路100号5栋1202室" and first["lon"] == "121.4737"
    assert rows[0]["recipient_phone"] == "13800001234"


def test_a_merchant_corrects_a_parcel_until_it_leaves_the_warehouse(personas: Personas) -> None:
    _register(personas.merchant, A1, ordered_at=at(T0, -60))
    personas.admin.post("/api/v1/scans", json=scan("c-1", A1, "created", at(T0, -30), facility="WH-SH-01"))
    before = personas.merchant.get(f"/api/v1/parcels/{A1}").get_json()

    corrected = personas.merchant.patch(
        f"/api/v1/parcels/{A1}",
        json={
            "recipient": {"phone": "13900002222"},
            "destination": {"address": "南京东路200号"},
            "weight_kg": 3.5,
        },
    )

    assert corrected.status_code == 200, corrected.get_json()
    after = corrected.get_json()
    assert after["recipient"] == {"name": "张三丰", "phone": "13900002222"}  # objects merge
    assert after["destination"]["address"] == "南京东路200号" and after["destination"]["city"] == "上海"
    assert after["weight_kg"] == 3.5 and after["service_level"] == before["service_level"]

    bad = personas.merchant.patch(f"/api/v1/parcels/{A1}", json={"service_level": "warp"})
    assert bad.status_code == 422 and bad.get_json()["error"]["fields"][0]["field"] == "service_level"
    unknown_field = personas.merchant.patch(f"/api/v1/parcels/{A1}", json={"tracking_number": "TRKOTHER01"})
    assert unknown_field.status_code == 422

    personas.admin.post("/api/v1/scans", json=scan("c-2", A1, "outbound", at(T0, -10), facility="WH-SH-01"))
    late = personas.merchant.patch(f"/api/v1/parcels/{A1}", json={"weight_kg": 1.0})
    cancel = personas.merchant.post(f"/api/v1/parcels/{A1}/cancel")

    assert late.status_code == cancel.status_code == 409
    assert late.get_json()["error"]["code"] == "parcel_left_warehouse"
    assert "left the warehouse" in late.get_json()["error"]["message"]
    assert personas.merchant.get(f"/api/v1/parcels/{A1}").get_json()["weight_kg"] == 3.5


def test_a_changed_service_level_moves_the_promise(personas: Personas) -> None:
    # 211 clocks from the outbound scan; group_buy from the order time: the promise appears.
    _register(personas.merchant, A1, ordered_at=at(T0, -60))
    assert personas.merchant.get(f"/api/v1/parcels/{A1}").get_json()["promised_by"] is None

    moved = personas.merchant.patch(f"/api/v1/parcels/{A1}", json={"service_level": "group_buy"})

    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["promised_by"] == "2026-11-21T12:00:00+08:00"
    back = personas.merchant.patch(f"/api/v1/parcels/{A1}", json={"service_level": "211"})
    assert back.get_json()["promised_by"] is None


def test_a_cancelled_parcel_closes_its_cases_and_is_watched_no_more(
    personas: Personas, engine: Any, clock: FakeClock, app: Any
) -> None:
    _register(personas.merchant, A1)
    _register(personas.merchant, A2)
    with write_transaction(engine) as conn:
        parcel_id = conn.scalar(select(Parcel.id).where(Parcel.tracking_number == A1))
        cases.open_case(conn, parcel_id, CaseType.STALE, [Reason("silent", "quiet")], now=clock())

    cancelled = personas.merchant.post(f"/api/v1/parcels/{A1}/cancel")
    again = personas.merchant.post(f"/api/v1/parcels/{A1}/cancel")

    assert cancelled.status_code == again.status_code == 200
    assert (
        cancelled.get_json()["cancelled_at"]
        == again.get_json()["cancelled_at"]
        == "2026-11-20T12:00:00+08:00"
    )
    with engine.connect() as conn:
        case = conn.execute(select(Case.state).where(Case.parcel_id == parcel_id)).one()
        due = conn.scalar(select(Parcel.next_check_at).where(Parcel.id == parcel_id))
    assert case.state == CaseState.RESOLVED and due is None
    assert (
        personas.merchant.patch(f"/api/v1/parcels/{A1}", json={"weight_kg": 2.0}).get_json()["error"]["code"]
        == "parcel_cancelled"
    )

    def listed(**query: str) -> list[str]:
        return [
            p["tracking_number"]
            for p in personas.merchant.get("/api/v1/parcels", query_string=query).get_json()["parcels"]
        ]

    assert listed(cancelled="true") == [A1] and listed(cancelled="false") == [A2]

    # A scan that still comes makes it due; the sweep then opens nothing and leaves it alone.
    personas.admin.post("/api/v1/scans", json=scan("x-1", A1, "created", at(T0, -2000), facility="WH-SH-01"))
    clock.advance(hours=100)
    rt = app.extensions["tracker"]
    sweep(rt.engine, now=clock(), policy=rt.ingest, zone=SHANGHAI)
    with engine.connect() as conn:
        live = conn.scalars(
            select(Case.type).where(Case.parcel_id == parcel_id, Case.state != CaseState.RESOLVED)
        ).all()
        due = conn.scalar(select(Parcel.next_check_at).where(Parcel.id == parcel_id))
        other = conn.scalars(
            select(Case.type).join(Parcel, Parcel.id == Case.parcel_id).where(Parcel.tracking_number == A2)
        ).all()
    assert live == [] and due is None
    assert other == [CaseType.STALE]  # the sweep ran: the live parcel, silent as long, is stale


def test_the_parcel_answers_are_what_the_openapi_documents(personas: Personas, app: Any) -> None:
    from tests.web.test_openapi_truth import Conformance

    check = Conformance(app.test_client().get("/openapi.json").get_json())
    _register(personas.merchant, A1)
    one = "/api/v1/parcels/{tracking_number}"

    check("GET", "/api/v1/parcels", personas.merchant.get("/api/v1/parcels?limit=1"))
    check("GET", "/api/v1/parcels", personas.merchant.get("/api/v1/parcels?limit=0"))  # 422
    check("GET", "/api/v1/parcels", personas.station.get("/api/v1/parcels"))  # 403
    check("GET", one, personas.merchant.get(f"/api/v1/parcels/{A1}"))
    check("GET", one, personas.other_merchant.get(f"/api/v1/parcels/{A1}"))  # 404
    check("PATCH", one, personas.merchant.patch(f"/api/v1/parcels/{A1}", json={"weight_kg": 2.5}))
    check("PATCH", one, personas.merchant.patch(f"/api/v1/parcels/{A1}", json={"weight_kg": "2"}))  # 422
    check("POST", one + "/cancel", personas.merchant.post(f"/api/v1/parcels/{A1}/cancel"))
    check("POST", one + "/cancel", personas.anonymous.post(f"/api/v1/parcels/{A1}/cancel"))  # 401
    check("PATCH", one, personas.merchant.patch(f"/api/v1/parcels/{A1}", json={"weight_kg": 2.0}))  # 409
    exported = personas.merchant.get("/api/v1/parcels.csv")
    documented = check.doc["paths"]["/api/v1/parcels.csv"]["get"]["responses"]["200"]["content"]
    assert exported.status_code == 200 and exported.mimetype in documented
    statuses = {c.rsplit(" ", 1)[1] for c in check.checked}
    assert statuses == {"200", "401", "403", "404", "409", "422"}, check.checked


def test_a_merchant_key_from_before_merchants_is_told_to_get_a_bound_one(
    personas: Personas, engine: Any, clock: FakeClock
) -> None:
    # Keys made before migration 0009 have no merchant; the command can no longer make one.
    with write_transaction(engine) as conn:
        conn.execute(
            insert(ApiKey).values(
                prefix="trk_oldmerch", key_hash=hash_key("trk_old"), role=Role.MERCHANT, created_at=clock()
            )
        )
    old = {"Authorization": "Bearer trk_old"}

    registering = personas.anonymous.post("/api/v1/parcels", json=registration(A1), headers=old)
    listing = personas.anonymous.get("/api/v1/parcels", headers=old)

    assert registering.status_code == listing.status_code == 403
    assert "--merchant" in registering.get_json()["error"]["message"]
