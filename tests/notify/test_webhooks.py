"""Webhooks end to end: the API, a real receiver on loopback, the dispatcher with an injected clock."""

from __future__ import annotations

import base64
import json
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from standardwebhooks.webhooks import Webhook

from tests.conftest import T0, FakeClock, Personas
from tests.helpers import SHANGHAI, at, registration, scan
from tests.notify.conftest import Receiver, no_dns, subscribe
from tracker.core.models import NotificationDelivery, NotificationEvent, WebhookSubscription
from tracker.notify.dispatch import Dispatcher, from_settings, utc_now
from tracker.notify.payloads import KINDS
from tracker.notify.secretbox import SecretBox
from tracker.settings import Settings
from tracker.sweep.run import sweep


def _arrive(personas: Personas, tn: str, n: int = 1, minutes: float = -30) -> None:
    answer = personas.station.post(
        "/api/v1/scans", json=scan(f"{tn}-{n}", tn, "arrived", at(T0, minutes), facility="ST-SH-01")
    )
    assert answer.status_code == 201, answer.json


def _deliveries(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(NotificationDelivery).order_by(NotificationDelivery.id)))


def test_a_scan_that_changes_status_reaches_the_receiver_once_with_a_valid_signature(
    personas: Personas, receiver: Receiver, engine: Engine, settings: Settings
) -> None:
    sub = subscribe(personas.ops, receiver.url)
    assert sub["secret"].startswith("whsec_") and sub["webhook_id"].startswith("wh_")
    _arrive(personas, "SF9000001")
    # A second scan that changes nothing (arrived, then departed: still in transit) is no status change.
    personas.station.post("/api/v1/scans", json=scan("SF9000001-2", "SF9000001", "departed", at(T0, -20),
                                                     facility="ST-SH-01"))  # fmt: skip
    # The real clock: the published verifier refuses timestamps more than 5 minutes off.
    dispatcher = from_settings(engine, settings, resolver=no_dns, clock=utc_now)
    report = dispatcher.turn()
    assert report.sent == 1 and len(receiver.received) == 1
    got = receiver.received[0]
    payload = Webhook(sub["secret"]).verify(got.body, got.headers)
    assert payload["message_id"] == got.headers["webhook-id"]
    assert payload["type"] == "parcel.status_changed" and payload["version"] == 1
    assert payload["tracking_number"] == "SF9000001"
    assert payload["data"]["status"] == "in_transit" and payload["data"]["previous_status"] is None
    assert payload["timestamp"] == at(T0, -30)  # local offset, to the second
    assert payload["data"]["place"]["facility"] == "ST-SH-01"
    assert dispatcher.turn().sent == 0 and len(receiver.received) == 1  # exactly one


def test_500_twice_then_200_is_delivered_on_the_third_try_with_growing_delays(
    personas: Personas, receiver: Receiver, engine: Engine, dispatcher: Dispatcher, clock: FakeClock
) -> None:
    sub = subscribe(personas.ops, receiver.url)
    _arrive(personas, "SF9000002")
    receiver.script = [500, 500]
    waits = []
    for _ in range(2):
        assert dispatcher.turn().failed == 1
        (row,) = _deliveries(engine)
        assert row.state == "pending" and row.last_status == 500
        waits.append(row.next_attempt_at - clock())
        assert dispatcher.turn().sent == 0  # nothing is due before its time
        clock.advance(seconds=waits[-1].total_seconds())
    assert dispatcher.turn().sent == 1
    assert waits == [timedelta(seconds=10), timedelta(seconds=20)]  # TRACKER_WEBHOOK_BACKOFF_BASE doubles
    assert len(receiver.received) == 3
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # the same message every try
    log = personas.ops.get(f"/api/v1/webhooks/{sub['webhook_id']}/deliveries").json
    (entry,) = log["deliveries"]
    assert (entry["state"], entry["attempts"], entry["last_status"]) == ("sent", 3, 200)
    assert entry["message_id"] == receiver.received[0].headers["webhook-id"]


