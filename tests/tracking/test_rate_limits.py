"""Public endpoints are rate limited per client: in memory, or shared through Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

REDIS_URI = "redis://127.0.0.1:6379"


def _address() -> str:
    # A fresh client address per test: counters in Redis outlive the test.
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def test_it_limits_reads_per_client_and_answers_429_in_the_error_shape(parcels: Any, app_with: Any) -> None:
    tn = parcels.make("in_transit")
    client = app_with(ratelimit_read="3/minute").test_client()
    me, other = {"REMOTE_ADDR": "192.0.2.1"}, {"REMOTE_ADDR": "192.0.2.2"}
    for _ in range(3):
        assert client.get(f"/api/v1/track/{tn}", environ_base=me).status_code == 200
    limited = client.get(f"/api/v1/track/{tn}", environ_base=me)
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "too_many_requests"
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    # Pages and JSON share one budget; another client has its own.
    assert client.get(f"/track/{tn}", environ_base=me).status_code == 429
    assert client.get(f"/api/v1/track/{tn}", environ_base=other).status_code == 200


def test_it_shows_a_page_not_json_when_a_page_is_rate_limited(parcels: Any, app_with: Any) -> None:
    tn = parcels.make("in_transit")
    client = app_with(ratelimit_read="1/minute").test_client()
    client.get(f"/track/{tn}")
    page = client.get(f"/track/{tn}?lang=en")
    assert page.status_code == 429
    assert page.mimetype == "text/html" and "Too many requests" in page.get_data(as_text=True)
    assert page.headers["Retry-After"]


def test_it_limits_writes_separately_from_reads(parcels: Any, app_with: Any) -> None:
    tn = parcels.make("delivered")
    client = app_with(ratelimit_write="2/minute", ratelimit_read="100/minute").test_client()
    body = {"kind": "late", "verification": "1234"}
    assert [client.post(f"/api/v1/track/{tn}/feedback", json=body).status_code for _ in range(3)] == [
        201,
        201,
        429,
    ]
    assert client.get(f"/api/v1/track/{tn}").status_code == 200


def test_it_leaves_the_authenticated_apis_and_health_checks_unlimited(app_with: Any, personas: Any) -> None:
    client = app_with(ratelimit_read="1/minute").test_client()
    assert [client.get("/healthz").status_code for _ in range(3)] == [200, 200, 200]


@pytest.fixture
def redis_uri() -> Iterator[str]:
    redis = pytest.importorskip("redis")
    connection = redis.Redis.from_url(REDIS_URI, socket_connect_timeout=1)
    try:
        connection.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URI}: {type(exc).__name__}")
    finally:
        connection.close()
    yield REDIS_URI


def _close_storage(app: Any) -> None:
    storage = app.extensions["tracking"].limiter.storage
    pool = getattr(getattr(storage, "storage", None), "connection_pool", None)
    if pool is not None:
        pool.disconnect()


def test_it_shares_the_limit_between_workers_through_redis(
    parcels: Any, app_with: Any, redis_uri: str
) -> None:
    tn = parcels.make("in_transit")
    worker_a = app_with(ratelimit_storage_uri=redis_uri, ratelimit_read="3/minute")
    worker_b = app_with(ratelimit_storage_uri=redis_uri, ratelimit_read="3/minute")
    me = {"REMOTE_ADDR": _address()}
    try:
        a, b = worker_a.test_client(), worker_b.test_client()
        assert a.get(f"/api/v1/track/{tn}", environ_base=me).status_code == 200
        assert b.get(f"/api/v1/track/{tn}", environ_base=me).status_code == 200
        assert a.get(f"/api/v1/track/{tn}", environ_base=me).status_code == 200
        assert b.get(f"/api/v1/track/{tn}", environ_base=me).status_code == 429
        assert a.get(f"/api/v1/track/{tn}", environ_base={"REMOTE_ADDR": _address()}).status_code == 200
    finally:
        _close_storage(worker_a)
        _close_storage(worker_b)


def test_it_keeps_separate_counters_per_process_in_memory(parcels: Any, app_with: Any) -> None:
    tn = parcels.make("in_transit")
    worker_a, worker_b = app_with(ratelimit_read="2/minute"), app_with(ratelimit_read="2/minute")
    for worker in (worker_a, worker_b):
        client = worker.test_client()
        assert [client.get(f"/api/v1/track/{tn}").status_code for _ in range(3)] == [200, 200, 429]
