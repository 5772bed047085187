"""Route solves off the request threads: a few slots, each a child process.

OR-Tools holds the GIL while it searches, so a solve on a request thread
freezes every other thread of its worker: scans waited 18 s behind eight
optimize calls, and under that contention solves ran out of time and
answered 500. Here each worker process has ``slots`` solving slots
(``TRACKER_SOLVE_SLOTS``, one by default), each backed by a child process of
a spawned pool that outlives the request, so the worker's threads keep
answering while a solve runs. A request that finds every slot taken is not
queued behind it (a queued request holds a thread too): it gets a 503
``solver_busy`` with ``Retry-After`` and can try again, so contention can
slow a plan down but never turn a solvable problem into a failure, and scans
always have the other threads.

``slots=0`` solves on the calling thread (the command line, and tests that do
not test this).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from tracker.core.errors import SolverBusy, TrackerError

__all__ = ["SolveSlots"]

log = logging.getLogger("tracker.routes")

T = TypeVar("T")


class SolveSlots:
    """At most ``slots`` solves at a time in this process, each in a child process."""

    def __init__(self, slots: int, *, retry_after: int = 5) -> None:
        self.slots = slots
        self.retry_after = retry_after
        self._free = threading.BoundedSemaphore(slots) if slots > 0 else None
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self.in_use = 0  # slots taken now (read by tests and a future gauge)

    def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in a free slot; :class:`SolverBusy` if there is none.

        ``fn`` and its arguments cross to a child process: a module-level
        function and picklable values (the engine's dataclasses are).
        """
        if self._free is None:
            return fn(*args, **kwargs)
        if not self._free.acquire(blocking=False):
            raise SolverBusy(
                f"all {self.slots} route-solving slots of this server are busy; "
                f"try again in {self.retry_after} seconds",
                retry_after=self.retry_after,
            )
        with self._lock:
            self.in_use += 1
        try:
            future = self._executor().submit(fn, *args, **kwargs)
            try:
                return future.result()
            except BrokenProcessPool as exc:
                # The child died (killed, out of memory, a crash in the solver):
                # this request fails, the next one gets a fresh pool.
                self._discard()
                log.error("route solver process died", extra={"fields": {"error": str(exc)}})
                error = TrackerError("routing failed: the solver process died")
                error.code = "routing_failed"
                raise error from exc
        finally:
            with self._lock:
                self.in_use -= 1
            self._free.release()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the worker has threads (and a database pool)
                # that a forked child would inherit half-held.
                self._pool = ProcessPoolExecutor(
                    max_workers=self.slots, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def _discard(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def children(self) -> list[int]:
        """Process ids of the solving children alive now."""
        with self._lock:
            pool = self._pool
        return [p.pid for p in (pool._processes or {}).values() if p.pid] if pool else []

    def close(self) -> None:
        """Stop the child processes (at the end of a test or a worker)."""
        self._discard()
