"""/metrics: closed by a bearer token and/or an allow-list when configured, and cheap to scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from ipaddress import ip_network
from typing import Any

import pytest
from sqlalchemy import Engine, event

from tests.conftest import FakeClock
from tracker.app import create_app
from tracker.core.metrics import GaugeCache
from tracker.settings import Settings, SettingsError


@pytest.fixture
def metrics_app(settings: Settings, engine: Engine, clock: FakeClock) -> Callable[..., Any]:
    def build(**changes: Any) -> Any:
        app = create_app(settings.but(**changes), engine=engine, clock=clock)
        app.config["TESTING"] = True
        return app.test_client()

    return build


def _scrape(client: Any, address: str = "127.0.0.1", token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address})


def test_it_is_open_when_nothing_is_configured(metrics_app: Callable[..., Any]) -> None:
    assert _scrape(metrics_app(), address="203.0.113.9").status_code == 200


def test_a_token_closes_it_to_scrapes_without_it(metrics_app: Callable[..., Any]) -> None:
    client = metrics_app(metrics_token="s3cret-token")

    missing = _scrape(client)
    wrong = _scrape(client, token="guess")
    right = _scrape(client, token="s3cret-token")
    lower = client.get("/metrics", headers={"Authorization": "bearer s3cret-token"})

    assert missing.status_code == 401 and missing.json["error"]["code"] == "unauthenticated"
    assert "s3cret" not in missing.get_data(as_text=True)
    assert wrong.status_code == 401
    assert right.status_code == 200 and "tracker_parcels" in right.get_data(as_text=True)
    assert lower.status_code == 200


def test_an_allow_list_closes_it_to_other_networks(metrics_app: Callable[..., Any]) -> None:
    client = metrics_app(metrics_allow=(ip_network("10.0.0.0/8"), ip_network("2001:db8::/32")))

    assert _scrape(client, address="10.1.2.3").status_code == 200
    assert _scrape(client, address="::ffff:10.1.2.3").status_code == 200
    assert _scrape(client, address="2001:db8::7").status_code == 200
    outside = _scrape(client, address="192.0.2.1")
    assert outside.status_code == 403 and outside.json["error"]["code"] == "forbidden"


def test_token_and_allow_list_together_need_both(metrics_app: Callable[..., Any]) -> None:
    client = metrics_app(metrics_token="t0ken", metrics_allow=(ip_network("10.0.0.0/8"),))

    assert _scrape(client, address="10.0.0.5", token="t0ken").status_code == 200
    assert _scrape(client, address="10.0.0.5").status_code == 401
    assert _scrape(client, address="192.0.2.1", token="t0ken").status_code == 403


def test_behind_a_trusted_proxy_the_allow_list_sees_the_forwarded_client(
    metrics_app: Callable[..., Any],
) -> None:
    client = metrics_app(proxy_hops=1, metrics_allow=(ip_network("10.0.0.0/8"),))

    def via_proxy(client_address: str) -> int:
        answer = client.get(
            "/metrics", headers={"X-Forwarded-For": client_address}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
        )
        return int(answer.status_code)

    assert via_proxy("10.0.0.5") == 200
    assert via_proxy("198.51.100.4") == 403


def test_it_reads_the_allow_list_and_names_a_bad_one() -> None:
    settings = Settings.from_env({"TRACKER_METRICS_ALLOW": "10.0.0.0/8, 192.0.2.7 ,::1"})
    assert settings.metrics_allow == (
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.7/32"),
        ip_network("::1/128"),
    )
    with pytest.raises(SettingsError, match="TRACKER_METRICS_ALLOW"):
        Settings.from_env({"TRACKER_METRICS_ALLOW": "10.0.0/33"})
    with pytest.raises(SettingsError, match="TRACKER_METRICS_CACHE"):
        Settings.from_env({"TRACKER_METRICS_CACHE": "-1"})
    assert "s3cret" not in repr(Settings.from_env({"TRACKER_METRICS_TOKEN": "s3cret"}))


@contextmanager
def _statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_scrapes_within_the_cache_window_count_once(metrics_app: Callable[..., Any], engine: Engine) -> None:
    client = metrics_app(metrics_cache=timedelta(seconds=60))

    with _statements(engine) as first:
        one = _scrape(client)
    with _statements(engine) as burst:
        others = [_scrape(client) for _ in range(5)]

    assert sum("GROUP BY" in s for s in first) == 4  # statuses, cases, stale, notifications by channel
    assert burst == []
    assert all(o.status_code == 200 for o in others)
    gauges = [line for line in one.get_data(as_text=True).splitlines() if line.startswith("tracker_parcels{")]
    assert gauges and all(g in others[-1].get_data(as_text=True) for g in gauges)


def test_without_a_cache_every_scrape_counts(metrics_app: Callable[..., Any], engine: Engine) -> None:
    client = metrics_app(metrics_cache=timedelta(0))

    with _statements(engine) as seen:
        _scrape(client)
        _scrape(client)

    assert sum("GROUP BY" in s for s in seen) == 8


def test_the_cache_reads_again_once_its_window_passes() -> None:
    now = [100.0]
    cache = GaugeCache(5, clock=lambda: now[0])
    reads: list[float] = []

    def read() -> list[Any]:
        reads.append(now[0])
        return []

    for moment in (100.0, 102.0, 104.9, 105.0, 109.0, 110.0):
        now[0] = moment
        cache.families(read)

    assert reads == [100.0, 105.0, 110.0]
