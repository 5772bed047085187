"""Public endpoints are rate limited per client: in memory, or shared through Redis."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import event, select

from tests.live import LiveServer
from tracker.core.db import Base
from tracker.tracking.http import public_budgets, worker_share

REDIS_URI = "redis://127.0.0.1:6379"


def _address() -> str:
    # A fresh client address per test: counters in Redis outlive the test.
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


def test_it_limits_reads_per_client_and_answers_429_in_the_error_shape(parcels: Any, app_with: Any) -> None:
    tn = parcels.make("in_transit")
    client = app_with(ratelimit_read="3/minute", workers=1).test_client()
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
    client = app_with(ratelimit_read="1/minute", workers=1).test_client()
    client.get(f"/track/{tn}")
    page = client.get(f"/track/{tn}?lang=en")
    assert page.status_code == 429
    assert page.mimetype == "text/html" and "Too many requests" in page.get_data(as_text=True)
    assert page.headers["Retry-After"]


def test_it_limits_writes_separately_from_reads(parcels: Any, app_with: Any) -> None:
    tn = parcels.make("delivered")
    client = app_with(ratelimit_write="2/minute", ratelimit_read="100/minute", workers=1).test_client()
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


def test_it_gives_each_worker_its_share_of_the_budget_in_memory(parcels: Any, app_with: Any) -> None:
    # Two workers counting on their own: 4/hour is 2 each, so 4 per address in all, not 8.
    tn = parcels.make("in_transit")
    worker_a, worker_b = (app_with(ratelimit_read="4/hour", workers=2) for _ in range(2))
    answers = []
    for worker in (worker_a, worker_b):
        client = worker.test_client()
        answers += [client.get(f"/api/v1/track/{tn}").status_code for _ in range(4)]
    assert answers == [200, 200, 429, 429, 200, 200, 429, 429]


def test_it_divides_each_limit_by_the_workers_rounding_up_to_at_least_one() -> None:
    assert worker_share("120/minute", 2) == "60/1 minute"
    assert worker_share("5/minute", 2) == "3/1 minute"
    assert worker_share("1/minute", 4) == "1/1 minute"
    assert worker_share("10/second;500/hour", 3) == "4/1 second;167/1 hour"
    assert worker_share("20 per 2 hours", 1) == "20/2 hour"


def test_it_does_not_divide_shared_counters(settings: Any) -> None:
    shared = settings.but(ratelimit_storage_uri=REDIS_URI, workers=4)
    assert public_budgets(shared) == (shared.ratelimit_read, shared.ratelimit_write)
    assert public_budgets(shared.but(ratelimit_storage_uri="memory://")) == ("30/1 minute", "5/1 minute")


def test_misses_and_hits_draw_from_one_budget(parcels: Any, app_with: Any) -> None:
    tn = parcels.make("in_transit")
    client = app_with(ratelimit_read="4/hour", workers=1).test_client()
    me = {"REMOTE_ADDR": "192.0.2.10"}
    guesses = [f"/api/v1/track/{tn}", "/api/v1/track/TRKNOPE00001", f"/track/{tn}", "/track/TRKNOPE00002"]
    assert [client.get(url, environ_base=me).status_code for url in guesses] == [200, 404, 200, 404]
    # The budget is spent: a hit and a miss now answer alike.
    after = [client.get(url, environ_base=me) for url in guesses]
    assert [a.status_code for a in after] == [429, 429, 429, 429]
    assert after[0].get_data() == after[1].get_data()


def test_a_burst_of_public_reads_writes_nothing(parcels: Any, app_with: Any, engine: Any) -> None:
    known = [parcels.make(status) for status in ("in_transit", "delivered", "available_for_pickup")]
    client = app_with(ratelimit_read="60/hour", workers=1).test_client()
    writes: list[str] = []

    def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "MERGE"):
            writes.append(statement)

    before = _snapshot(engine)
    event.listen(engine, "before_cursor_execute", watch)
    try:
        statuses = set()
        for tn in [*known, known[0].lower(), "TRKNOPE00001"]:
            api = client.get(f"/api/v1/track/{tn}")
            statuses.add(api.status_code)
            if api.status_code == 200:
                again = client.get(f"/api/v1/track/{tn}", headers={"If-None-Match": api.headers["ETag"]})
                statuses.add(again.status_code)
            statuses.add(client.get(f"/track/{tn}").status_code)
            statuses.add(client.get(f"/track/{tn}?lang=en").status_code)
            statuses.add(client.get(f"/track?tn={tn}").status_code)
        statuses.add(client.get("/track/bad%20number").status_code)
        statuses.add(client.get("/track/language/en?next=/track").status_code)
        statuses.add(client.head(f"/api/v1/track/{known[0]}").status_code)
        while client.get(f"/api/v1/track/{known[0]}").status_code != 429:
            pass
        statuses.add(429)
    finally:
        event.remove(engine, "before_cursor_execute", watch)

    assert {200, 303, 304, 400, 404, 429} <= statuses
    assert writes == []
    assert _snapshot(engine) == before


def _snapshot(engine: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted."""
    with engine.connect() as conn:
        return {
            table.name: sorted(map(tuple, conn.execute(select(table)).all()), key=repr)
            for table in Base.metadata.sorted_tables
        }


@pytest.mark.slow
@pytest.mark.committing  # a live server on the test's database
def test_two_live_workers_hold_the_budget_per_address_together(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # gunicorn logs which worker answered what: the budget must hold per worker, not only in sum.
    config = tmp_path / "gunicorn.conf.py"
    config.write_text('accesslog = "-"\naccess_log_format = "ACCESS %(p)s %(s)s"\n')
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    budget, sent = 10, 16
    server = LiveServer(
        database_url,
        tmp_path / "instance",
        TRACKER_WORKERS="2",
        TRACKER_RATELIMIT_STORAGE_URI="memory://",
        TRACKER_RATELIMIT_READ=f"{budget}/hour",  # no window boundary within the test
        TRACKER_GUNICORN_CONFIG=str(config),
    )
    try:
        # New connections from several threads at once: the kernel spreads them over both workers.
        urls = [f"{server.url}/api/v1/track/TRKGUESS{n:04d}" for n in range(sent)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda url: requests.get(url, timeout=10).status_code, urls))
    finally:
        server.stop()

    assert set(statuses) <= {404, 429}
    answered = sum(status != 429 for status in statuses)
    assert budget // 2 <= answered <= budget, statuses
    per_worker: Counter[str] = Counter()
    for line in server.log.read_text().splitlines():
        if line.startswith("ACCESS ") and line.endswith(" 404"):
            per_worker[line.split()[1]] += 1
    assert sum(per_worker.values()) == answered, server.log.read_text()
    assert max(per_worker.values()) <= budget // 2, per_worker
