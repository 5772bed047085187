"""SSRF: targets refused at subscription and again at send time, after resolution (no test leaves loopback)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from tests.conftest import T0, FakeClock, Persona, Personas
from tests.helpers import at, scan
from tests.notify.conftest import Receiver, subscribe
from tracker.app import create_app
from tracker.core.models import NotificationDelivery
from tracker.notify.dispatch import from_settings
from tracker.settings import Settings


def _ops_without_allow_list(
    personas: Personas, settings: Settings, engine: Engine, clock: FakeClock
) -> Persona:
    app = create_app(settings.but(webhook_allow_networks=()), engine=engine, clock=clock)
    return Persona("ops", personas.ops.key, app.test_client())


def test_loopback_is_refused_without_the_allow_list(
    personas: Personas, settings: Settings, engine: Engine, clock: FakeClock, receiver: Receiver
) -> None:
    ops = _ops_without_allow_list(personas, settings, engine, clock)
    answer = ops.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["case.opened"]})
    assert answer.status_code == 422
    (error,) = answer.json["error"]["fields"]
    assert error["field"] == "url" and "127.0.0.1 is a loopback address" in error["message"]
    assert receiver.received == []


def test_a_name_resolving_to_the_metadata_service_is_refused(
    app: Any, personas: Personas, receiver: Receiver
) -> None:
    asked = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["169.254.169.254"]

    app.extensions["tracker.webhook_resolver"] = resolver
    answer = personas.ops.post(
        "/api/v1/webhooks", json={"url": "http://hooks.shop.example/x", "events": ["case.opened"]}
    )
    assert answer.status_code == 422 and asked == ["hooks.shop.example"]
    assert "169.254.169.254 is a link-local address" in answer.json["error"]["fields"][0]["message"]


def test_a_name_that_rebinds_after_subscribing_is_refused_at_send_time(
    app: Any, personas: Personas, receiver: Receiver, engine: Engine, settings: Settings, clock: FakeClock
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    answers = {"hooks.shop.example": ["127.0.0.1"]}

    def resolver(host: str, _port: int) -> list[str]:
        return answers[host]

    app.extensions["tracker.webhook_resolver"] = resolver
    subscribe(personas.ops, f"http://hooks.shop.example:{port}/hooks")
    personas.station.post("/api/v1/scans", json=scan("SF9100001-1", "SF9100001", "arrived", at(T0, -5),
                                                     facility="ST-SH-01"))  # fmt: skip
    answers["hooks.shop.example"] = ["169.254.169.254"]  # DNS now points inside the cloud
    report = from_settings(engine, settings, resolver=resolver, clock=clock).turn()
    assert report.failed == 1 and receiver.received == []
    with engine.connect() as conn:
        (row,) = conn.execute(select(NotificationDelivery.last_error, NotificationDelivery.last_status))
    assert row.last_status is None and "refused" in row.last_error and "169.254.169.254" in row.last_error
    # Resolving to loopback again (admitted by the allow-list), it goes to the address that was checked.
    answers["hooks.shop.example"] = ["127.0.0.1"]
    clock.advance(hours=1)
    assert from_settings(engine, settings, resolver=resolver, clock=clock).turn().sent == 1
    assert receiver.received[0].headers["host"] == f"hooks.shop.example:{port}"
