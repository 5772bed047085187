"""Pickup codes (取件码): issued at the pickup point, shown only to the verified recipient, checked at collection."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.conftest import T0, FakeClock
from tests.helpers import at, scan
from tests.sweep.test_outcomes import cases_of, run_sweep
from tests.tracking.conftest import CODE
from tracker.core.models import Parcel
from tracker.scans import pickup_codes


def _row(engine: Any, tn: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(Parcel.pickup_code, Parcel.pickup_code_check, Parcel.status).where(
                Parcel.tracking_number == tn
            )
        ).one()


def test_a_parcel_made_ready_at_a_pickup_point_gets_a_code_only_its_verified_recipient_sees(
    parcels: Any, client: Any, engine: Any
) -> None:
    tn = parcels.make("available_for_pickup")
    code = _row(engine, tn).pickup_code
    assert code is not None and re.fullmatch(r"[0-9]{6}", code)

    public = client.get(f"/api/v1/track/{tn}")
    assert public.status_code == 200 and "pickup_code" not in public.json
    assert code not in public.get_data(as_text=True)
    assert code not in client.get(f"/track/{tn}").get_data(as_text=True)

    verified = client.get(f"/api/v1/track/{tn}", headers={"X-Verification": CODE})
    assert verified.json["pickup_code"] == code

    client.post(f"/track/{tn}/verify?lang=zh-CN", data={"code": CODE})
    page = client.get(f"/track/{tn}?lang=zh-CN").get_data(as_text=True)
    assert code in page and "取件码" in page
    # Once collected, the code has done its work: it is not shown again.
    parcels.scan(tn, scan(f"{tn}-9", tn, "collected", at(T0, -60), facility="PP-SH-011", pickup_code=code))
    assert code not in client.get(f"/track/{tn}").get_data(as_text=True)


def test_a_code_is_unique_among_the_parcels_waiting_at_the_point(
    parcels: Any, engine: Any, monkeypatch: Any
) -> None:
    draws = iter([123456, 123456, 654321])
    monkeypatch.setattr(pickup_codes.secrets, "randbelow", lambda _n: next(draws))

    first, second = parcels.make("available_for_pickup"), parcels.make("available_for_pickup")

    assert _row(engine, first).pickup_code == "123456"
    assert _row(engine, second).pickup_code == "654321"


def test_parcels_made_ready_together_get_codes_unique_among_the_point_and_each_other(
    parcels: Any, engine: Any, monkeypatch: Any
) -> None:
    draws = iter([123456, 123456, 222222, 222222, 333333])
    monkeypatch.setattr(pickup_codes.secrets, "randbelow", lambda _n: next(draws))
    waiting = parcels.make("available_for_pickup")
    first, second = (parcels.make("out_for_delivery", pickup_point="PP-SH-011") for _ in range(2))

    # One batch: the codes are drawn together, after the point's codes are read.
    parcels.scan(
        first,
        scan(f"{first}-9", first, "ready_for_pickup", at(T0, -60), facility="PP-SH-011"),
        scan(f"{second}-9", second, "ready_for_pickup", at(T0, -60), facility="PP-SH-011"),
    )

    assert _row(engine, waiting).pickup_code == "123456"
    assert {_row(engine, first).pickup_code, _row(engine, second).pickup_code} == {"222222", "333333"}
    assert {_row(engine, tn).status for tn in (first, second)} == {"available_for_pickup"}


def test_a_collected_scan_checks_the_code_and_a_wrong_one_opens_a_case(
    app: Any, parcels: Any, engine: Any, clock: FakeClock
) -> None:
    right, wrong, none = (parcels.make("available_for_pickup") for _ in range(3))
    code = {tn: _row(engine, tn).pickup_code for tn in (right, wrong, none)}
    other = f"{(int(code[wrong]) + 1) % 1_000_000:06d}"
    when = at(T0, -60)

    parcels.scan(
        right,
        scan(f"{right}-9", right, "collected", when, facility="PP-SH-011", pickup_code=code[right]),
        scan(f"{wrong}-9", wrong, "collected", when, facility="PP-SH-011", pickup_code=other),
        scan(f"{none}-9", none, "collected", when, facility="PP-SH-011"),
    )
    clock.now = T0 + timedelta(minutes=1)
    run_sweep(app, clock)

    # Every scan is stored: the parcel did leave the point.
    assert {_row(engine, tn).status for tn in (right, wrong, none)} == {"delivered"}
    assert _row(engine, right).pickup_code_check == "matched"
    assert _row(engine, wrong).pickup_code_check == "wrong"
    assert _row(engine, none).pickup_code_check == "missing"
    (case,) = [c for c in cases_of(engine, wrong) if c.type == "pickup_code_mismatch"]
    assert case.facility_code == "PP-SH-011" and f"{wrong}-9" in case.reasons[0]["detail"]
    assert other not in str(case.reasons) and code[wrong] not in str(case.reasons)
    assert not [c for tn in (right, none) for c in cases_of(engine, tn) if c.type == "pickup_code_mismatch"]
    # The next sweep does not open it twice.
    run_sweep(app, clock)
    assert len([c for c in cases_of(engine, wrong) if c.type == "pickup_code_mismatch"]) == 1


def test_only_a_collected_scan_carries_a_pickup_code(parcels: Any, personas: Any) -> None:
    tn = parcels.make("in_transit")
    answer = personas.admin.post(
        "/api/v1/scans",
        json={
            "events": [scan(f"{tn}-9", tn, "arrived", at(T0, -60), facility="ST-SH-01", pickup_code="123456")]
        },
    )
    (result,) = answer.json["results"]
    assert result["result"] == "rejected" and result["errors"][0]["field"] == "pickup_code"
    short = scan(f"{tn}-8", tn, "collected", at(T0, -60), facility="PP-SH-011", pickup_code="12")
    (result,) = personas.admin.post("/api/v1/scans", json={"events": [short]}).json["results"]
    assert result["result"] == "rejected" and result["errors"][0]["field"] == "pickup_code"
