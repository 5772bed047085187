"""Customer messages: email through a real SMTP server on loopback, SMS through a local gateway."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, select, update

from tests.conftest import T0, FakeClock, Personas
from tests.helpers import SHANGHAI, at, journey, registration, scan
from tests.notify.conftest import no_dns
from tracker.core.models import NotificationDelivery, Parcel
from tracker.notify.dispatch import from_settings
from tracker.settings import Settings
from tracker.sweep.run import sweep


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append(message_from_bytes(envelope.content, policy=email_policy.default))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[str, Mailbox]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield f"smtp://127.0.0.1:{controller.port}", box
    controller.stop()


@pytest.fixture
def sms_gateway() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local gateway answering like Aliyun's SendSms."""
    sent: list[dict[str, Any]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            sent.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            body = json.dumps({"Code": "OK", "Message": "OK", "BizId": "9001", "RequestId": "r-1"}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sms", sent
    server.shutdown()
    server.server_close()


def _parcel(personas: Personas, tn: str, language: str, email: str = "zhang@example.com") -> None:
    who = {"name": "张三丰", "phone": "13800001234", "email": email, "language": language}
    assert personas.merchant.post("/api/v1/parcels", json=registration(tn, recipient=who)).status_code == 201


def _out_for_delivery(personas: Personas, tn: str, when: Any, n: int = 6) -> None:
    event = scan(f"{tn}-{n}", tn, "out_for_delivery", when, facility="ST-SH-01", courier_id="C-SH011")
    assert personas.courier.post("/api/v1/scans", json=event).status_code == 201


def test_a_zh_cn_parcel_gets_its_email_in_chinese_and_an_en_parcel_in_english(
    personas: Personas, engine: Engine, settings: Settings, clock: FakeClock, smtp: tuple[str, Mailbox]
) -> None:
    url, mailbox = smtp
    _parcel(personas, "SF9400001", "zh-CN", "zhang@example.com")
    _parcel(personas, "SF9400002", "en", "ann@example.com")
    _out_for_delivery(personas, "SF9400001", at(T0, -10))
    _out_for_delivery(personas, "SF9400002", at(T0, -10))
    report = from_settings(engine, settings.but(smtp_url=url), resolver=no_dns, clock=clock).turn()
    assert report.sent == 2
    mails = {m["To"]: m for m in mailbox.mails}
    zh = mails["zhang@example.com"]
    assert zh["Subject"] == "包裹正在派送" and zh["Content-Language"] == "zh-CN"
    assert "您的包裹 SF9400001 正在派送中" in zh.get_content()
    en = mails["ann@example.com"]
    assert "Your parcel SF9400002 is out for delivery" in en.get_content()


def test_at_most_one_message_per_parcel_and_kind_an_hour(
    personas: Personas, engine: Engine, settings: Settings, clock: FakeClock, smtp: tuple[str, Mailbox]
) -> None:
    url, mailbox = smtp
    dispatcher = from_settings(engine, settings.but(smtp_url=url), resolver=no_dns, clock=clock)
    _parcel(personas, "SF9400003", "zh-CN")
    _out_for_delivery(personas, "SF9400003", at(T0, -30))
    dispatcher.turn()
    failed = scan("SF9400003-7", "SF9400003", "delivery_failed", at(T0, -20), courier_id="C-SH011",
                  reason="no_one_home")  # fmt: skip
    assert personas.courier.post("/api/v1/scans", json=failed).status_code == 201
    _out_for_delivery(personas, "SF9400003", at(T0, -10), n=8)  # out again, within the hour
    dispatcher.turn()
    assert len(mailbox.mails) == 1
    with engine.connect() as conn:
        states = sorted(
            conn.scalars(select(NotificationDelivery.state).where(NotificationDelivery.channel == "email"))
        )
    assert states == ["sent", "skipped"]


def test_no_sms_in_quiet_hours_it_waits_for_the_morning(
    personas: Personas, engine: Engine, settings: Settings, clock: FakeClock, sms_gateway: Any
) -> None:
    url, sent = sms_gateway
    clock.now = T0 + timedelta(hours=11)  # 23:00 in Shanghai
    dispatcher = from_settings(engine, settings.but(sms_url=url, sms_quiet_hours=(21, 8)), resolver=no_dns,
                               clock=clock)  # fmt: skip
    _parcel(personas, "SF9400004", "zh-CN")
    _out_for_delivery(personas, "SF9400004", at(clock.now, -5))
    report = dispatcher.turn()
    assert report.postponed == 1 and sent == []
    clock.advance(hours=4)  # 03:00: still night
    assert dispatcher.turn().sent == 0 and sent == []
    clock.advance(hours=5)  # 08:00
    assert dispatcher.turn().sent == 1
    (message,) = sent
    assert (
        message["PhoneNumbers"] == "13800001234"
        and message["TemplateCode"] == "TRACKER_OUT_FOR_DELIVERY_ZH_CN"
    )
    assert "SF9400004 正在派送中" in json.loads(message["TemplateParam"])["content"]
    assert clock.now.astimezone(SHANGHAI).hour == 8


def _dispatch(engine: Engine, settings: Settings, clock: FakeClock, **channels: str) -> Any:
    return from_settings(engine, settings.but(**channels), resolver=no_dns, clock=clock).turn()


def _sms_text(message: dict[str, Any]) -> str:
    return str(json.loads(message["TemplateParam"])["content"])


def test_a_complaint_answered_by_ops_reaches_the_customer_in_the_parcels_language(
    personas: Personas, engine: Engine, settings: Settings, clock: FakeClock, smtp: tuple[str, Mailbox],
    sms_gateway: Any,
) -> None:  # fmt: skip
    smtp_url, mailbox = smtp
    sms_url, texts = sms_gateway
    answers = {"zh-CN": "我们已联系快递员，向您道歉。", "en": "We spoke to the courier; we are sorry."}
    emails = {"zh-CN": "zhang@example.com", "en": "ann@example.com"}
    for n, (language, answer) in enumerate(answers.items()):
        tn = f"SF940001{n}"
        _parcel(personas, tn, language, emails[language])
        journey_done = personas.admin.post(
            "/api/v1/scans", json={"events": journey(tn, T0 - timedelta(hours=7))}
        )
        assert journey_done.json["accepted"] == 7
        complaint = personas.anonymous.post(
            f"/api/v1/track/{tn}/feedback",
            json={
                "verification": "1234",
                "kind": "complaint",
                "about": "courier_conduct",
                "comment": "态度很差",
            },
        )
        assert complaint.status_code == 201, complaint.json
        answered = personas.ops.post(
            f"/api/v1/cases/{complaint.json['case_id']}/answer", json={"message": answer}
        )
        assert answered.status_code == 200, answered.json
    report = _dispatch(engine, settings, clock, smtp_url=smtp_url, sms_url=sms_url)
    # The two answers, each by email and SMS; the complaints and the deliveries send no message.
    assert report.sent == 4
    mails = {m["To"]: m for m in mailbox.mails}
    zh, en = mails[emails["zh-CN"]], mails[emails["en"]]
    assert zh["Subject"] == "您的反馈已回复" and zh["Content-Language"] == "zh-CN"
    assert "关于包裹 SF9400010 的反馈，我们的回复：我们已联系快递员，向您道歉。" in zh.get_content()
    assert en["Subject"] == "We answered your report" and en["Content-Language"] == "en"
    assert (
        "About your parcel SF9400011, our answer: We spoke to the courier; we are sorry." in en.get_content()
    )
    sms = {m["TemplateCode"]: _sms_text(m) for m in texts}
    assert set(sms) == {"TRACKER_COMPLAINT_ANSWERED_ZH_CN", "TRACKER_COMPLAINT_ANSWERED_EN"}
    assert answers["zh-CN"] in sms["TRACKER_COMPLAINT_ANSWERED_ZH_CN"]
    assert answers["en"] in sms["TRACKER_COMPLAINT_ANSWERED_EN"]
    assert all(m["PhoneNumbers"] == "13800001234" for m in texts)


def test_a_parcel_at_risk_tells_its_customer_the_new_day(
    app: Any, personas: Personas, engine: Engine, settings: Settings, clock: FakeClock, sms_gateway: Any,
    smtp: tuple[str, Mailbox],
) -> None:  # fmt: skip
    sms_url, texts = sms_gateway
    smtp_url, mailbox = smtp
    rt = app.extensions["tracker"]

    def at_risk(tn: str, promised_by: datetime | None = None) -> Any:
        """Out of the warehouse at 10:00, promised by 23:00 (or ``promised_by``): the sweep finds it at risk."""
        _parcel(personas, tn, "en", f"{tn}@example.com")
        outbound = scan(f"{tn}-1", tn, "outbound", at(T0, -120), facility="WH-SH-01")
        assert personas.admin.post("/api/v1/scans", json=outbound).status_code == 201
        if promised_by is not None:
            with engine.begin() as conn:
                conn.execute(
                    update(Parcel).where(Parcel.tracking_number == tn).values(promised_by=promised_by)
                )
        sweep(rt.engine, now=clock(), policy=rt.ingest, zone=SHANGHAI)
        _dispatch(engine, settings, clock, smtp_url=smtp_url, sms_url=sms_url)
        with engine.connect() as conn:
            parcel = conn.execute(select(Parcel).where(Parcel.tracking_number == tn)).one()
        (sms,) = [
            _sms_text(m) for m in texts if m["TemplateCode"] == "TRACKER_DELAYED_EN" and tn in _sms_text(m)
        ]
        (mail,) = [m for m in mailbox.mails if m["To"] == f"{tn}@example.com"]
        assert mail["Subject"] == "Your parcel is running late" and sms in mail.get_content()
        return parcel, sms

    clock.now = T0 + timedelta(hours=10)  # 22:00: nothing more goes out today, the estimate is tomorrow
    late, told = at_risk("SF9400020")
    assert late.eta_start > late.promised_by
    new_day = late.eta_end.astimezone(SHANGHAI)
    assert told == f"Sorry: your parcel SF9400020 is running late; we now expect it on {new_day:%-d %b}."
    # At noon the day shown is tomorrow morning (the stage defaults' likely moment, 10:00);
    # promised by 10:00 tomorrow, that morning runs past the promise but starts before it:
    # naming that day as the new one would contradict the apology.
    clock.now = T0
    tomorrow_ten = (T0 + timedelta(days=1)).astimezone(SHANGHAI).replace(hour=10, minute=0)
    fitting, told = at_risk("SF9400021", promised_by=tomorrow_ten)
    assert fitting.eta_start <= fitting.promised_by < fitting.eta_end
    assert told == "Sorry: your parcel SF9400021 may arrive later than we promised."


def test_a_parcel_ready_for_pickup_tells_its_customer_where_and_the_pickup_code(
    personas: Personas, engine: Engine, settings: Settings, clock: FakeClock, sms_gateway: Any,
    smtp: tuple[str, Mailbox], network: Any,
) -> None:  # fmt: skip
    sms_url, texts = sms_gateway
    smtp_url, mailbox = smtp
    tn = "SF9400030"
    who = {"name": "张三丰", "phone": "13800001234", "email": "zhang@example.com", "language": "zh-CN"}
    body = registration(tn, recipient=who, pickup_point="PP-SH-011", service_level="group_buy")
    assert personas.merchant.post("/api/v1/parcels", json=body).status_code == 201
    scans = [*journey(tn, T0 - timedelta(hours=7))[:5],
             scan(f"{tn}-9", tn, "ready_for_pickup", at(T0, -10), facility="PP-SH-011")]  # fmt: skip
    assert personas.admin.post("/api/v1/scans", json={"events": scans}).status_code == 200
    shown = personas.anonymous.get(f"/api/v1/track/{tn}", headers={"X-Verification": "1234"}).json
    code = shown["pickup_code"]
    point = next(f.name for f in network.facilities if f.code == "PP-SH-011")
    assert code and point
    _dispatch(engine, settings, clock, smtp_url=smtp_url, sms_url=sms_url)
    expected = f"您的包裹 {tn} 已到 {point}，取件码 {code}，请及时取件。"
    (message,) = texts
    assert message["TemplateCode"] == "TRACKER_READY_FOR_PICKUP_ZH_CN" and _sms_text(message) == expected
    (mail,) = mailbox.mails
    assert mail["Subject"] == "包裹待取件" and expected in mail.get_content()


def test_a_parcel_left_at_a_pickup_point_soon_after_going_out_still_gets_its_pickup_code(
    personas: Personas, engine: Engine, settings: Settings, clock: FakeClock, sms_gateway: Any
) -> None:
    sms_url, texts = sms_gateway
    dispatcher = from_settings(engine, settings.but(sms_url=sms_url), resolver=no_dns, clock=clock)
    tn = "SF9400040"
    _parcel(personas, tn, "zh-CN")
    _out_for_delivery(personas, tn, at(T0, -40))
    dispatcher.turn()
    # Twenty minutes later the courier leaves it at a pickup point (a common end of a round):
    # the hourly limit is on repeats of one message, not on the next thing the customer must know.
    ready = scan(f"{tn}-7", tn, "ready_for_pickup", at(T0, -20), facility="PP-SH-011")
    assert personas.admin.post("/api/v1/scans", json=ready).status_code == 201
    dispatcher.turn()
    code = personas.anonymous.get(f"/api/v1/track/{tn}", headers={"X-Verification": "1234"}).json[
        "pickup_code"
    ]
    assert [m["TemplateCode"] for m in texts] == [
        "TRACKER_OUT_FOR_DELIVERY_ZH_CN",
        "TRACKER_READY_FOR_PICKUP_ZH_CN",
    ]
    assert f"取件码 {code}" in _sms_text(texts[1])