def test_retry_after_is_respected(
    personas: Personas, receiver: Receiver, engine: Engine, dispatcher: Dispatcher, clock: FakeClock
) -> None:
    subscribe(personas.ops, receiver.url)
    _arrive(personas, "SF9000003")
    receiver.script, receiver.retry_after = [503], "600"
    dispatcher.turn()
    (row,) = _deliveries(engine)
    assert row.next_attempt_at - clock() == timedelta(seconds=600)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_dead_receiver_ends_in_the_dead_letter_and_the_subscription_is_disabled(
    personas: Personas, engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    sub = subscribe(personas.ops, f"http://127.0.0.1:{_dead_port()}/gone")
    _arrive(personas, "SF9000004")
    dispatcher = from_settings(engine, settings.but(webhook_max_attempts=4, webhook_disable_after=4),
                               resolver=no_dns, clock=clock, rand=lambda: 1.0)  # fmt: skip
    for _ in range(3):
        assert dispatcher.turn().failed == 1
        clock.advance(hours=1)
    last = dispatcher.turn()
    assert last.dead == 1 and last.disabled == [sub["webhook_id"]]
    (row,) = _deliveries(engine)
    assert row.state == "dead" and row.attempts == 4 and "ConnectionRefusedError" in row.last_error
    clock.advance(days=1)
    assert dispatcher.turn().to_dict() == dispatcher.turn().to_dict()  # nothing more is tried
    shown = personas.ops.get(f"/api/v1/webhooks/{sub['webhook_id']}").json
    assert shown["active"] is False and "4 failed tries in a row" in shown["disabled_reason"]
    # A disabled subscription gets no new deliveries; re-enabled, it does.
    _arrive(personas, "SF9000005")
    dispatcher.turn()
    assert len(_deliveries(engine)) == 1
    assert personas.ops.post(f"/api/v1/webhooks/{sub['webhook_id']}/enable").json["active"] is True


def test_secret_rotation_signs_with_both_secrets_during_the_overlap(
    personas: Personas, receiver: Receiver, engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    clock.now = utc_now()  # the app's clock too: the overlap counts from the rotation
    sub = subscribe(personas.ops, receiver.url)
    rotated = personas.ops.post(
        f"/api/v1/webhooks/{sub['webhook_id']}/rotate", json={"overlap_seconds": 3600}
    )
    assert rotated.status_code == 200 and rotated.json["secret"] != sub["secret"]
    _arrive(personas, "SF9000006")
    from_settings(engine, settings, resolver=no_dns, clock=utc_now).turn()
    got = receiver.received[0]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    for secret in (sub["secret"], rotated.json["secret"]):
        Webhook(secret).verify(got.body, got.headers)
    # After the overlap only the new secret signs.
    _arrive(personas, "SF9000007")
    later = lambda: utc_now() + timedelta(hours=2)  # noqa: E731
    from_settings(engine, settings, resolver=no_dns, clock=later).turn()
    assert len(receiver.received[1].headers["webhook-signature"].split(" ")) == 1


def test_redelivery_sends_the_same_message_again(
    personas: Personas, receiver: Receiver, dispatcher: Dispatcher
) -> None:
    sub = subscribe(personas.ops, receiver.url)
    _arrive(personas, "SF9000008")
    dispatcher.turn()
    (entry,) = personas.ops.get(f"/api/v1/webhooks/{sub['webhook_id']}/deliveries").json["deliveries"]
    again = personas.ops.post(
        f"/api/v1/webhooks/{sub['webhook_id']}/deliveries/{entry['delivery_id']}/redeliver"
    )
    assert again.status_code == 202 and again.json["message_id"] == entry["message_id"]
    dispatcher.turn()
    assert [r.headers["webhook-id"] for r in receiver.received] == [entry["message_id"]] * 2


def test_subscriptions_are_their_owners_and_end_without_losing_the_log(
    personas: Personas, receiver: Receiver, engine: Engine, dispatcher: Dispatcher
) -> None:
    mine = subscribe(personas.merchant, receiver.url, ["parcel.delivered"])
    theirs = subscribe(personas.ops, receiver.url, ["case.opened"])
    listed = personas.merchant.get("/api/v1/webhooks").json
    assert [w["webhook_id"] for w in listed["webhooks"]] == [mine["webhook_id"]] and listed["next"] is None
    first = personas.ops.get("/api/v1/webhooks?limit=1").json
    second = personas.ops.get(first["next"]).json
    assert len(first["webhooks"]) == len(second["webhooks"]) == 1 and second["next"] is None
    assert "secret" not in listed["webhooks"][0]
    assert personas.merchant.get(f"/api/v1/webhooks/{theirs['webhook_id']}").status_code == 404
    assert {w["webhook_id"] for w in personas.ops.get("/api/v1/webhooks").json["webhooks"]} == {
        mine["webhook_id"], theirs["webhook_id"]}  # fmt: skip
    assert personas.courier.get("/api/v1/webhooks").status_code == 403
    headers = {"Authorization": f"Bearer {personas.ops.key}"}
    assert (
        personas.ops.client.delete(f"/api/v1/webhooks/{theirs['webhook_id']}", headers=headers).status_code
        == 204
    )
    assert personas.ops.get(f"/api/v1/webhooks/{theirs['webhook_id']}").status_code == 404


def test_bad_subscriptions_are_422_naming_the_field(personas: Personas, receiver: Receiver) -> None:
    bad_kind = personas.ops.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["parcel.teleported"]}
    )
    assert bad_kind.status_code == 422 and bad_kind.json["error"]["fields"][0]["field"] == "events.0"
    no_events = personas.ops.post("/api/v1/webhooks", json={"url": receiver.url, "events": []})
    assert no_events.status_code == 422 and no_events.json["error"]["fields"][0]["field"] == "events"
    ftp = personas.ops.post("/api/v1/webhooks", json={"url": "ftp://x.example/", "events": ["case.opened"]})
    assert ftp.status_code == 422 and ftp.json["error"]["fields"][0]["field"] == "url"


