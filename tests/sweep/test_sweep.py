"""Promises at ingest, and the sweep's stale / at-risk / breach cases, on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from tests.conftest import FakeClock, Personas
from tests.helpers import registration, scan
from tracker.core.models import Case, Parcel
from tracker.core.vocabulary import CaseState
from tracker.sweep.run import sweep
from tracker.web.runtime import Runtime

SH = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


def iso(at: datetime) -> str:
    return at.isoformat()


def run_sweep(app: Any, clock: FakeClock) -> Any:
    rt: Runtime = app.extensions["tracker"]
    return sweep(rt.engine, now=clock(), policy=rt.ingest, zone=SH)


def parcel(engine: Any, tn: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(Parcel).where(Parcel.tracking_number == tn)).one()


def set_parcel(app: Any, tn: str, **values: Any) -> None:
    """Columns the story needs that no request of its own sets (a promise, a planned route...)."""
    rt: Runtime = app.extensions["tracker"]
    with rt.engine.begin() as conn:
        conn.execute(Parcel.__table__.update().where(Parcel.tracking_number == tn).values(**values))


def live_cases(engine: Any, tn: str) -> dict[str, list[dict[str, str]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Case.type, Case.reasons)
            .join(Parcel, Parcel.id == Case.parcel_id)
            .where(Parcel.tracking_number == tn, Case.state != CaseState.RESOLVED)
        ).all()
    return {str(t): r for t, r in rows}


def test_it_promises_211_from_the_outbound_scan_even_when_it_arrives_late(
    personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = local(20, 18).astimezone(UTC)
    personas.merchant.post("/api/v1/parcels", json=registration("TRKP000001"))
    station = personas.admin
    station.post(
        "/api/v1/scans", json=scan("p1", "TRKP000001", "outbound", iso(local(20, 11, 1)), facility="WH-SH-01")
    )
    after_first = parcel(engine, "TRKP000001").promised_by
    # An earlier outbound scan turns up later (a scanner synced late): the promise follows it.
    station.post(
        "/api/v1/scans",
        json=scan("p0", "TRKP000001", "outbound", iso(local(20, 10, 59)), facility="WH-SH-01"),
    )

    assert after_first == local(21, 14).astimezone(UTC)
    assert parcel(engine, "TRKP000001").promised_by == local(20, 23).astimezone(UTC)


def test_it_fills_in_the_promise_when_the_registration_comes_after_the_scans(
    personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = local(20, 18).astimezone(UTC)
    personas.admin.post(
        "/api/v1/scans", json=scan("q1", "TRKP000002", "outbound", iso(local(20, 9)), facility="WH-SH-01")
    )
    assert parcel(engine, "TRKP000002").promised_by is None

    personas.merchant.post("/api/v1/parcels", json=registration("TRKP000002"))

    assert parcel(engine, "TRKP000002").promised_by == local(20, 23).astimezone(UTC)


def test_it_opens_stale_when_a_parcel_goes_silent_and_closes_it_on_the_next_scan(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = local(20, 10).astimezone(UTC)
    personas.merchant.post("/api/v1/parcels", json=registration("TRKS000001", service_level="standard"))
    personas.admin.post(
        "/api/v1/scans", json=scan("s1", "TRKS000001", "arrived", iso(local(20, 9)), facility="SC-SH-01")
    )
    run_sweep(app, clock)
    assert "stale" not in live_cases(engine, "TRKS000001")

    clock.advance(hours=46)  # standard allows 48 h in transit (the shipped service_levels.toml)
    # The sweep looks again only to re-estimate the ETA (the day it showed is over): no case yet.
    run_sweep(app, clock)
    assert "stale" not in live_cases(engine, "TRKS000001")
    assert parcel(engine, "TRKS000001").eta_start >= clock()  # never an ETA in the past
    clock.advance(hours=1)  # 48 h since the last scan
    report = run_sweep(app, clock)
    stale = live_cases(engine, "TRKS000001").get("stale")

    assert stale is not None and report.opened >= 1
    assert "in_transit" in stale[0]["detail"] and "SC-SH-01" in stale[0]["detail"]
    assert "limit 48.0 h" in stale[0]["detail"]
    # Nothing new happened: the next sweep does not look at this parcel again.
    assert run_sweep(app, clock).examined == 0

    personas.admin.post(
        "/api/v1/scans",
        json=scan("s2", "TRKS000001", "departed", iso(clock() - timedelta(minutes=1)), facility="SC-SH-01"),
    )
    run_sweep(app, clock)
    assert "stale" not in live_cases(engine, "TRKS000001")


def test_it_warns_at_risk_then_breach_and_closes_both_on_a_late_delivery(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    counter = (
        "tracker_deliveries_total",
        {"service_level": "211", "region_class": "same_city", "outcome": "late"},
    )
    late_before = REGISTRY.get_sample_value(*counter) or 0.0
    clock.now = local(20, 10, 30).astimezone(UTC)
    personas.merchant.post("/api/v1/parcels", json=registration("TRKR000001"))
    personas.admin.post(
        "/api/v1/scans", json=scan("r1", "TRKR000001", "outbound", iso(local(20, 10)), facility="WH-SH-01")
    )
    # In transit at 10:00 with a promise of 23:00: the default in-transit
    # stage alone (high quartile 36 h) ends after the promise.
    run_sweep(app, clock)
    assert "at_risk" in live_cases(engine, "TRKR000001")
    assert parcel(engine, "TRKR000001").eta_end is not None

    clock.now = local(20, 23, 30).astimezone(UTC)
    run_sweep(app, clock)
    after_promise = live_cases(engine, "TRKR000001")
    assert "sla_breach" in after_promise and "at_risk" not in after_promise

    personas.admin.post(
        "/api/v1/scans",
        json=scan(
            "r2",
            "TRKR000001",
            "delivered",
            iso(local(20, 23, 20)),
            courier_id="C-SH011",
            lat=31.23,
            lon=121.47,
            accuracy_m=10,
        ),
    )
    run_sweep(app, clock)

    assert live_cases(engine, "TRKR000001") == {}
    assert REGISTRY.get_sample_value(*counter) == late_before + 1
    assert parcel(engine, "TRKR000001").next_check_at is None


# The race is about PostgreSQL (SKIP LOCKED); SQLite serialises writers.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.committing  # two sweeps in threads, each on its own connection
def test_it_opens_no_duplicate_case_when_two_sweeps_run_at_once(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = local(20, 10).astimezone(UTC)
    events = [
        scan(f"race-{n}", f"TRKZ{n:06d}", "arrived", iso(local(18, 9)), facility="SC-SH-01")
        for n in range(1200)
    ]
    personas.admin.post("/api/v1/scans", json={"events": events})
    rt: Runtime = app.extensions["tracker"]
    reports: list[Any] = []

    def one() -> None:
        reports.append(sweep(rt.engine, now=clock(), policy=rt.ingest, zone=SH, chunk=100))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    with engine.connect() as conn:
        per_parcel = conn.execute(
            select(Case.parcel_id, func.count()).where(Case.type == "stale").group_by(Case.parcel_id)
        ).all()
    assert len(per_parcel) == 1200
    assert max(n for _, n in per_parcel) == 1
    assert sum(r.examined for r in reports) == 1200
    assert all(r.examined > 0 for r in reports), "both sweeps should have taken chunks"


def test_it_examines_only_the_parcels_that_are_due(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = local(20, 10).astimezone(UTC)
    events = [
        scan(f"due-{n}", f"TRKY{n:06d}", "arrived", iso(local(20, 9)), facility="SC-SH-01") for n in range(50)
    ]
    personas.admin.post("/api/v1/scans", json={"events": events})
    assert run_sweep(app, clock).examined == 50

    personas.admin.post(
        "/api/v1/scans",
        json=scan("due-x", "TRKY000007", "departed", iso(local(20, 9, 30)), facility="SC-SH-01"),
    )
    assert run_sweep(app, clock).examined == 1


def test_the_sweep_shows_an_in_transit_parcel_a_day_in_delivery_hours_never_to_the_minute(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = local(20, 22, 7).astimezone(UTC)
    personas.merchant.post("/api/v1/parcels", json=registration("TRKE000001", service_level="standard"))
    personas.admin.post(
        "/api/v1/scans", json=scan("e1", "TRKE000001", "arrived", iso(local(20, 21, 53)), facility="SC-SH-01")
    )
    run_sweep(app, clock)

    eta = personas.anonymous.get("/api/v1/track/TRKE000001?lang=en").json["eta"]
    assert eta["kind"] == "day" and eta["plan"] is None
    start, end = datetime.fromisoformat(eta["start"]), datetime.fromisoformat(eta["end"])
    # Not tonight (couriers stop at 21:00), on whole quarter hours, within 08:00-21:00 of its day.
    assert (
        start.date()
        == end.date()
        == datetime.fromisoformat(eta["date"] + "T00:00").date()
        >= local(21, 0).date()
    )
    assert start.hour >= 8 and (end.hour, end.minute) <= (21, 0)
    assert start.minute % 15 == 0 and end.minute % 15 == 0
    assert eta["text"].startswith("Expected on ") and ":" not in eta["text"]
    zh = personas.anonymous.get("/api/v1/track/TRKE000001?lang=zh-CN").json["eta"]["text"]
    assert zh.startswith("预计 ") and zh.endswith("送达。") and ":" not in zh


def test_ops_and_the_customer_hear_of_a_delay_from_the_one_day_the_page_shows(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    # A new network (the stage defaults: in transit 8/20/36 h, out for delivery 2/4/8 h).
    # Out of the warehouse at 07:00 on the 20th, the estimate's low, likely and high
    # moments fall on the 20th, 21st and 22nd: the page shows the likely one's day, the 21st.
    clock.now = local(20, 7, 30).astimezone(UTC)
    promises = {"TRKD000001": local(21, 23), "TRKD000002": local(20, 20)}
    for tn, promised in promises.items():
        personas.merchant.post("/api/v1/parcels", json=registration(tn))
        personas.admin.post("/api/v1/scans", json=scan(f"{tn}-1", tn, "outbound", iso(local(20, 7)),
                                                       facility="WH-SH-01"))  # fmt: skip
        set_parcel(app, tn, promised_by=promised.astimezone(UTC))
    run_sweep(app, clock)
    reads = {tn: app.test_client().get(f"/api/v1/track/{tn}").get_json() for tn in promises}

    # Promised by 23:00 on the 21st, shown the 21st: no case for ops and no notice for the
    # customer, though the stage quartiles' far end (03:00 on the 22nd) runs past the promise.
    kept = reads["TRKD000001"]
    assert kept["eta"]["start"].startswith("2026-11-21"), kept["eta"]
    assert "at_risk" not in live_cases(engine, "TRKD000001")
    assert kept["delay"] is None
    # Promised by 20:00 on the 20th, shown the 21st: both hear of it, and the customer is
    # told the day now expected.
    late = reads["TRKD000002"]
    assert late["eta"]["start"].startswith("2026-11-21"), late["eta"]
    assert "at_risk" in live_cases(engine, "TRKD000002")
    assert late["delay"]["because"] == "at_risk" and late["delay"]["date"] == "2026-11-21"


def booked_after_the_promise(app: Any, personas: Personas, clock: FakeClock, tn: str) -> None:
    """``tn`` out of the warehouse at 20:00 on the 20th, promised by 12:00 on the 21st, booked 17:00-19:00."""
    clock.now = local(21, 9).astimezone(UTC)
    personas.merchant.post("/api/v1/parcels", json=registration(tn))
    personas.admin.post("/api/v1/scans", json=scan(f"{tn}-1", tn, "outbound", iso(local(20, 20)),
                                                   facility="WH-SH-01"))  # fmt: skip
    set_parcel(
        app,
        tn,
        promised_by=local(21, 12).astimezone(UTC),
        appointment_start=local(21, 17).astimezone(UTC),
        appointment_end=local(21, 19).astimezone(UTC),
    )


def test_a_later_window_the_customer_chose_is_neither_at_risk_nor_a_breach_before_it_ends(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    # Promised by 12:00 on the 21st; the customer chose 17:00-19:00 that day and the
    # station's route comes 17:00-18:00 (a planned ETA after the promise, inside the window).
    tn = "TRKW000001"
    booked_after_the_promise(app, personas, clock, tn)
    set_parcel(
        app,
        tn,
        eta_start=local(21, 17).astimezone(UTC),
        eta_end=local(21, 18).astimezone(UTC),
        eta_source="route",
    )
    run_sweep(app, clock)
    assert not {"at_risk", "sla_breach"} & set(live_cases(engine, tn))
    clock.now = local(21, 13).astimezone(UTC)  # past the promise, before the window
    set_parcel(app, tn, next_check_at=clock.now)
    run_sweep(app, clock)
    assert not {"at_risk", "sla_breach"} & set(live_cases(engine, tn))
    assert app.test_client().get(f"/api/v1/track/{tn}").get_json()["delay"] is None
    clock.now = local(21, 19, 30).astimezone(UTC)  # the window is over and nothing came
    set_parcel(app, tn, next_check_at=clock.now)
    run_sweep(app, clock)
    [breach] = live_cases(engine, tn)["sla_breach"]
    assert breach["detail"].startswith(
        "the window the customer chose ended 2026-11-21T19:00:00+08:00 (promised by 2026-11-21T12:00:00+08:00, 211);"
    ), breach
    assert app.test_client().get(f"/api/v1/track/{tn}").get_json()["delay"]["because"] == "late"


def test_a_scan_makes_a_parcel_due_now_but_never_later_than_it_was(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = local(20, 9).astimezone(UTC)
    personas.merchant.post("/api/v1/parcels", json=registration("TRKD000001"))
    registered_due = parcel(engine, "TRKD000001").next_check_at
    assert registered_due == clock()

    # Still due (the sweep has not been): the scan leaves it due since then, not since now.
    clock.advance(hours=1)
    personas.admin.post(
        "/api/v1/scans", json=scan("d1", "TRKD000001", "outbound", iso(local(20, 9, 30)), facility="WH-SH-01")
    )
    assert parcel(engine, "TRKD000001").next_check_at == registered_due

    # Once the sweep has put it off, news makes it due at once again.
    run_sweep(app, clock)
    assert parcel(engine, "TRKD000001").next_check_at > clock()
    clock.advance(minutes=5)
    personas.admin.post(
        "/api/v1/scans", json=scan("d2", "TRKD000001", "arrived", iso(local(20, 10, 2)), facility="SC-SH-01")
    )
    assert parcel(engine, "TRKD000001").next_check_at == clock()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_scan_that_keeps_the_status_updates_a_due_parcel_in_place(
    personas: Personas, engine: Any, clock: FakeClock
) -> None:
    """No indexed column changes (migration 0017), so PostgreSQL writes no new index entries (HOT)."""
    clock.now = local(20, 12).astimezone(UTC)
    personas.admin.post(
        "/api/v1/scans", json=scan("h1", "TRKH000001", "arrived", iso(local(20, 10)), facility="SC-SH-01")
    )

    def hot_updates() -> int:
        with engine.connect() as conn:
            return int(
                conn.exec_driver_sql(
                    "SELECT n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'parcels'"
                ).scalar_one()
            )

    before = hot_updates()
    clock.advance(minutes=1)
    personas.admin.post(
        "/api/v1/scans", json=scan("h2", "TRKH000001", "departed", iso(local(20, 11)), facility="SC-SH-01")
    )
    assert parcel(engine, "TRKH000001").status == "in_transit"
    assert hot_updates() == before + 1


def test_a_delivery_in_a_later_window_the_customer_chose_counts_on_time(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    # Promised by 12:00 on the 21st, booked 17:00-19:00, delivered 17:30: on time in the
    # metrics and on the courier's scorecard, as on the page and in ops' cases.
    tn = "TRKW000002"
    labels = {"service_level": "211", "region_class": "same_city"}
    before = {
        outcome: REGISTRY.get_sample_value("tracker_deliveries_total", {**labels, "outcome": outcome}) or 0.0
        for outcome in ("on_time", "late")
    }
    booked_after_the_promise(app, personas, clock, tn)
    clock.now = local(21, 17, 35).astimezone(UTC)
    delivered = scan(f"{tn}-2", tn, "delivered", iso(local(21, 17, 30)), courier_id="C-SH011", lat=31.2304,
                     lon=121.4737, accuracy_m=10, pod={"signed_by": "本人", "relation": "self"})  # fmt: skip
    answer = personas.admin.post("/api/v1/scans", json=delivered)
    assert answer.status_code == 201, answer.get_json()
    after = {
        outcome: REGISTRY.get_sample_value("tracker_deliveries_total", {**labels, "outcome": outcome}) or 0.0
        for outcome in ("on_time", "late")
    }
    assert (after["on_time"] - before["on_time"], after["late"] - before["late"]) == (1.0, 0.0)
    card = personas.ops.get(
        "/api/v1/couriers/C-SH011/scorecard",
        query_string={"since": iso(local(21, 0)), "until": iso(local(21, 18))},
    ).get_json()
    assert (card["on_time"]["count"], card["on_time"]["of"]) == (1, 1), card
