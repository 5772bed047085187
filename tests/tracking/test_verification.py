"""Verification: the last four digits of the phone, and how many wrong tries are allowed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.tracking.conftest import CODE, WRONG
from tracker.core.models import VerificationAttempt
from tracker.tracking import verification


def _try(client: Any, tn: str, code: str, address: str = "203.0.113.7") -> Any:
    return client.get(
        f"/api/v1/track/{tn}", headers={"X-Verification": code}, environ_base={"REMOTE_ADDR": address}
    )


def test_it_refuses_the_sixth_try_even_with_the_right_code_until_the_window_passes(
    parcels: Any, client: Any, clock: Any
) -> None:
    tn = parcels.make("in_transit")
    for _ in range(5):
        assert _try(client, tn, WRONG).status_code == 403
    refused = _try(client, tn, CODE)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "verification_locked"
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3600

    clock.advance(minutes=59)
    assert _try(client, tn, CODE).status_code == 429
    clock.advance(minutes=1, seconds=1)
    passed = _try(client, tn, CODE)
    assert passed.status_code == 200 and passed.json["verified"] is True


def test_it_does_not_lengthen_a_lockout_for_tries_it_refused(parcels: Any, client: Any, clock: Any) -> None:
    tn = parcels.make("in_transit")
    for _ in range(5):
        _try(client, tn, WRONG)
    for _ in range(20):
        clock.advance(minutes=2)
        assert _try(client, tn, WRONG).status_code == 429
    clock.advance(minutes=20, seconds=1)  # an hour after the five failures
    assert _try(client, tn, CODE).status_code == 200


def test_it_limits_tries_per_tracking_number_whatever_the_client(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    for n in range(5):
        assert _try(client, tn, WRONG, address=f"198.51.100.{n}").status_code == 403
    assert _try(client, tn, CODE, address="192.0.2.99").status_code == 429
    # Upper case or lower case: the same parcel, the same limit.
    assert _try(client, tn.lower(), CODE, address="192.0.2.98").status_code == 429


def test_it_limits_wrong_tries_per_client_across_tracking_numbers(parcels: Any, client: Any) -> None:
    numbers = [parcels.make("in_transit") for _ in range(3)]
    fresh = parcels.make("delivered")
    for n in range(10):
        tn = numbers[n % 3]
        _try(client, tn, WRONG, address="2001:db8:1:2::7")
    # Another address in the same IPv6 /64 is the same client.
    assert _try(client, fresh, CODE, address="2001:db8:1:2::99").status_code == 429
    assert _try(client, fresh, CODE, address="2001:db8:1:3::1").status_code == 200


def test_it_answers_a_wrong_code_the_same_for_an_unknown_and_a_known_parcel(
    parcels: Any, client: Any
) -> None:
    tn = parcels.make("delivered")
    body = {"kind": "late", "verification": WRONG}
    known = client.post(f"/api/v1/track/{tn}/feedback", json=body)
    unknown = client.post("/api/v1/track/TRKNOSUCH0001/feedback", json=body)
    assert known.status_code == unknown.status_code == 403
    assert known.json == unknown.json
    assert known.json["error"]["code"] == "verification_failed"


def test_it_limits_unknown_tracking_numbers_like_known_ones(client: Any) -> None:
    body = {"kind": "late", "verification": WRONG}
    for _ in range(5):
        assert client.post("/api/v1/track/TRKNOSUCH0002/feedback", json=body).status_code == 403
    assert client.post("/api/v1/track/TRKNOSUCH0002/feedback", json=body).status_code == 429


def test_it_counts_wrong_tries_in_the_database_across_workers(
    parcels: Any, client: Any, app_with: Any
) -> None:
    tn = parcels.make("in_transit")
    other_worker = app_with().test_client()
    for _ in range(3):
        assert _try(client, tn, WRONG).status_code == 403
    for _ in range(2):
        assert _try(other_worker, tn, WRONG).status_code == 403
    assert _try(client, tn, CODE).status_code == 429
    assert _try(other_worker, tn, CODE).status_code == 429


@pytest.mark.committing  # parallel requests, each on its own connection
def test_it_checks_no_more_codes_than_the_limit_in_a_burst_of_parallel_tries(
    parcels: Any, app: Any, engine: Any
) -> None:
    tn = parcels.make("in_transit")
    statuses: list[int] = []
    start = threading.Barrier(12)

    def attempt(n: int) -> None:
        client = app.test_client()
        start.wait()
        statuses.append(_try(client, tn, f"{n:04d}" if n != 1234 else "0000").status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as conn:
        checked = conn.scalar(
            select(func.count())
            .select_from(VerificationAttempt)
            .where(VerificationAttempt.outcome.in_(("failed", "passed")))
        )
    assert sorted(set(statuses)) == [403, 429]
    assert checked == statuses.count(403) <= 5


def test_it_rejects_a_malformed_code_without_counting_it(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    for _ in range(8):
        answer = _try(client, tn, "12a4")
        assert answer.status_code == 422
        assert answer.json["error"]["fields"] == [
            {"field": "X-Verification", "message": "expected four digits"}
        ]
    assert _try(client, tn, CODE).status_code == 200


def test_it_limits_page_verification_and_says_when_to_come_back(parcels: Any, client: Any) -> None:
    tn = parcels.make("delivered")
    for _ in range(5):
        wrong = client.post(f"/track/{tn}/verify", data={"code": WRONG}, headers={"Accept-Language": "en"})
        assert wrong.status_code == 403
        assert "do not match" in wrong.get_data(as_text=True)
    locked = client.post(f"/track/{tn}/verify", data={"code": CODE}, headers={"Accept-Language": "en"})
    assert locked.status_code == 429
    assert "Too many wrong tries. Please try again in 60 minutes." in locked.get_data(as_text=True)
    assert "Set-Cookie" not in locked.headers or "trk_verified" not in locked.headers["Set-Cookie"]


def test_it_forgets_a_verification_when_the_cookie_expires(parcels: Any, client: Any, clock: Any) -> None:
    tn = parcels.make("delivered")
    client.post(f"/track/{tn}/verify", data={"code": CODE})
    assert 'id="verified"' in client.get(f"/track/{tn}").get_data(as_text=True)
    clock.advance(minutes=31)
    assert 'id="verified"' not in client.get(f"/track/{tn}").get_data(as_text=True)


def test_it_ignores_a_forged_or_foreign_cookie() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    later = (now + timedelta(minutes=5)).timestamp()
    value = verification.sign_verified([("TRK1", later)], b"key one")
    assert verification.read_verified(value, b"key one", now=now) == {"TRK1": later}
    assert verification.read_verified(value, b"key two", now=now) == {}
    assert verification.read_verified(value + "x", b"key one", now=now) == {}
    assert verification.read_verified(value, b"key one", now=now + timedelta(minutes=6)) == {}


def test_it_names_clients_by_ipv4_address_or_ipv6_64() -> None:
    assert verification.client_network("203.0.113.7") == "203.0.113.7"
    assert verification.client_network("2001:db8:1:2::7") == "2001:db8:1:2::/64"
    assert verification.client_network("::ffff:203.0.113.7") == "203.0.113.7"
    assert verification.client_id("203.0.113.7", b"k") != verification.client_id("203.0.113.8", b"k")
    assert "203.0.113.7" not in verification.client_id("203.0.113.7", b"k")
