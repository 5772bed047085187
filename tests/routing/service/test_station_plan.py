"""POST /api/v1/facilities/{facility}/routes: a station's day from the parcels scanned into it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.conftest import T0, Personas
from tests.helpers import at, scan
from tests.routing.service.conftest import MORNING, STATION, Yard, documented_eta, eta, planned, when
from tracker.core.models import Parcel, RouteStop, StationPlan

COURIERS = {"C-SH011", "C-SH012", "C-SH013"}  # ST-SH-01's couriers in the simulated network


def test_it_plans_the_parcels_the_scans_left_at_the_station(yard: Yard, personas: Personas) -> None:
    yard.bring("TRKR000001", 1.0)  # arrived at the station
    yard.bring("TRKR000002", 2.0, 1.0)  # ... and out for delivery with C-SH011
    yard.out_for_delivery("TRKR000002", personas.courier, "C-SH011")
    yard.bring("TRKR000003", -1.5, 0.5)  # ... a failed attempt by C-SH012, scanned at the door
    yard.out_for_delivery("TRKR000003", personas.other_courier, "C-SH012")
    yard.scans(
        personas.other_courier,
        scan("TRKR000003-7", "TRKR000003", "delivery_failed", at(MORNING, 260), reason="no_one_home"),
    )
    # Not due out of ST-SH-01 today:
    yard.bring("TRKR000004", 1.0)  # delivered already
    yard.out_for_delivery("TRKR000004", personas.courier, "C-SH011")
    yard.scans(
        personas.courier,
        scan(
            "TRKR000004-7",
            "TRKR000004",
            "delivered",
            at(MORNING, 270),
            lat=31.2,
            lon=121.4,
            pod={"relation": "self"},
        ),
    )
    yard.bring("TRKR000005", 1.0, station="ST-SH-02")  # at another station
    yard.register("TRKR000006")  # still at the sorting centre
    yard.to_sorting_centre("TRKR000006")
    yard.bring("TRKR000007", 1.0, pickup_point="PP-SH-011")  # for a pickup point, not a door
    tomorrow = {"start": at(T0, 24 * 60), "end": at(T0, 26 * 60)}
    yard.bring("TRKR000008", 1.0, appointment=tomorrow)  # the customer chose tomorrow

    plan = yard.plan()

    stops = planned(plan)
    assert set(stops) == {"TRKR000001", "TRKR000002", "TRKR000003"}
    assert plan["left_out"] == [] and plan["facility"] == STATION and plan["date"] == "2026-11-20"
    # A plan with routes was solved: the status says so (it said not_solved beside valid routes).
    assert plan["solver_status"] in ("success", "optimal"), plan["solver_status"]
    assert {r["courier_id"] for r in plan["routes"]} == COURIERS
    for route in plan["routes"]:
        assert [s["sequence"] for s in route["stops"]] == list(range(1, len(route["stops"]) + 1))
    for stop in stops.values():
        # Planned at 12:00 during an 08:00-20:00 shift: nobody leaves in the past.
        assert T0 <= when(stop["service_start"]) <= T0 + timedelta(hours=8)
        assert T0 <= when(stop["leaves"]) < when(stop["service_start"])
        assert eta(stop) == documented_eta(stop["service_start"], stop["leaves"])


def test_it_leaves_out_with_a_reason_what_the_couriers_cannot_carry_vip_last(yard: Yard, engine: Any) -> None:
    # One parcel per courier today: three couriers, four parcels that fit, one that fits no bike.
    yard.bring("TRKR000011", 0.5)
    yard.bring("TRKR000012", 0.7, 0.3)
    yard.bring("TRKR000013", -0.6)
    # The vip lives farthest away: by distance alone, it would be the one to go.
    yard.bring("TRKR000014", 6.0, 4.0, customer_tier="vip")
    yard.bring("TRKR000015", 0.4, weight_kg=80.0)

    plan = yard.plan(capacity_parcels=1, capacity_kg=50)

    stops = planned(plan)
    assert "TRKR000014" in stops
    left = {x["tracking_number"]: x for x in plan["left_out"]}
    assert set(left) | set(stops) == {f"TRKR00001{i}" for i in range(1, 6)} and len(stops) == 3
    assert left.pop("TRKR000015")["reason"] == "too_heavy"
    [(normal, why)] = left.items()
    # It would fit a bike, but the vip took the last one: priority, not capacity.
    assert why["reason"] == "priority" and why["detail"]
    assert plan["totals"]["served"] == 3 and plan["totals"]["left_out"] == 2
    with engine.connect() as conn:
        row = conn.execute(
            select(RouteStop.reason, RouteStop.courier_code, Parcel.eta_source)
            .join(Parcel, Parcel.id == RouteStop.parcel_id)
            .where(Parcel.tracking_number == normal)
        ).one()
    assert row.reason == "priority" and row.courier_code is None and row.eta_source != "route"


def test_it_stores_the_plan_with_the_problem_it_solved(yard: Yard, engine: Any, personas: Personas) -> None:
    yard.bring("TRKR000021", 1.0)

    plan = yard.plan(personas.ops, capacity_parcels=40, shift={"start": "09:00", "end": "18:00"})

    with engine.connect() as conn:
        row = conn.execute(select(StationPlan).where(StationPlan.id == plan["plan_id"])).one()
    assert row.facility_code == STATION and row.requested_by.startswith("ops:")
    assert row.served == 1 and row.distance_m == plan["totals"]["distance_m"] > 0
    assert {v["vehicle_id"] for v in row.problem["vehicles"]} == COURIERS
    assert {v["capacity_parcels"] for v in row.problem["vehicles"]} == {40}
    assert {when(v["shift_end"]) for v in row.problem["vehicles"]} == {when("2026-11-20T18:00:00+08:00")}
    assert [s["stop_id"] for s in row.problem["stops"]] == ["TRKR000021"]
    assert row.result["totals"]["served"] == 1


def test_it_lets_a_station_plan_only_itself(yard: Yard, personas: Personas) -> None:
    url = "/api/v1/facilities/{}/routes"

    assert personas.anonymous.post(url.format(STATION), json={}).status_code == 401
    assert personas.courier.post(url.format(STATION), json={}).status_code == 403
    assert personas.merchant.post(url.format(STATION), json={}).status_code == 403
    refused = personas.station.post(url.format("ST-SH-02"), json={})
    assert refused.status_code == 403 and "ST-SH-02" in refused.get_json()["error"]["message"]
    assert personas.ops.post(url.format("ST-XX-99"), json={}).status_code == 404
    no_couriers = personas.ops.post(url.format("SC-SH-01"), json={})
    assert (
        no_couriers.status_code == 422 and no_couriers.get_json()["error"]["fields"][0]["field"] == "facility"
    )


def test_it_names_the_field_when_the_day_cannot_be_planned(yard: Yard, personas: Personas) -> None:
    url = f"/api/v1/facilities/{STATION}/routes"

    def field(body: dict[str, Any]) -> list[str]:
        answer = personas.station.post(url, json=body)
        assert answer.status_code == 422, answer.get_json()
        return [f["field"] for f in answer.get_json()["error"]["fields"]]

    assert field({"date": "2026-11-19"}) == ["date"]  # yesterday
    assert field({"shift": {"start": "08:00", "end": "11:00"}}) == ["shift.end"]  # over at 12:00
    assert field({"shift": {"start": "14:00", "end": "13:00"}}) == ["shift.end"]
    assert field({"capacity_kg": 0, "time_limit_s": 600}) == ["capacity_kg", "time_limit_s"]


def test_it_stores_an_empty_plan_when_nothing_is_due(yard: Yard) -> None:
    yard.register("TRKR000031")  # registered, never scanned

    plan = yard.plan()

    assert plan["left_out"] == [] and plan["totals"]["served"] == 0
    assert {r["courier_id"]: r["stops"] for r in plan["routes"]} == {courier: [] for courier in COURIERS}


def test_a_re_plan_keeps_parcels_on_the_van_that_carries_them(yard: Yard, personas: Personas) -> None:
    # Next-door parcels on two couriers' vans: by distance alone one courier
    # would take both, and the other's parcel would be promised by someone
    # who does not have it.
    yard.bring("TRKR000061", 1.0)
    yard.out_for_delivery("TRKR000061", personas.courier, "C-SH011")
    yard.bring("TRKR000062", 1.02, 0.02)
    yard.out_for_delivery("TRKR000062", personas.other_courier, "C-SH012")

    kept = planned(yard.plan())
    moved = planned(yard.plan(keep_loaded=False))  # ops says the vans may swap

    assert kept["TRKR000061"]["courier_id"] == "C-SH011"
    assert kept["TRKR000062"]["courier_id"] == "C-SH012"
    assert moved["TRKR000061"]["courier_id"] == moved["TRKR000062"]["courier_id"]


def test_no_body_plans_with_the_defaults_but_a_json_null_is_refused(yard: Yard, personas: Personas) -> None:
    yard.bring("TRKR000071", 1.0)
    url = f"/api/v1/facilities/{STATION}/routes"

    assert personas.station.post(url).status_code == 200
    refused = personas.station.post(url, data=b"null", content_type="application/json")
    assert refused.status_code == 422, refused.get_json()


def test_after_a_failed_attempt_a_hold_leaves_the_door_and_a_rebooked_window_is_the_stop(
    yard: Yard, personas: Personas, app: Any
) -> None:
    client = app.test_client()  # the customer's
    for tn in ("TRKR000091", "TRKR000092", "TRKR000093"):
        yard.bring(tn, 1.0)
        yard.out_for_delivery(tn, personas.courier, "C-SH011")
        yard.scans(
            personas.courier, scan(f"{tn}-7", tn, "delivery_failed", at(MORNING, 260), reason="no_one_home")
        )
    held, rebooked, waiting = "TRKR000091", "TRKR000092", "TRKR000093"
    code = {"verification": "1234"}
    assert (
        client.post(f"/api/v1/track/{held}/hold", json={**code, "facility": "PP-SH-011"}).status_code == 200
    )
    windows = client.get(f"/api/v1/track/{rebooked}", headers={"X-Verification": "1234"}).json[
        "appointment_windows"
    ]
    today = [w for w in windows if w["start"].startswith("2026-11-20")][-1]
    assert client.post(f"/api/v1/track/{rebooked}/appointment", json={**code, **today}).status_code == 200

    plan = yard.plan()

    stops = planned(plan)
    assert set(stops) == {rebooked, waiting}
    left = {x["tracking_number"]: x for x in plan["left_out"]}
    assert left[held]["reason"] == "held_at_pickup_point" and "PP-SH-011" in left[held]["detail"]
    # The window chosen after the failed attempt is the stop's appointment.
    assert when(today["start"]) <= when(stops[rebooked]["service_start"]) <= when(today["end"])
