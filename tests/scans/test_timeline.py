"""Deriving parcel state from events: order of arrival must not matter."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.core.vocabulary import EventType, ParcelStatus
from tracker.scans import timeline
from tracker.scans.timeline import EMPTY, TimelineEvent, derive

T = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


def ev(n: int, type_: EventType, minutes: int) -> TimelineEvent:
    return TimelineEvent(f"e{n}", type_, T + timedelta(minutes=minutes), facility_code=f"F{n}")


events_strategy = st.lists(
    st.tuples(st.sampled_from(list(EventType)), st.integers(min_value=0, max_value=50)),
    min_size=1,
    max_size=25,
).map(lambda items: [ev(i, t, m) for i, (t, m) in enumerate(items)])


@settings(max_examples=300, deadline=None)
@given(events=events_strategy, seed=st.integers())
def test_it_derives_the_same_state_for_every_arrival_order(events: list[TimelineEvent], seed: int) -> None:
    shuffled = events[:]
    random.Random(seed).shuffle(shuffled)
    assert derive(shuffled) == derive(events)


@settings(max_examples=200, deadline=None)
@given(events=events_strategy, split=st.integers(min_value=0, max_value=25))
def test_it_folds_a_new_batch_onto_a_stored_state_like_a_full_rederivation(
    events: list[TimelineEvent], split: int
) -> None:
    stored = derive(events[:split])
    assert derive(events[split:], start=stored) == derive(events)


@settings(max_examples=300, deadline=None)
@given(events=events_strategy, split=st.integers(min_value=0, max_value=25))
def test_the_batch_fold_is_the_one_event_fold_applied_to_each_event(
    events: list[TimelineEvent], split: int
) -> None:
    # A batch folded at once must equal its events folded one at a time,
    # from an empty state or from a stored one.
    stored = EMPTY
    for event in events[:split]:
        stored = timeline.apply(stored, event)
    expected = stored
    for event in events[split:]:
        expected = timeline.apply(expected, event)
    assert derive(events[split:], start=stored) == expected
    assert derive(events) == expected


def test_it_takes_the_status_of_the_latest_event_by_occurred_at_not_by_arrival() -> None:
    late_arriving_old_scan = ev(1, EventType.ARRIVED, 10)
    delivered = ev(2, EventType.DELIVERED, 100)
    state = derive([delivered, late_arriving_old_scan])
    assert state.status is ParcelStatus.DELIVERED
    assert state.last_event == delivered


def test_it_does_not_send_a_moving_parcel_back_to_info_received_for_a_late_label() -> None:
    state = derive([ev(1, EventType.ARRIVED, 10), ev(2, EventType.CREATED, 20)])
    assert state.status is ParcelStatus.IN_TRANSIT


def test_it_keeps_the_status_when_damage_is_found() -> None:
    state = derive([ev(1, EventType.ARRIVED, 10), ev(2, EventType.DAMAGED, 20)])
    assert state.status is ParcelStatus.IN_TRANSIT
    assert state.last_event is not None and state.last_event.type is EventType.DAMAGED


def test_it_orders_same_second_events_by_stage() -> None:
    state = derive([ev(1, EventType.DEPARTED, 10), ev(2, EventType.ARRIVED, 10)])
    assert state.last_event is not None and state.last_event.type is EventType.DEPARTED


def test_it_remembers_the_first_outbound_and_the_first_delivery() -> None:
    state = derive(
        [
            ev(1, EventType.OUTBOUND, 30),
            ev(2, EventType.OUTBOUND, 5),
            ev(3, EventType.COLLECTED, 90),
            ev(4, EventType.DELIVERED, 80),
        ]
    )
    assert state.outbound_at == T + timedelta(minutes=5)
    assert state.delivered_at == T + timedelta(minutes=80)
    assert state.event_count == 4


def test_it_lists_a_timeline_in_the_order_things_happened() -> None:
    a, b, c = ev(1, EventType.CREATED, 0), ev(2, EventType.OUTBOUND, 5), ev(3, EventType.ARRIVED, 9)
    assert timeline.timeline([c, a, b]) == [a, b, c]
