"""A plan's ETA windows reach the parcel, its tracking page, and survive the sweep."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from tests.conftest import FakeClock, Personas
from tests.helpers import at, scan
from tests.routing.service.conftest import Yard, eta, planned, when
from tracker.core.models import Parcel
from tracker.sweep.run import sweep
from tracker.web.runtime import Runtime

SH = ZoneInfo("Asia/Shanghai")


def eta_of(engine: Any, tn: str) -> tuple[datetime | None, datetime | None, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(Parcel.eta_start, Parcel.eta_end, Parcel.eta_source).where(Parcel.tracking_number == tn)
        ).one()
    return row.eta_start, row.eta_end, row.eta_source


def run_sweep(app: Any, clock: FakeClock) -> Any:
    rt: Runtime = app.extensions["tracker"]
    return sweep(rt.engine, now=clock(), policy=rt.ingest, zone=SH)


def test_it_puts_the_planned_window_on_the_parcel_and_its_tracking_page(
    yard: Yard, personas: Personas, engine: Any
) -> None:
    yard.bring("TRKR000051", 2.0, 1.0)

    expected = eta(planned(yard.plan())["TRKR000051"])

    assert eta_of(engine, "TRKR000051") == (*expected, "route")
    ops = personas.ops.get("/api/v1/parcels/TRKR000051").get_json()
    assert (when(ops["eta"]["start"]), when(ops["eta"]["end"])) == expected
    public = personas.anonymous.get("/api/v1/track/TRKR000051")
    assert public.status_code == 200
    shown = public.get_json()["eta"]
    assert (when(shown["start"]), when(shown["end"])) == expected
    page = personas.anonymous.get("/track/TRKR000051?lang=en").get_data(as_text=True)
    start, end = (t.astimezone(SH).strftime("%H:%M") for t in expected)
    assert re.search(rf"Expected [^<]*{start}\W+{end}", page), page


def test_it_keeps_the_route_eta_through_the_next_sweep(
    yard: Yard, app: Any, clock: FakeClock, engine: Any
) -> None:
    yard.bring("TRKR000061", 1.0)
    run_sweep(app, clock)
    stages = eta_of(engine, "TRKR000061")
    assert stages[2] == "stages"  # before any plan, the sweep's own estimate

    expected = eta(planned(yard.plan())["TRKR000061"])
    report = run_sweep(app, clock)  # the plan made the parcel due: the sweep looks at it again

    assert report.examined >= 1
    assert eta_of(engine, "TRKR000061") == (*expected, "route")
    assert expected != stages[:2]


def test_it_withdraws_a_route_eta_when_a_new_plan_leaves_the_parcel_out(
    yard: Yard, app: Any, clock: FakeClock, engine: Any
) -> None:
    yard.bring("TRKR000071", 1.0, weight_kg=30.0)
    yard.plan()
    assert eta_of(engine, "TRKR000071")[2] == "route"

    again = yard.plan(capacity_kg=20)  # the bikes now carry less than the parcel weighs
    assert [x["tracking_number"] for x in again["left_out"]] == ["TRKR000071"]
    assert eta_of(engine, "TRKR000071") == (None, None, None)
    assert run_sweep(app, clock).examined >= 1
    assert eta_of(engine, "TRKR000071")[2] == "stages"


def test_it_keeps_the_route_eta_of_a_late_parcel_through_the_next_sweep(
    yard: Yard, personas: Personas, app: Any, clock: FakeClock, engine: Any
) -> None:
    tn, yesterday = "TRKR000062", clock() - timedelta(hours=28)
    yard.register(tn, 1.0, ordered_at=at(yesterday, -30))
    yard.scans(
        personas.admin,
        scan(f"{tn}-1", tn, "created", at(yesterday, 0), facility="WH-SH-01"),
        scan(
            f"{tn}-2", tn, "outbound", at(yesterday, 60), facility="WH-SH-01"
        ),  # promised by 23:00 yesterday
        scan(f"{tn}-3", tn, "arrived", at(yesterday, 120), facility="SC-SH-01"),
    )
    yard.scans(personas.station, scan(f"{tn}-4", tn, "arrived", at(clock(), -60), facility="ST-SH-01"))
    expected = eta(planned(yard.plan())[tn])
    assert eta_of(engine, tn) == (*expected, "route")

    assert run_sweep(app, clock).examined >= 1
    assert eta_of(engine, tn) == (*expected, "route")
