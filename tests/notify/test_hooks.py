"""Where notifications are born: in the transaction of the change, one row per change, for the right audience."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.conftest import T0, FakeClock, Personas
from tests.helpers import at, journey, registration, scan
from tests.notify.conftest import Receiver, subscribe
from tracker.cases import store as cases
from tracker.cases.reasons import Reason
from tracker.core.db import write_transaction
from tracker.core.models import NotificationEvent, Parcel
from tracker.core.vocabulary import CaseType, ParcelStatus
from tracker.notify import outbox
from tracker.notify.dispatch import Dispatcher
from tracker.scans.ingest import IngestPolicy, store_scans
from tracker.scans.schemas import ScanEventIn
from tracker.sweep.judge import Judgement


def _kinds(engine: Engine) -> list[tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(NotificationEvent.kind, NotificationEvent.payload).order_by(NotificationEvent.id)
        )
        return [
            (kind, payload["data"].get("status") or payload["data"].get("case_type"))
            for kind, payload in rows
        ]


def test_a_batch_notifies_the_status_it_ends_in_and_the_delivery(personas: Personas, engine: Engine) -> None:
    answer = personas.admin.post(
        "/api/v1/scans", json={"events": journey("SF9200001", T0 - timedelta(hours=6))}
    )
    assert answer.json["accepted"] == 7
    # One batch is one change: from nothing to delivered (what a receiver would see on the page).
    assert _kinds(engine) == [("parcel.status_changed", "delivered"), ("parcel.delivered", "delivered")]


def test_scans_one_by_one_give_one_notification_per_status(personas: Personas, engine: Engine) -> None:
    for event in journey("SF9200002", T0 - timedelta(hours=6)):
        personas.admin.post("/api/v1/scans", json={"events": [event]})
    assert _kinds(engine) == [
        ("parcel.status_changed", "info_received"),
        ("parcel.status_changed", "in_transit"),  # outbound, arrived, departed, arrived: one change
        ("parcel.status_changed", "out_for_delivery"),
        ("parcel.status_changed", "delivered"),
        ("parcel.delivered", "delivered"),
    ]
    personas.admin.post("/api/v1/scans", json={"events": journey("SF9200002", T0 - timedelta(hours=6))})
    assert len(_kinds(engine)) == 5  # replays change nothing, so they notify nobody


def test_the_notification_is_written_in_the_changes_transaction(engine: Engine, network: Any) -> None:
    event = ScanEventIn.model_validate(
        scan("SF9200003-1", "SF9200003", "arrived", at(T0), facility="ST-SH-01")
    )
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        store_scans(
            conn, [event], source="facility", now=T0, policy=IngestPolicy(clock_skew=timedelta(minutes=5))
        )
        assert conn.scalar(select(func.count()).select_from(NotificationEvent)) == 1
        raise RuntimeError("the worker dies before the commit")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(NotificationEvent)) == 0
        assert conn.scalar(select(func.count()).select_from(Parcel)) == 0


def test_cases_notify_when_opened_answered_and_resolved(
    personas: Personas, engine: Engine, clock: FakeClock
) -> None:
    personas.station.post(
        "/api/v1/scans", json=scan("SF9200004-1", "SF9200004", "arrived", at(T0), facility="ST-SH-01")
    )
    with write_transaction(engine) as conn:
        pid = conn.scalar(select(Parcel.id).where(Parcel.tracking_number == "SF9200004"))
        case_id, _ = cases.open_case(conn, pid, CaseType.STALE, [Reason("stale", "silent")], now=clock())
        cases.open_case(
            conn, pid, CaseType.STALE, [Reason("stale", "still silent")], now=clock()
        )  # an update
        cases.resolve(conn, case_id, "false_alarm", now=clock(), actor="ops:1")
        outbox.enqueue_case_event(conn, case_id, "answered", at=clock(), note="包裹已找到，明天送达")
    with engine.connect() as conn:
        rows = list(conn.execute(select(NotificationEvent.kind, NotificationEvent.payload).where(
            NotificationEvent.kind.like("case.%")).order_by(NotificationEvent.id)))  # fmt: skip
    assert [kind for kind, _ in rows] == ["case.opened", "case.resolved", "case.answered"]
    assert rows[1][1]["data"]["resolution"] == "false_alarm"
    assert rows[2][1]["data"]["answer"] == "包裹已找到，明天送达"
    assert all(p["tracking_number"] == "SF9200004" and "reasons" not in p["data"] for _, p in rows)


def test_the_sweep_notifies_eta_changes_worth_telling_and_a_parcel_newly_at_risk(
    engine: Engine, network: Any
) -> None:
    eta = (T0 + timedelta(hours=2), T0 + timedelta(hours=4))
    row = SimpleNamespace(id=1, tracking_number="SF9200005", status=ParcelStatus.IN_TRANSIT, promised_by=T0,
                          eta_start=None, eta_end=None)  # fmt: skip
    with write_transaction(engine) as conn:
        conn.execute(Parcel.__table__.insert().values(id=1, tracking_number="SF9200005", registered=True,
                                                      first_seen_at=T0, event_count=0, updated_at=T0))  # fmt: skip
        at_risk = Judgement(open=[(CaseType.AT_RISK, [])], eta=eta)
        assert outbox.enqueue_sweep_changes(conn, [row], {1: at_risk}, set(), now=T0) == 2
        # Already at risk, the ETA breathing by minutes: nothing to tell.
        row.eta_start, row.eta_end = eta
        nudged = Judgement(open=[(CaseType.AT_RISK, [])], eta=(eta[0], eta[1] + timedelta(minutes=10)))
        assert outbox.enqueue_sweep_changes(conn, [row], {1: nudged}, {(1, "at_risk")}, now=T0) == 0
        moved = Judgement(eta=(eta[0] + timedelta(days=1), eta[1] + timedelta(days=1)))
        assert outbox.enqueue_sweep_changes(conn, [row], {1: moved}, set(), now=T0) == 1
    assert [k for k, _ in _kinds(engine)] == ["parcel.eta_changed", "parcel.delayed", "parcel.eta_changed"]


def test_a_merchant_subscription_hears_only_of_its_own_parcels(
    personas: Personas, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    subscribe(personas.merchant, receiver.url + "/shop-a")
    subscribe(personas.other_merchant, receiver.url + "/shop-b")
    subscribe(personas.ops, receiver.url + "/ops")
    assert personas.merchant.post("/api/v1/parcels", json=registration("SF9300001")).status_code == 201
    assert personas.other_merchant.post("/api/v1/parcels", json=registration("SF9300002")).status_code == 201
    for tn in ("SF9300001", "SF9300002", "SF9300003"):  # the third: nobody registered it
        personas.station.post(
            "/api/v1/scans", json=scan(f"{tn}-1", tn, "arrived", at(T0), facility="ST-SH-01")
        )
    dispatcher.turn()
    heard: dict[str, set[str]] = {}
    for r in receiver.received:
        heard.setdefault(r.path, set()).add(r.json["tracking_number"])
    assert heard == {
        "/hooks/shop-a": {"SF9300001"},
        "/hooks/shop-b": {"SF9300002"},
        "/hooks/ops": {"SF9300001", "SF9300002", "SF9300003"},
    }
