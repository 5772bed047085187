"""GET /api/v1/couriers/{id}/route: a courier's ordered stops from the latest stored plan."""

from __future__ import annotations

from typing import Any

from tests.conftest import Personas
from tests.routing.service.conftest import Yard, planned


def route(persona: Any, courier: str, **query: str) -> Any:
    return persona.get(f"/api/v1/couriers/{courier}/route", query_string=query)


def test_it_gives_a_courier_its_stops_in_the_planned_order(yard: Yard, personas: Personas) -> None:
    for n, (east, north) in enumerate([(1.0, 0.0), (2.0, 0.5), (-1.0, 1.0)], start=1):
        yard.bring(f"TRKR00003{n}", east, north)
    plan = yard.plan()
    # Everyone's stops, as the plan ordered them, from each courier's own list.
    expected = {r["courier_id"]: [s["tracking_number"] for s in r["stops"]] for r in plan["routes"]}

    for courier in expected:
        answer = route(personas.ops, courier)
        assert answer.status_code == 200, answer.get_json()
        mine = answer.get_json()
        assert mine["plan_id"] == plan["plan_id"] and mine["date"] == "2026-11-20"
        assert [s["tracking_number"] for s in mine["stops"]] == expected[courier]
        assert [s["sequence"] for s in mine["stops"]] == list(range(1, len(mine["stops"]) + 1))

    own = route(personas.courier, "C-SH011")
    assert own.status_code == 200 and own.get_json()["courier_id"] == "C-SH011"
    stop = planned(plan)["TRKR000031"]
    [listed] = [
        s
        for s in route(personas.ops, stop["courier_id"]).get_json()["stops"]
        if s["tracking_number"] == "TRKR000031"
    ]
    assert listed["recipient"] == {
        "name": "张三丰",
        "phone": "13800001234",
    }  # the courier needs them unmasked
    assert listed["destination"]["address"] and listed["eta"] == stop["eta"]


def test_it_answers_from_the_latest_plan_of_the_day(yard: Yard, personas: Personas) -> None:
    yard.bring("TRKR000041", 1.0)
    yard.plan()
    yard.bring("TRKR000042", -1.0)  # arrives after the first plan
    latest = yard.plan()

    lists = [route(personas.ops, c).get_json() for c in ("C-SH011", "C-SH012", "C-SH013")]

    assert {x["plan_id"] for x in lists} == {latest["plan_id"]}
    assert sorted(s["tracking_number"] for x in lists for s in x["stops"]) == ["TRKR000041", "TRKR000042"]


def test_it_shows_a_courier_only_its_own_route(yard: Yard, personas: Personas) -> None:
    assert route(personas.anonymous, "C-SH011").status_code == 401
    assert route(personas.other_courier, "C-SH011").status_code == 403
    assert route(personas.station, "C-SH011").status_code == 403
    # Allowed, but nothing planned yet (today, or on the day asked for).
    assert route(personas.courier, "C-SH011").status_code == 404
    assert route(personas.ops, "C-SH011", date="2026-11-21").status_code == 404
    assert route(personas.ops, "C-XX999").status_code == 404
