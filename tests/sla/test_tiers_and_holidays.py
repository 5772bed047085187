"""Customer tiers tighten stale thresholds; a holiday schedule about to run out is said (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tracker.core.vocabulary import ParcelStatus
from tracker.sla import (
    ServiceLevelConfigError,
    holiday_schedule_warning,
    load_service_levels,
    parse_service_levels,
)
from tracker.sla.config import resources


def test_a_vip_parcel_goes_stale_in_half_the_hours_of_its_level() -> None:
    levels = load_service_levels()
    standard = levels["standard"]

    normal = levels.stale_after_for(standard, "normal")
    vip = levels.stale_after_for(standard, "vip")

    assert normal[ParcelStatus.IN_TRANSIT] == timedelta(hours=48)
    assert vip[ParcelStatus.IN_TRANSIT] == timedelta(hours=24)
    assert levels.stale_after_for(None, "vip")[ParcelStatus.INFO_RECEIVED] == timedelta(hours=24)


def test_a_tier_factor_outside_zero_to_one_names_its_key() -> None:
    shipped = resources.files("tracker.sla").joinpath("service_levels.toml").read_text(encoding="utf-8")
    broken = shipped.replace("stale_factor = 0.5", "stale_factor = 2")

    with pytest.raises(ServiceLevelConfigError, match=r"customer_tiers\.vip\.stale_factor"):
        parse_service_levels(broken)


def test_it_warns_when_the_holiday_schedule_ends_within_30_days() -> None:
    levels = load_service_levels()
    last = levels.holidays_until()
    assert last is not None

    assert holiday_schedule_warning(levels, last - timedelta(days=31)) is None
    warning = holiday_schedule_warning(levels, last - timedelta(days=30))
    assert warning is not None and last.isoformat() in warning and "standard" in warning
    assert "passed" in (holiday_schedule_warning(levels, last + timedelta(days=1)) or "")
    assert date(2026, 12, 1) + timedelta(days=30) >= last  # the shipped schedule: warned today


def test_the_app_logs_the_warning_at_start(
    settings: Any, engine: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    from tracker.app import create_app

    create_app(settings, engine=engine, clock=lambda: datetime(2026, 12, 1, 8, tzinfo=UTC))

    logged = capfd.readouterr()
    assert "the holiday schedule of the service levels ends 2026-12-31" in logged.err + logged.out
