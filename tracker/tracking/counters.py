"""The tracking pages' rate limits: :class:`PublicLimits`, and its counters in a worker's memory.

**Counters.** :class:`LocalCounters` keeps them in a worker's memory, without a thread per hit.

``limits``' own memory storage (``memory://``) removes ended windows on a
``threading.Timer`` of 10 ms that each counted hit restarts once the last
one has fired: under steady traffic a new thread is started about every
10 ms, each start waiting for the thread to run, and each run walks every
key. On the tracking read, the most frequent request, that was the largest
single cost of the whole request (about 2 ms of 5 in a profile at 32
connections).

:class:`LocalCounters` is that storage with the same counters, windows and
answers for the fixed-window strategy the tracking blueprints use
(:mod:`tracker.tracking.http`): a counter whose window has ended is dropped
when its key is next read (as before), and every :data:`SWEEP_EVERY`
seconds one hit also drops the ended counters of clients that did not come
back, so memory stays bounded by the clients of the last window or so. No
thread. ``TRACKER_RATELIMIT_STORAGE_URI=memory://`` selects it
(:data:`SCHEME`); Redis and the other storages are used as configured.

**Limits.** :class:`PublicLimits` counts one request against one budget
(``public-read`` or ``public-write``) of one client and says whether it may
pass, with what the ``X-RateLimit-*`` headers say: what Flask-Limiter did
with the same ``limits`` storage, strategy (fixed windows) and keys, in one
call per request instead of its per-request resolution of which limits apply
(a tenth of a tracking read's time). :mod:`tracker.tracking.http` applies it
to the two tracking blueprints.

A pure module: ``limits`` only (no Flask, no SQLAlchemy).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, Storage, storage_from_string

log = logging.getLogger("tracker.tracking")

#: What :mod:`tracker.tracking.http` hands the limiter for ``memory://``.
SCHEME = "tracker-memory"
#: How often, at most, the counters of every client are swept for ended windows.
SWEEP_EVERY = 5.0


class LocalCounters(MemoryStorage):
    """``limits``' memory storage (fixed windows) without its expiry timer thread."""

    #: Registers the scheme with ``limits.storage.storage_from_string``.
    STORAGE_SCHEME: ClassVar[list[str]] = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._next_sweep = time.time() + SWEEP_EVERY
        self._sweeping = threading.Lock()

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Count ``amount`` hits on ``key``, starting a window of ``expiry`` seconds if none is open."""
        now = time.time()
        if now >= self._next_sweep:
            self.sweep(now)
        self.get(key)  # drops the counter if its window has ended
        with self.locks[key]:
            self.storage[key] += amount
            if self.storage[key] == amount:
                self.expirations[key] = now + expiry
        return self.storage.get(key, 0)

    def sweep(self, now: float) -> None:
        """Drop every counter whose window ended before ``now`` (one thread at a time)."""
        if not self._sweeping.acquire(blocking=False):
            return  # another thread is at it
        try:
            self._next_sweep = now + SWEEP_EVERY
            for key, ends in list(self.expirations.items()):
                if ends <= now:
                    self.storage.pop(key, None)
                    self.expirations.pop(key, None)
                    self.locks.pop(key, None)
        finally:
            self._sweeping.release()


@dataclass(frozen=True)
class Verdict:
    """One request counted against one budget: may it pass, and what the headers say."""

    allowed: bool
    #: The limit the headers describe: the first one exceeded, else the shortest window's.
    limit: RateLimitItem
    remaining: int
    #: When that limit's window ends (``X-RateLimit-Reset``, seconds since the epoch).
    reset_at: int


#: Seconds between tries of a storage that failed: 1, 2, 4 ... 32, then 1 again (as Flask-Limiter).
_RECHECK_LIMIT = 5


class PublicLimits:
    """Budgets per client address, counted in ``storage_uri`` (see the module docstring).

    ``budgets`` maps a scope (``public-read``) to its limits (``"120/minute;1000/hour"``).
    Keys are Flask-Limiter's (``LIMITER/tracker/<client>/<scope>/<amount>/<multiples>/<unit>``),
    so counters in Redis carry over from a worker that used it. If the storage fails
    (Redis away), the same limits are counted in this process's memory until a check
    of the storage, tried at growing intervals, says it is back.
    """

    PREFIX = "tracker"

    def __init__(self, storage_uri: str, budgets: dict[str, str]) -> None:
        self.storage: Storage = storage_from_string(storage_uri)
        self.fallback = LocalCounters()
        # Shortest window first, as Flask-Limiter evaluates them (RateLimitItem orders by window).
        self.budgets = {scope: sorted(parse_many(limits)) for scope, limits in budgets.items()}
        self._storage_dead = False
        self._last_check = 0.0
        self._checks = 0

    def hit(self, scope: str, client: str) -> Verdict:
        """Count one request of ``client`` against ``scope``: every limit, up to the first exceeded."""
        storage = self._storage()
        try:
            return self._hit(storage, scope, client)
        except Exception:
            if storage is self.fallback:
                raise
            log.warning("rate limit storage unreachable: counting in this process's memory")
            self._storage_dead = True
            return self._hit(self.fallback, scope, client)

    def _hit(self, storage: Storage, scope: str, client: str) -> Verdict:
        shown: tuple[RateLimitItem, str, int] | None = None
        for item in self.budgets[scope]:
            key = item.key_for(self.PREFIX, client, scope)
            count = storage.incr(key, item.get_expiry())
            if count > item.amount:
                shown = (item, key, count)
                break  # the later limits are not counted, as Flask-Limiter's first breach stops it
            if shown is None:
                shown = (item, key, count)
        assert shown is not None, f"no limits for {scope}"
        item, key, count = shown
        return Verdict(
            allowed=count <= item.amount,
            limit=item,
            remaining=max(0, item.amount - count),
            reset_at=int(storage.get_expiry(key) + 1),
        )

    def _storage(self) -> Storage:
        if not self._storage_dead:
            return self.storage
        if self._should_check() and self.storage.check():
            log.info("rate limit storage is back")
            self._storage_dead = False
            self._checks = 0
            return self.storage
        return self.fallback

    def _should_check(self) -> bool:
        if self._checks > _RECHECK_LIMIT:
            self._checks = 0
        now = time.time()
        if now - self._last_check > 2**self._checks:
            self._last_check = now
            self._checks += 1
            return True
        return False