def test_without_a_secret_key_no_subscription_is_made(
    app: Any, personas: Personas, receiver: Receiver, engine: Engine
) -> None:
    app.extensions["tracker"].settings = app.extensions["tracker"].settings.but(webhook_secret_key="")
    answer = personas.ops.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["case.opened"]})
    assert answer.status_code == 503 and "TRACKER_WEBHOOK_SECRET_KEY" in answer.json["error"]["message"]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(NotificationEvent)) == 0


def test_a_failing_receivers_backlog_does_not_stand_in_front_of_the_others(
    engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    from tests.notify.conftest import running_receiver
    from tracker.core.db import write_transaction
    from tracker.notify import outbox, signing, subscriptions
    from tracker.notify.secretbox import SecretBox

    box = SecretBox(settings.webhook_secret_key)

    def subscription(conn: Any, url: str) -> str:
        return subscriptions.create(conn, url=url, events=["case.opened"], owner_role="ops", merchant_code=None,
                                    key_id=None, sealed_secret=box.seal(signing.new_secret()), now=clock())  # fmt: skip

    dispatcher = from_settings(engine, settings.but(webhook_timeout=timedelta(seconds=0.3)), resolver=no_dns,
                               clock=clock)  # fmt: skip
    dispatcher.policy = dispatcher.policy.__class__(
        **{**dispatcher.policy.__dict__, "batch": 12, "threads": 4}
    )
    with running_receiver() as slow, running_receiver() as fast:
        slow.delay = 1.0  # answers after the dispatcher gave up: a timeout every time
        with write_transaction(engine) as conn:
            slow_id = subscription(conn, slow.url)
            for i in range(40):
                outbox.enqueue(conn, "case.opened", occurred_at=clock(), now=clock(), data={"n": i})
        dispatcher.fan_out()
        with write_transaction(engine) as conn:
            subscriptions.failed(conn, slow_id, disable_after=100, why="timed out")  # it failed before
            subscription(conn, fast.url)
        clock.advance(minutes=1)
        with write_transaction(engine) as conn:
            for i in range(10):
                outbox.enqueue(conn, "case.opened", occurred_at=clock(), now=clock(), data={"n": 40 + i})
        dispatcher.fan_out()
        report = (
            dispatcher.deliver()
        )  # one batch of 12: 50 of the slow one's rows are older than any of fast's
        assert len(fast.received) == 10 and report.sent == 10
        assert report.failed == 2  # the failing receiver got its share of the threads, no more


def test_without_the_key_the_dispatcher_keeps_webhooks_waiting_not_lost(
    personas: Personas, receiver: Receiver, engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    subscribe(personas.ops, receiver.url)
    _arrive(personas, "SF9000009")
    keyless = from_settings(engine, settings.but(webhook_secret_key=""), resolver=no_dns, clock=clock)
    assert keyless.turn().postponed == 1 and receiver.received == []
    (row,) = _deliveries(engine)
    assert row.state == "pending" and row.attempts == 0 and "TRACKER_WEBHOOK_SECRET_KEY" in row.last_error
    clock.advance(minutes=5)
    assert from_settings(engine, settings, resolver=no_dns, clock=clock).turn().sent == 1


def test_parcel_payloads_never_carry_the_recipients_name_phone_or_street(
    app: Any, personas: Personas, receiver: Receiver, engine: Engine, dispatcher: Dispatcher, clock: FakeClock
) -> None:
    name, phone, street = "欧阳娜娜", "13912345678", "南京东路100号5栋1202室"
    tn = "SF9000010"
    body = registration(tn, recipient={"name": name, "phone": phone, "email": "nana@example.com"})
    body["destination"]["address"] = street
    assert personas.merchant.post("/api/v1/parcels", json=body).status_code == 201
    subscribe(personas.ops, receiver.url, [k for k in KINDS if k.startswith("parcel.")])
    outbound = scan(f"{tn}-1", tn, "outbound", at(T0, -120), facility="WH-SH-01")
    assert personas.admin.post("/api/v1/scans", json=outbound).status_code == 201
    rt = app.extensions["tracker"]
    sweep(rt.engine, now=clock(), policy=rt.ingest, zone=SHANGHAI)  # a new ETA, and at risk
    rest = [
        scan(f"{tn}-2", tn, "arrived", at(T0, -60), facility="ST-SH-01"),
        scan(f"{tn}-3", tn, "out_for_delivery", at(T0, -30), facility="ST-SH-01", courier_id="C-SH011"),
        # The courier typed the recipient's name and phone: a payload must not pass them on.
        scan(f"{tn}-4", tn, "delivered", at(T0, -10), courier_id="C-SH011", lat=31.2, lon=121.45, accuracy_m=10,
             pod={"signed_by": f"{name} {phone}", "relation": "self"}),
    ]  # fmt: skip
    assert personas.admin.post("/api/v1/scans", json={"events": rest}).json["accepted"] == 3
    dispatcher.turn()
    assert {r.json["type"] for r in receiver.received} == {k for k in KINDS if k.startswith("parcel.")}
    for got in receiver.received:
        # The body as sent, and as JSON with any \u escapes undone: a leak in either spelling shows.
        texts = (got.body.decode(), json.dumps(got.json, ensure_ascii=False))
        for private in (name, phone, street):
            assert not [t for t in texts if private in t], (got.json["type"], private)
        assert got.json["tracking_number"] == tn


def test_a_stored_subscription_never_holds_its_secret_in_the_clear(
    personas: Personas, receiver: Receiver, engine: Engine, settings: Settings
) -> None:
    def forms(secret: str) -> set[str]:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        return {secret, secret.removeprefix("whsec_"), key.hex(),
                base64.urlsafe_b64encode(key).decode().rstrip("=")}  # fmt: skip

    def stored(webhook_id: str) -> Any:
        with engine.connect() as conn:
            table = WebhookSubscription.__table__
            return conn.execute(select(table).where(table.c.id == webhook_id)).one()

    sub = subscribe(personas.ops, receiver.url)
    row = stored(sub["webhook_id"])
    assert not [f for f in forms(sub["secret"]) if f in repr(tuple(row))]
    assert SecretBox(settings.webhook_secret_key).open(row.secret) == sub["secret"]  # sealed, not lost
    rotated = personas.ops.post(
        f"/api/v1/webhooks/{sub['webhook_id']}/rotate", json={"overlap_seconds": 3600}
    )
    row = stored(sub["webhook_id"])
    for secret in (sub["secret"], rotated.json["secret"]):
        assert not [f for f in forms(secret) if f in repr(tuple(row))]
    assert row.previous_secret is not None
