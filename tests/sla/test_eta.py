"""ETA windows from stage estimates, and when a parcel is at risk."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.sla import (
    DEFAULT_STAGE_ESTIMATES,
    StageEstimate,
    at_risk,
    at_risk_from,
    eta_window,
    remaining_stages,
    stage_estimates,
)

H = timedelta(hours=1)
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def hours(low: float, median: float, high: float) -> StageEstimate:
    return StageEstimate(low * H, median * H, high * H, observations=100)


# Deliberately unlike the defaults, so a test cannot pass on them by accident.
ESTIMATES = {
    "info_received": hours(2, 4, 6),
    "in_transit": hours(10, 12, 20),
    "out_for_delivery": hours(1, 2, 3),
    "failed_attempt": hours(20, 22, 24),
    "available_for_pickup": hours(5, 10, 30),
}


def window_hours(
    status: str, *, elapsed: float = 0, pickup: bool = False
) -> tuple[float, float, float] | None:
    window = eta_window(status, entered_at=NOW - elapsed * H, now=NOW, estimates=ESTIMATES, pickup=pickup)
    if window is None:
        return None
    return tuple((t - NOW) / H for t in (window.start, window.likely, window.end))  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("status", "pickup", "stages"),
    [
        ("info_received", False, ("info_received", "in_transit", "out_for_delivery")),
        ("in_transit", False, ("in_transit", "out_for_delivery")),
        ("failed_attempt", False, ("failed_attempt", "out_for_delivery")),
        ("available_for_pickup", False, ("available_for_pickup",)),
        ("info_received", True, ("info_received", "in_transit")),
        ("available_for_pickup", True, ()),
        ("delivered", False, ()),
        ("returned", True, ()),
        ("exception", False, None),
    ],
)
def test_it_knows_which_stages_remain(status, pickup, stages):
    assert remaining_stages(status, pickup=pickup) == stages


def test_it_adds_up_the_remaining_stages_for_a_parcel_that_just_moved_on():
    assert window_hours("info_received") == (2 + 10 + 1, 4 + 12 + 2, 6 + 20 + 3)
    assert window_hours("in_transit") == (10 + 1, 12 + 2, 20 + 3)
    assert window_hours("failed_attempt") == (20 + 1, 22 + 2, 24 + 3)


def test_it_subtracts_the_time_already_spent_in_the_current_stage():
    # 11 h into in_transit: past its low (10 h), short of its high (20 h).
    assert window_hours("in_transit", elapsed=11) == (0 + 1, 1 + 2, 9 + 3)


def test_it_keeps_only_the_later_stages_for_a_parcel_that_overstayed():
    assert window_hours("in_transit", elapsed=25) == (1, 2, 3)


def test_it_ends_a_pickup_service_at_the_pickup_point():
    assert window_hours("in_transit", pickup=True) == (10, 12, 20)
    assert window_hours("available_for_pickup", pickup=True) is None
    # A door parcel parked at a pickup point waits to be collected.
    assert window_hours("available_for_pickup") == (5, 10, 30)


def test_it_gives_no_eta_when_the_journey_is_over_or_unknown():
    assert window_hours("delivered") is None
    assert window_hours("exception") is None


def test_it_answers_in_utc():
    shanghai_now = NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    window = eta_window("in_transit", entered_at=NOW, now=shanghai_now, estimates=ESTIMATES)
    assert window is not None and window.start.tzinfo is UTC


def test_it_falls_back_to_defaults_while_history_is_thin():
    thin = [timedelta(hours=1)] * 19
    estimates = stage_estimates({"in_transit": thin})
    assert estimates["in_transit"] == DEFAULT_STAGE_ESTIMATES["in_transit"]
    assert estimates["out_for_delivery"] == DEFAULT_STAGE_ESTIMATES["out_for_delivery"]


def test_it_uses_quartiles_of_a_rich_history():
    durations = [n * H for n in range(1, 41)]  # 1 h .. 40 h
    estimate = stage_estimates({"in_transit": durations})["in_transit"]
    # Inclusive quartiles of 1..40: 10.75, 20.5, 30.25.
    assert estimate == StageEstimate(10.75 * H, 20.5 * H, 30.25 * H, observations=40)


def test_it_takes_precomputed_estimates_that_summarise_enough_parcels():
    enough, too_few = hours(1, 2, 3), StageEstimate(H, 2 * H, 3 * H, observations=5)
    estimates = stage_estimates({"in_transit": enough, "out_for_delivery": too_few})
    assert estimates["in_transit"] == enough
    assert estimates["out_for_delivery"] == DEFAULT_STAGE_ESTIMATES["out_for_delivery"]


def test_it_lowers_the_bar_for_history_when_asked():
    estimates = stage_estimates({"in_transit": [H, 3 * H]}, min_observations=2)
    assert estimates["in_transit"].median == 2 * H


@pytest.mark.parametrize(
    ("eta_end", "promised_by", "now", "expected"),
    [
        (NOW + 5 * H, NOW + 4 * H, NOW, True),
        (NOW + 4 * H, NOW + 4 * H, NOW, False),
        (NOW + 3 * H, NOW + 4 * H, NOW, False),
        (NOW + 5 * H, NOW - H, NOW, False),  # past the promise: a breach, not a risk
    ],
)
def test_it_calls_a_parcel_at_risk_when_its_eta_ends_after_a_standing_promise(
    eta_end, promised_by, now, expected
):
    assert at_risk(eta_end, promised_by, now) is expected


def test_it_finds_the_moment_a_parcel_that_does_not_move_becomes_at_risk():
    # in_transit high 20 h + out_for_delivery high 3 h fits a promise 30 h
    # out; stuck in transit, the parcel is at risk once fewer than 3 h remain.
    start = NOW
    assert (
        at_risk_from("in_transit", entered_at=start, promised_by=start + 30 * H, estimates=ESTIMATES)
        == start + 27 * H
    )


def test_it_finds_a_parcel_at_risk_from_the_start_when_the_stages_cannot_fit():
    start = NOW
    assert (
        at_risk_from("in_transit", entered_at=start, promised_by=start + 22 * H, estimates=ESTIMATES) == start
    )


def test_it_never_puts_a_parcel_in_its_last_stage_at_risk_before_the_promise():
    assert (
        at_risk_from("out_for_delivery", entered_at=NOW, promised_by=NOW + 5 * H, estimates=ESTIMATES) is None
    )
    assert at_risk_from("delivered", entered_at=NOW, promised_by=NOW + 5 * H, estimates=ESTIMATES) is None


STATUSES = st.sampled_from(
    ["info_received", "in_transit", "out_for_delivery", "failed_attempt", "available_for_pickup"]
)
MINUTES = st.integers(min_value=0, max_value=5 * 24 * 60)


@settings(deadline=None, max_examples=300)
@given(status=STATUSES, pickup=st.booleans(), promise_in=MINUTES, now_in=MINUTES)
def test_it_agrees_between_at_risk_from_and_the_eta_window(status, pickup, promise_in, now_in):
    entered, minute = NOW, timedelta(minutes=1)
    promised_by, now = entered + promise_in * minute, entered + now_in * minute
    window = eta_window(status, entered_at=entered, now=now, estimates=ESTIMATES, pickup=pickup)
    risky = window is not None and at_risk(window.end, promised_by, now)
    moment = at_risk_from(
        status, entered_at=entered, promised_by=promised_by, estimates=ESTIMATES, pickup=pickup
    )
    if moment is None or now < moment:
        assert not risky
    elif now > moment or moment == entered:
        assert risky == (now < promised_by)
