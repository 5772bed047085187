"""The rate limiter's counters in memory: the same limits, no thread started per hit."""

from __future__ import annotations

import time
from typing import Any

from limits import parse
from limits.strategies import FixedWindowRateLimiter

from tracker.tracking.counters import SCHEME, SWEEP_EVERY, LocalCounters, PublicLimits


def _settled() -> LocalCounters:
    counters = LocalCounters()
    counters.timer.join()  # the one timer the base class starts when it is made
    return counters


def test_a_hit_starts_no_thread() -> None:
    counters = _settled()
    first = counters.timer
    for n in range(50):
        counters.incr(f"client-{n % 3}", expiry=60)
    assert counters.timer is first and not first.is_alive()


def test_it_limits_as_the_fixed_window_strategy_says() -> None:
    limiter = FixedWindowRateLimiter(_settled())
    three = parse("3/minute")
    assert [limiter.hit(three, "reads", "10.0.0.1") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(three, "reads", "10.0.0.2")  # another client, its own count
    stats = limiter.get_window_stats(three, "reads", "10.0.0.1")
    assert stats.remaining == 0 and stats.reset_time > time.time()


def test_a_new_window_starts_from_zero() -> None:
    counters = _settled()
    assert counters.incr("client", expiry=0.05) == 1
    assert counters.incr("client", expiry=0.05) == 2
    time.sleep(0.06)
    assert counters.incr("client", expiry=0.05) == 1


def test_the_counters_of_clients_that_left_are_swept() -> None:
    counters = _settled()
    counters.incr("gone", expiry=1)
    counters.incr("here", expiry=3600)
    counters.sweep(time.time() + 2)
    assert "gone" not in counters.storage and "gone" not in counters.expirations
    assert counters.storage["here"] == 1


def test_a_hit_sweeps_at_most_every_few_seconds(monkeypatch: Any) -> None:
    counters = _settled()
    counters.incr("gone", expiry=1)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 1.5)
    counters.incr("other", expiry=60)  # before SWEEP_EVERY: "gone" is left for later
    assert "gone" in counters.storage
    monkeypatch.setattr(time, "time", lambda: now + SWEEP_EVERY + 1)
    counters.incr("other", expiry=60)
    assert "gone" not in counters.storage


def test_the_app_counts_in_memory_with_them(app: Any) -> None:
    assert isinstance(app.extensions["tracking"].limiter.storage, LocalCounters)


class _Unreachable:
    """A storage whose server is away (Redis down), until told it is back."""

    def __init__(self) -> None:
        self.back = False

    def incr(self, *_: Any, **__: Any) -> int:
        raise ConnectionError("connection refused")

    def check(self) -> bool:
        return self.back


def test_the_limits_count_in_memory_while_their_storage_is_away(monkeypatch: Any) -> None:
    limits = PublicLimits(f"{SCHEME}://", {"public-read": "2/minute"})
    shared = limits.storage
    away = _Unreachable()
    limits.storage = away  # type: ignore[assignment]
    # Served, and still limited: the full limit, in this process's memory.
    assert [limits.hit("public-read", "10.0.0.1").allowed for _ in range(3)] == [True, True, False]
    # Back (the storage is checked again after a pause): counted there again.
    limits.storage = shared
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 60)
    verdict = limits.hit("public-read", "10.0.0.1")
    assert verdict.allowed and verdict.remaining == 1
    assert shared.get(verdict.limit.key_for("tracker", "10.0.0.1", "public-read")) == 1
