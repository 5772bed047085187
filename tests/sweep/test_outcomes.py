"""What a scan settles at the next sweep: lost and damaged exceptions, kept and missed appointments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import REGISTRY
from sqlalchemy import select, update

from tests.conftest import FakeClock, Personas
from tests.helpers import registration, scan
from tracker.cases import store as cases
from tracker.core.db import write_transaction
from tracker.core.models import Case, Parcel
from tracker.sweep.detectors import DETECTORS
from tracker.sweep.run import sweep
from tracker.web.runtime import Runtime

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 20, 9, tzinfo=SH)


def run_sweep(app: Any, clock: FakeClock) -> Any:
    rt: Runtime = app.extensions["tracker"]
    return sweep(rt.engine, now=clock(), policy=rt.ingest, zone=SH, detectors=DETECTORS)


def cases_of(engine: Any, tn: str) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            select(Case.id, Case.type, Case.state, Case.reasons, Case.facility_code)
            .join(Parcel, Parcel.id == Case.parcel_id)
            .where(Parcel.tracking_number == tn)
            .order_by(Case.id)
        ).all()


def _journey(personas: Personas, tn: str, last: dict[str, Any]) -> None:
    personas.merchant.post("/api/v1/parcels", json=registration(tn))
    events = [
        scan(f"{tn}-1", tn, "outbound", START.isoformat(), facility="WH-SH-01"),
        scan(f"{tn}-2", tn, "arrived", (START + timedelta(hours=2)).isoformat(), facility="SC-SH-01"),
        last,
    ]
    answer = personas.admin.post("/api/v1/scans", json={"events": events})
    assert answer.json["accepted"] == 3, answer.json


def test_an_exception_scan_for_a_lost_parcel_opens_a_lost_case_once(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = (START + timedelta(hours=4)).astimezone(UTC)
    tn = "TRKL000001"
    lost_at = (START + timedelta(hours=3)).isoformat()
    _journey(personas, tn, scan(f"{tn}-3", tn, "exception", lost_at, facility="SC-SH-01", reason="lost"))

    run_sweep(app, clock)
    (case,) = [c for c in cases_of(engine, tn) if c.type == "lost"]

    assert case.state == "open" and case.facility_code == "SC-SH-01"
    assert case.reasons[0]["code"] == "reported_lost" and f"{tn}-3" in case.reasons[0]["detail"]
    # Ops resolves it; the same scan never opens it again.
    with write_transaction(engine) as conn:
        cases.resolve(conn, case.id, "no_action", now=clock(), actor="ops:1")
    with write_transaction(engine) as conn:
        conn.execute(update(Parcel).where(Parcel.tracking_number == tn).values(next_check_at=clock()))
    run_sweep(app, clock)
    assert [c.state for c in cases_of(engine, tn) if c.type == "lost"] == ["resolved"]


def test_an_exception_scan_for_damage_opens_the_damage_case(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    clock.now = (START + timedelta(hours=4)).astimezone(UTC)
    tn = "TRKL000002"
    found = (START + timedelta(hours=3)).isoformat()
    _journey(personas, tn, scan(f"{tn}-3", tn, "exception", found, facility="SC-SH-01", reason="damaged"))

    run_sweep(app, clock)

    assert [c.type for c in cases_of(engine, tn)].count("damage") == 1


def test_a_delivery_outside_the_chosen_window_is_missed_and_opens_a_case(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("tracker_appointments_total", {"outcome": outcome}) or 0.0

    kept_before, missed_before = count("kept"), count("missed")
    clock.now = (START + timedelta(hours=12)).astimezone(UTC)
    for tn, hour in (("TRKA000001", 15), ("TRKA000002", 19)):
        window = {
            "start": (START.replace(hour=14)).isoformat(),
            "end": (START.replace(hour=16)).isoformat(),
        }
        personas.merchant.post("/api/v1/parcels", json=registration(tn, appointment=window))
        delivered = START.replace(hour=hour).isoformat()
        personas.admin.post(
            "/api/v1/scans", json=scan(f"{tn}-d", tn, "delivered", delivered, courier_id="C-SH011")
        )
    run_sweep(app, clock)

    with engine.connect() as conn:
        outcomes = dict(conn.execute(select(Parcel.tracking_number, Parcel.appointment_outcome)).all())
    assert outcomes["TRKA000001"] == "kept" and outcomes["TRKA000002"] == "missed"
    assert [c.type for c in cases_of(engine, "TRKA000002")].count("missed_appointment") == 1
    assert "missed_appointment" not in [c.type for c in cases_of(engine, "TRKA000001")]
    assert (count("kept") - kept_before, count("missed") - missed_before) == (1.0, 1.0)
    # Counted once: the next sweep of the parcel does not count it again.
    with write_transaction(engine) as conn:
        conn.execute(update(Parcel).values(next_check_at=clock()))
    run_sweep(app, clock)
    assert count("missed") - missed_before == 1.0
