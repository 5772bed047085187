"""The pure rules: signatures (against the published verifier), backoff, SSRF, messages."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tracker.notify import backoff, messages, signing, targets
from tracker.notify.secretbox import SecretBox, SecretsUnavailable, new_key

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_a_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    body = '{"type":"parcel.status_changed","tracking_number":"SF1","note":"派送中"}'.encode()
    headers = signing.headers([secret], "msg_1", datetime.now(UTC), body)
    assert Webhook(secret).verify(body, headers)["tracking_number"] == "SF1"
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    body = b'{"a":1}'
    headers = signing.headers([new, old], "msg_2", datetime.now(UTC), body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(body, headers) == {"a": 1}
    assert Webhook(new).verify(body, headers) == {"a": 1}


def test_backoff_grows_with_jitter_up_to_the_cap_and_honours_retry_after() -> None:
    base, cap = timedelta(seconds=10), timedelta(minutes=5)
    top = [backoff.delay(n, base=base, cap=cap, rand=lambda: 1.0) for n in range(1, 8)]
    assert top == [timedelta(seconds=s) for s in (10, 20, 40, 80, 160, 300, 300)]
    low = backoff.delay(3, base=base, cap=cap, rand=lambda: 0.0)
    assert low == timedelta(seconds=20)  # jitter: between half and all of the step
    asked = backoff.delay(1, base=base, cap=cap, retry_after=timedelta(seconds=120), rand=lambda: 1.0)
    assert asked == timedelta(seconds=120)
    assert backoff.delay(1, base=base, cap=cap, retry_after=timedelta(hours=9)) == cap
    now = datetime(2026, 10, 21, 7, 0, tzinfo=UTC)
    assert backoff.parse_retry_after("120", now) == timedelta(seconds=120)
    assert backoff.parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now) == timedelta(minutes=28)
    assert backoff.parse_retry_after("soon", now) is None


@pytest.mark.parametrize(
    "url, why",
    [
        ("ftp://example.com/x", "only http and https"),
        ("https://user:pw@example.com/", "user or password"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://10.1.2.3/", "not a public address"),
        ("http://192.168.0.10/", "not a public address"),
        ("http://100.64.0.1/", "not a public address"),
        ("http://0.0.0.0/", "not a public address"),
    ],
)
def test_ssrf_targets_are_refused(url: str, why: str) -> None:
    with pytest.raises(targets.TargetRefused, match=why):
        targets.checked_addresses(targets.parse(url), lambda h, p: ["8.8.8.8"], ())


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    metadata = targets.parse("http://hooks.example.com/x")
    with pytest.raises(targets.TargetRefused, match=r"169\.254\.169\.254 is a link-local"):
        targets.checked_addresses(metadata, lambda h, p: ["169.254.169.254"], ())
    with pytest.raises(targets.TargetRefused, match=r"10\.0\.0\.7"):
        targets.checked_addresses(metadata, lambda h, p: ["93.184.215.14", "10.0.0.7"], ())
    assert targets.checked_addresses(metadata, lambda h, p: ["93.184.215.14"], ()) == ["93.184.215.14"]


@pytest.mark.parametrize("host", ["a..b", "x" * 64 + ".example.com"])
def test_a_host_name_with_an_empty_or_overlong_label_is_refused_not_a_crash(host: str) -> None:
    # The system resolver encodes the name (IDNA) before any lookup and raises UnicodeError:
    # no DNS is asked. It was a 500 on POST /api/v1/webhooks.
    with pytest.raises(targets.TargetRefused, match="not a host name"):
        targets.checked_addresses(targets.parse(f"https://{host}/hook"), targets.system_resolver, ())


def test_the_allow_list_admits_chosen_networks() -> None:
    allow = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.8.0.0/16"))
    assert targets.checked_addresses(targets.parse("http://127.0.0.1:9/x"), lambda h, p: [], allow)
    assert targets.checked_addresses(targets.parse("http://hook.lan/"), lambda h, p: ["10.8.3.4"], allow)
    with pytest.raises(targets.TargetRefused):
        targets.checked_addresses(targets.parse("http://10.9.0.1/"), lambda h, p: [], allow)


def test_secrets_are_sealed_and_a_missing_key_is_refused_loudly() -> None:
    box = SecretBox(new_key())
    sealed = box.seal("whsec_abc")
    assert "whsec_abc" not in sealed and box.open(sealed) == "whsec_abc"
    with pytest.raises(SecretsUnavailable, match="TRACKER_WEBHOOK_SECRET_KEY"):
        SecretBox("")
    with pytest.raises(SecretsUnavailable, match="does not open"):
        SecretBox(new_key()).open(sealed)


def test_messages_speak_the_parcels_language() -> None:
    start = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    zh = messages.render("out_for_delivery", "zh-CN", tracking_number="SF1", zone=SHANGHAI,
                         window=(start, start + timedelta(hours=2)))  # fmt: skip
    assert zh.text == "您的包裹 SF1 正在派送中，预计 12月1日 14:00–16:00 送达。"
    en = messages.render("delayed", "en", tracking_number="SF1", zone=SHANGHAI, day=start + timedelta(days=2))
    assert en.text == "Sorry: your parcel SF1 is running late; we now expect it on 3 Dec."
    code = messages.render("ready_for_pickup", "zh-CN", tracking_number="SF1", zone=SHANGHAI, point="菜鸟驿站",
                           code="6-2-3014")  # fmt: skip
    assert "菜鸟驿站，取件码 6-2-3014" in code.text
    no_code = messages.render(
        "ready_for_pickup", "en", tracking_number="SF1", zone=SHANGHAI, point="Locker 7"
    )
    assert no_code.text == "Your parcel SF1 is ready for pickup at Locker 7."


def test_quiet_hours_wrap_midnight_in_local_time() -> None:
    def local(hour: int, day: int = 1) -> datetime:
        return datetime(2026, 12, day, hour, 30, tzinfo=SHANGHAI)

    end_next_morning = datetime(2026, 12, 2, 8, 0, tzinfo=SHANGHAI)
    assert messages.quiet_until(local(23), SHANGHAI, (21, 8)) == end_next_morning
    assert messages.quiet_until(local(3, day=2), SHANGHAI, (21, 8)) == end_next_morning
    assert messages.quiet_until(local(12), SHANGHAI, (21, 8)) is None
    assert messages.quiet_until(local(23), SHANGHAI, None) is None
    assert messages.quiet_until(local(13), SHANGHAI, (12, 14)) == datetime(
        2026, 12, 1, 14, 0, tzinfo=SHANGHAI
    )


def test_notification_settings_are_read_and_a_bad_value_names_its_variable() -> None:
    from tracker.settings import Settings, SettingsError

    settings = Settings.from_env({
        "TRACKER_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8, 10.8.0.1", "TRACKER_SMS_QUIET_HOURS": "22-7",
        "TRACKER_WEBHOOK_SECRET_KEY": new_key(), "TRACKER_WEBHOOK_MAX_ATTEMPTS": "5",
    })  # fmt: skip
    assert [str(n) for n in settings.webhook_allow_networks] == ["127.0.0.0/8", "10.8.0.1/32"]
    assert settings.sms_quiet_hours == (22, 7) and settings.webhook_max_attempts == 5
    assert Settings.from_env({"TRACKER_SMS_QUIET_HOURS": "none"}).sms_quiet_hours is None
    with pytest.raises(SettingsError, match="TRACKER_SMS_QUIET_HOURS"):
        Settings.from_env({"TRACKER_SMS_QUIET_HOURS": "25-7"})
    with pytest.raises(SettingsError, match="TRACKER_WEBHOOK_SECRET_KEY must be a Fernet key"):
        Settings.from_env({"TRACKER_WEBHOOK_SECRET_KEY": "not-a-key"})
