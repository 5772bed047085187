"""A vip customer's parcel goes stale sooner (``[customer_tiers.vip]`` of the service levels)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import FakeClock, Personas
from tests.helpers import registration, scan
from tests.sweep.test_sweep import live_cases, run_sweep

SH = ZoneInfo("Asia/Shanghai")


def test_a_vip_parcel_is_stale_after_half_the_hours(
    app: Any, personas: Personas, engine: Any, clock: FakeClock
) -> None:
    arrived = datetime(2026, 11, 20, 9, tzinfo=SH)
    clock.now = arrived.astimezone(UTC)
    for tn, tier in (("TRKV000001", "vip"), ("TRKV000002", "normal")):
        body = registration(tn, service_level="standard", customer_tier=tier)
        personas.merchant.post("/api/v1/parcels", json=body)
        personas.admin.post(
            "/api/v1/scans", json=scan(f"{tn}-1", tn, "arrived", arrived.isoformat(), facility="SC-SH-01")
        )
    run_sweep(app, clock)

    clock.advance(hours=24)  # standard allows 48 h in transit; a vip customer's parcel 24 h
    run_sweep(app, clock)

    assert "stale" in live_cases(engine, "TRKV000001")
    assert "limit 24.0 h" in live_cases(engine, "TRKV000001")["stale"][0]["detail"]
    assert "stale" not in live_cases(engine, "TRKV000002")
