"""Notification metrics: the backlog from the database (web /metrics), tries counted by the dispatcher."""

from __future__ import annotations

import socket
from typing import Any

from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select

from tests.conftest import T0, FakeClock, Personas
from tests.helpers import at, scan
from tests.notify.conftest import Receiver, no_dns, subscribe
from tests.web.test_metrics import sample
from tracker.core.models import NotificationDelivery
from tracker.notify.dispatch import Dispatcher, Report, from_settings, utc_now
from tracker.notify.payloads import KINDS
from tracker.settings import Settings


def _tries(result: str) -> float:
    labels = {"kind": "parcel.status_changed", "channel": "webhook", "result": result}
    return REGISTRY.get_sample_value("tracker_notifications_total", labels) or 0.0


def test_the_backlog_and_its_age_show_until_the_dispatcher_sends(
    personas: Personas, receiver: Receiver, dispatcher: Dispatcher, clock: FakeClock
) -> None:
    clock.now = utc_now()  # /metrics ages rows by the wall clock
    subscribe(personas.ops, receiver.url)
    personas.station.post(
        "/api/v1/scans", json=scan("SF9500001-1", "SF9500001", "arrived", at(T0), facility="ST-SH-01")
    )
    text = personas.anonymous.get("/metrics").get_data(as_text=True)
    assert sample(text, "tracker_notifications_pending", channel="outbox") == 1
    assert sample(text, "tracker_notifications_oldest_pending_seconds") > 0
    sent, failed = _tries("sent"), _tries("failed")
    receiver.script = [500]
    dispatcher.turn()
    assert _tries("failed") == failed + 1
    text = personas.anonymous.get("/metrics").get_data(as_text=True)
    assert sample(text, "tracker_notifications_pending", channel="webhook") == 1
    assert sample(text, "tracker_notifications_oldest_pending_seconds") == 0  # resting in its backoff
    clock.advance(minutes=5)
    dispatcher.turn()
    assert _tries("sent") == sent + 1
    text = personas.anonymous.get("/metrics").get_data(as_text=True)
    assert sample(text, "tracker_notifications_pending", channel="webhook") == 0
    assert sample(text, "tracker_notifications_oldest_pending_seconds") == 0


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/gone"


def _arrive(personas: Personas, *numbers: str) -> None:
    for tn in numbers:
        answer = personas.station.post(
            "/api/v1/scans", json=scan(f"{tn}-1", tn, "arrived", at(T0), facility="ST-SH-01")
        )
        assert answer.status_code == 201, answer.json


def _dead_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                select(func.count())
                .select_from(NotificationDelivery)
                .where(NotificationDelivery.state == "dead")
            )
        )


def test_the_dead_letter_counter_grows_by_exactly_the_deliveries_dead_lettered(
    personas: Personas, engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    subscribe(personas.ops, _dead_url())
    _arrive(personas, "SF9500002", "SF9500003")
    dead, failed = _tries("dead"), _tries("failed")
    dispatcher = from_settings(engine, settings.but(webhook_max_attempts=3), resolver=no_dns, clock=clock,
                               rand=lambda: 1.0)  # fmt: skip
    for _ in range(3):
        dispatcher.turn()
        clock.advance(hours=1)
    assert dispatcher.turn().to_dict() == Report().to_dict()  # the tries are spent: nothing is due again
    assert _dead_rows(engine) == 2
    assert _tries("dead") == dead + 2
    assert _tries("failed") == failed + 2 * 2  # the two tries before the last, each
    for metric in REGISTRY.collect():
        if metric.name == "tracker_notifications":
            for s in metric.samples:  # bounded labels: never a tracking number, URL or subscription
                assert s.labels["kind"] in KINDS and s.labels["channel"] in {"webhook", "email", "sms"}
                assert s.labels["result"] in {"sent", "failed", "dead", "skipped"}


def test_a_dispatcher_that_stalled_past_its_lease_does_not_count_a_dead_letter_twice(
    personas: Personas, engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    subscribe(personas.ops, _dead_url())
    _arrive(personas, "SF9500004")
    last_try = settings.but(webhook_max_attempts=1)
    stalled = from_settings(engine, last_try, resolver=no_dns, clock=clock)
    other = from_settings(engine, last_try, resolver=no_dns, clock=clock)
    post = stalled.sender.post

    def post_then_stall(url: str, body: bytes, headers: dict[str, str]) -> Any:
        answer = post(url, body, headers)
        clock.advance(seconds=last_try.notify_lease.total_seconds() + 1)
        assert (
            other.turn().dead == 1
        )  # the lease ran out: the other took the row, tried, and dead-lettered it
        return answer

    stalled.sender.post = post_then_stall  # type: ignore[method-assign]
    dead = _tries("dead")
    report = stalled.turn()
    assert _dead_rows(engine) == 1
    assert report.dead == 0 and _tries("dead") == dead + 1  # the row it lost is not its to count
