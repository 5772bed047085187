"""The ops API over detection: the case workflow and its audit trail, scorecards, hotspots."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, update

from tests.conftest import Personas
from tests.detection.db.conftest import HOME, World, moved
from tests.helpers import at
from tracker.core.db import write_transaction
from tracker.core.models import ApiKey, Parcel
from tracker.tracking.feedback import rate, report_damaged, report_not_received
from tracker.tracking.store import read_parcel


def key_id(world: World, key: str) -> int:
    with world.engine.connect() as conn:
        return int(conn.scalar(select(ApiKey.id).where(ApiKey.prefix == key[:12])))


def fake_cases(world: World, count: int) -> list[int]:
    tns = [world.register(f"TRKOPS{i:04d}") for i in range(count)]
    events = []
    for i, tn in enumerate(tns):
        events += [*world.to_the_station(tn), world.delivered(tn, 2 - i / 60, point=moved(HOME, north=3000))]
    world.post(*events)
    world.evaluate(*tns)
    return [world.cases(tn)[0].id for tn in tns]


def test_it_lets_only_ops_see_cases(world: World, personas: Personas) -> None:
    fake_cases(world, 1)

    assert personas.anonymous.get("/api/v1/cases").status_code == 401
    assert personas.courier.get("/api/v1/cases").status_code == 403
    assert personas.station.get("/api/v1/cases").status_code == 403
    assert personas.ops.get("/api/v1/cases").status_code == 200


def test_it_keeps_the_audit_trail_of_a_case_acknowledged_and_resolved_by_ops(
    world: World, personas: Personas
) -> None:
    (case_id,) = fake_cases(world, 1)
    ops = f"ops:{key_id(world, personas.ops.key)}"

    acknowledged = personas.ops.post(
        f"/api/v1/cases/{case_id}/acknowledge", json={"note": "calling the courier"}
    )
    twice = personas.ops.post(f"/api/v1/cases/{case_id}/acknowledge", json={})
    unknown = personas.ops.post(f"/api/v1/cases/{case_id}/resolve", json={"resolution": "shrug"})
    world.later(hours=1)
    resolved = personas.ops.post(
        f"/api/v1/cases/{case_id}/resolve", json={"resolution": "confirmed", "note": "signed at the station"}
    )
    again = personas.ops.post(f"/api/v1/cases/{case_id}/resolve", json={"resolution": "false_alarm"})
    shown = personas.ops.get(f"/api/v1/cases/{case_id}").get_json()

    assert acknowledged.status_code == 200 and acknowledged.get_json()["state"] == "acknowledged"
    assert twice.status_code == 409 and again.status_code == 409
    assert unknown.status_code == 422 and unknown.get_json()["error"]["fields"][0]["field"] == "resolution"
    assert resolved.status_code == 200
    assert (shown["state"], shown["resolution"]) == ("resolved", "confirmed")
    assert [(s["action"], s["actor"], s["note"]) for s in shown["history"]] == [
        ("opened", "system", None),
        ("acknowledged", ops, "calling the courier"),
        ("resolved", ops, "signed at the station"),
    ]
    assert shown["history"][2]["data"] == {"resolution": "confirmed"}
    assert shown["tracking_number"] == "TRKOPS0000" and shown["courier_id"] == "C-SH011"


def test_it_answers_404_for_a_case_that_does_not_exist(personas: Personas, world: World) -> None:
    assert personas.ops.get("/api/v1/cases/4242").status_code == 404
    assert personas.ops.post("/api/v1/cases/4242/acknowledge", json={}).status_code == 404


def test_it_filters_cases_by_type_state_courier_facility_and_time(world: World, personas: Personas) -> None:
    first, second = fake_cases(world, 2)
    ack = personas.ops.post(f"/api/v1/cases/{first}/acknowledge", json={})
    assert ack.status_code == 200, ack.get_json()

    def ids(**params: str) -> list[int]:
        answer = personas.ops.get("/api/v1/cases", query_string=params)
        assert answer.status_code == 200, answer.get_json()
        return [c["case_id"] for c in answer.get_json()["cases"]]

    now = world.clock()
    assert ids(type="suspected_fake_delivery") == [second, first]
    assert ids(type="damage") == []
    assert ids(state="acknowledged") == [first]
    assert ids(courier_id="C-SH011", facility="ST-SH-01") == [second, first]
    assert ids(courier_id="C-SH012") == []
    assert ids(since=at(now, -1), until=at(now, 1)) == [second, first]
    assert ids(since=at(now, 1)) == []
    assert personas.ops.get("/api/v1/cases", query_string={"since": "2026-11-20T10:00:00"}).status_code == 422
    assert personas.ops.get("/api/v1/cases", query_string={"type": "gossip"}).status_code == 422


def test_it_pages_through_cases_with_a_next_link_until_there_are_none(
    world: World, personas: Personas
) -> None:
    opened = fake_cases(world, 5)
    seen: list[int] = []
    url: str | None = "/api/v1/cases?type=suspected_fake_delivery&limit=2"
    pages = 0
    while url:
        body = personas.ops.get(url).get_json()
        seen += [c["case_id"] for c in body["cases"]]
        url, pages = body["next"], pages + 1

    assert pages == 3
    assert seen == sorted(opened, reverse=True)


def test_it_never_deletes_a_customer_complaint_it_resolves(world: World, personas: Personas) -> None:
    world.register("TRKCOMPL01")
    world.post(*world.to_the_station("TRKCOMPL01"), world.delivered("TRKCOMPL01"))
    with write_transaction(world.engine) as conn:
        receipt = report_not_received(conn, read_parcel(conn, "TRKCOMPL01"), now=world.clock())

    resolved = personas.ops.post(
        f"/api/v1/cases/{receipt.case_id}/resolve",
        json={"resolution": "redelivered", "note": "found at neighbour"},
    )
    deleted = personas.ops.client.delete(
        f"/api/v1/cases/{receipt.case_id}", headers={"Authorization": f"Bearer {personas.ops.key}"}
    )
    listed = personas.ops.get("/api/v1/cases", query_string={"type": "customer_dispute"}).get_json()["cases"]

    assert resolved.status_code == 200 and deleted.status_code == 405
    assert [(c["case_id"], c["state"]) for c in listed] == [(receipt.case_id, "resolved")]
    assert listed[0]["reasons"][0]["code"] == "customer_not_received"


def test_it_scores_a_courier_with_every_rate_beside_its_counts(world: World, personas: Personas) -> None:
    for tn in ("TRKCARD001", "TRKCARD002", "TRKCARD003", "TRKCARD004"):
        world.register(tn)
    world.post(
        *world.to_the_station("TRKCARD001"),
        world.delivered("TRKCARD001", 2.5),
        *world.to_the_station("TRKCARD002"),
        world.delivered("TRKCARD002", 2.0),
        *world.to_the_station("TRKCARD003"),
        world.delivered("TRKCARD003", 1.5, point=moved(HOME, north=3000)),
        *world.to_the_station("TRKCARD004"),
        world.scan("TRKCARD004", "delivery_failed", 1, courier_id="C-SH011", reason="no_one_home"),
    )
    now = world.clock()
    with write_transaction(world.engine) as conn:
        # One promise kept, one missed, one parcel without a promise.
        for tn, promised in (
            ("TRKCARD001", now),
            ("TRKCARD002", now - timedelta(hours=3)),
            ("TRKCARD003", None),
        ):
            conn.execute(update(Parcel).where(Parcel.tracking_number == tn).values(promised_by=promised))
        rate(conn, read_parcel(conn, "TRKCARD001"), now=now, packaging=4, courier=5, speed=3)
        rate(conn, read_parcel(conn, "TRKCARD002"), now=now, packaging=2, courier=3, speed=5)
        report_damaged(conn, read_parcel(conn, "TRKCARD002"), now=now, description="角压坏了")
        report_not_received(conn, read_parcel(conn, "TRKCARD003"), now=now)
    world.evaluate("TRKCARD001", "TRKCARD002", "TRKCARD003", "TRKCARD004")

    answer = personas.ops.get(
        "/api/v1/couriers/C-SH011/scorecard", query_string={"since": at(now, -24 * 60), "until": at(now, 1)}
    )
    card = answer.get_json()

    assert answer.status_code == 200, card
    assert card["courier_id"] == "C-SH011"
    assert card["deliveries"] == 3 and card["parcels_handled"] == 4
    assert {k: card["on_time"][k] for k in ("count", "of", "rate")} == {"count": 1, "of": 2, "rate": 0.5}
    assert (card["failed_attempts"]["count"], card["failed_attempts"]["of"]) == (1, 4)
    assert (card["suspected_fake_deliveries"]["count"], card["confirmed_fake_deliveries"]["count"]) == (1, 0)
    assert (card["damage"]["count"], card["damage"]["of"]) == (1, 4)
    assert 0 < card["damage"]["wilson_low"] < 0.25 < card["damage"]["wilson_high"]
    assert card["complaints"]["count"] == 2 and card["complaints"]["by_kind"] == {
        "damaged": 1,
        "not_received": 1,
    }
    assert card["ratings"] == {"count": 2, "packaging": 3.0, "courier": 4.0, "speed": 4.0}


def test_it_scores_a_facility_and_answers_404_for_an_unknown_one(world: World, personas: Personas) -> None:
    world.register("TRKFAC0001")
    world.register("TRKFAC0002")
    world.post(
        *world.to_the_station("TRKFAC0001")[:3],
        world.scan("TRKFAC0001", "damaged", 6.8, facility="SC-SH-01", damage={"severity": "minor"}),
        *world.to_the_station("TRKFAC0002"),
        world.delivered("TRKFAC0002"),
    )
    now = world.clock()
    period = {"since": at(now, -24 * 60), "until": at(now, 1)}

    card = personas.ops.get("/api/v1/facilities/SC-SH-01/scorecard", query_string=period).get_json()
    missing = personas.ops.get("/api/v1/facilities/XX-NONE/scorecard", query_string=period)
    backwards = personas.ops.get(
        "/api/v1/facilities/SC-SH-01/scorecard",
        query_string={"since": period["until"], "until": period["since"]},
    )

    assert (card["parcels_handled"], card["deliveries"]) == (2, 1)
    assert (card["damage"]["count"], card["damage"]["of"]) == (1, 2)
    assert card["ratings"] == {"count": 0, "packaging": None, "courier": None, "speed": None}
    assert missing.status_code == 404 and backwards.status_code == 422


def hub_journey(world: World, tn: str, city: str, damaged: bool) -> list[dict[str, Any]]:
    hub, station = f"SC-{city}-01", f"ST-{city}-01"
    events = [
        world.scan(tn, "arrived", 8, facility=hub),
        world.scan(tn, "departed", 7, facility=hub),
        world.scan(tn, "arrived", 6, facility=station),
    ]
    if damaged:
        events.insert(1, world.scan(tn, "damaged", 7.5, facility=hub, damage={"severity": "major"}))
    return events


def test_it_flags_only_the_hub_that_damages_significantly_more_than_the_network(
    world: World, personas: Personas
) -> None:
    events = []
    for i in range(120):
        events += hub_journey(world, f"TRKSH{i:05d}", "SH", damaged=i == 7)
    for i in range(40):
        events += hub_journey(world, f"TRKHZ{i:05d}", "HZ", damaged=i % 5 == 0)
    world.post(*events)
    now = world.clock()

    answer = personas.ops.get("/api/v1/hotspots/damage", query_string={"since": at(now, -24 * 60)})
    body = answer.get_json()
    flagged = personas.ops.get(
        "/api/v1/hotspots/damage", query_string={"since": at(now, -24 * 60), "flagged": "true"}
    ).get_json()
    facility = personas.ops.get(
        "/api/v1/hotspots/damage", query_string={"since": at(now, -24 * 60), "kind": "facility"}
    ).get_json()

    assert answer.status_code == 200 and body["parcels"] == 160 and body["next"] is None
    assert [(h["kind"], h["ref"]) for h in flagged["segments"]] == [("facility", "SC-HZ-01")]
    assert [s for s in body["segments"] if s["flagged"]] == flagged["segments"]
    hz = flagged["segments"][0]
    assert (hz["damaged"], hz["handled"]) == (8, 40) and hz["wilson_low"] > hz["network_rate"]
    sh = next(s for s in body["segments"] if s["ref"] == "SC-SH-01")
    assert (sh["damaged"], sh["handled"], sh["flagged"]) == (1, 120, False)
    assert {s["kind"] for s in facility["segments"]} == {"facility"}


def test_it_pages_through_the_damage_segments_with_a_next_link(world: World, personas: Personas) -> None:
    events = []
    for i in range(40):
        events += hub_journey(world, f"TRKPG{i:05d}", "HZ", damaged=i % 5 == 0)
    for i in range(12):
        events += hub_journey(world, f"TRKPS{i:05d}", "SH", damaged=False)
    world.post(*events)
    now = world.clock()
    period = {"since": at(now, -24 * 60), "until": at(now, 1)}
    whole = personas.ops.get("/api/v1/hotspots/damage", query_string={**period, "limit": 500}).get_json()

    pages, url = [], f"/api/v1/hotspots/damage?{urlencode({**period, 'limit': 2})}"
    while url is not None:
        answer = personas.ops.get(url)
        assert answer.status_code == 200, answer.get_json()
        pages.append(answer.get_json()["segments"])
        url = answer.get_json()["next"]

    assert len(whole["segments"]) > 4  # two hubs, two stations, legs: more than two pages
    assert all(len(page) <= 2 for page in pages) and len(pages) == -(-len(whole["segments"]) // 2)
    assert [s for page in pages for s in page] == whole["segments"]  # in order, none twice, none skipped
    forged = personas.ops.get("/api/v1/hotspots/damage", query_string={"cursor": "bm90IGEgY3Vyc29y"})
    assert forged.status_code == 422 and forged.get_json()["error"]["fields"][0]["field"] == "cursor"
