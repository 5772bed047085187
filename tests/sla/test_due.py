"""A parcel's next due time for the sweep."""

from datetime import UTC, datetime, timedelta

from tracker.sla import next_due, stale_deadline

H = timedelta(hours=1)
SCANNED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
STALE_AFTER = {"in_transit": 24 * H, "out_for_delivery": 10 * H}


def due(status="in_transit", *, promised_by=None, at_risk_at=None, evaluated_at=None):
    return next_due(
        status,
        entered_at=SCANNED,
        stale_after=STALE_AFTER,
        promised_by=promised_by,
        at_risk_at=at_risk_at,
        evaluated_at=evaluated_at,
    )


def test_it_is_due_when_the_parcel_goes_stale_if_that_comes_first():
    assert due(promised_by=SCANNED + 30 * H, at_risk_at=SCANNED + 26 * H) == SCANNED + 24 * H


def test_it_is_due_at_the_at_risk_time_if_that_comes_first():
    assert due(promised_by=SCANNED + 30 * H, at_risk_at=SCANNED + 20 * H) == SCANNED + 20 * H


def test_it_is_due_at_the_promise_if_that_comes_first():
    assert due("out_for_delivery", promised_by=SCANNED + 6 * H) == SCANNED + 6 * H


def test_it_watches_only_the_promise_of_a_status_without_a_stale_threshold():
    assert stale_deadline("exception", entered_at=SCANNED, stale_after=STALE_AFTER) is None
    assert due("exception", promised_by=SCANNED + 30 * H) == SCANNED + 30 * H
    assert due("exception") is None


def test_it_stops_watching_a_delivered_parcel():
    assert due("delivered", promised_by=SCANNED + 30 * H, at_risk_at=SCANNED + H) is None


def test_it_skips_deadlines_already_acted_on():
    # The sweep acted at the stale deadline; next comes the promise.
    assert due(promised_by=SCANNED + 30 * H, evaluated_at=SCANNED + 24 * H) == SCANNED + 30 * H
    assert due(promised_by=SCANNED + 30 * H, evaluated_at=SCANNED + 31 * H) is None


def test_it_keeps_a_deadline_that_passed_before_a_late_scan_arrived():
    # A courier's batch from yesterday: the stale deadline is already past,
    # so the parcel is due at once instead of never.
    old = SCANNED - 30 * H
    assert (
        next_due("in_transit", entered_at=old, stale_after=STALE_AFTER, promised_by=None, at_risk_at=None)
        == old + 24 * H
    )
