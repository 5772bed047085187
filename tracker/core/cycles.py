"""What a piece of work leaves for CPython's cyclic collector (for tests and benchmarks).

An object kept alive only by a reference cycle is freed at the next
collection, not when the work ends, and a collection holds the GIL: every
thread of a gunicorn worker waits. At the young generation's threshold the
server sets (:data:`tracker.server.YOUNG_GENERATION_THRESHOLD`), a tracking
page that left ~75 objects a render in cycles made it pause up to 155 ms
about every 670 renders. ``tests/tracking/test_garbage.py`` and
``scripts/bench_tracking.py`` look with :func:`left_in_cycles`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def left_in_cycles() -> Iterator[list[Any]]:
    """The objects the block left that only a cycle kept alive, in the list at its end.

    The collector is off inside the block; at its end one collection runs
    with ``DEBUG_SAVEALL``, which puts what it finds in the list instead of
    freeing it. The collector is left as it was found.
    """
    gc.collect()
    saved, enabled = gc.get_debug(), gc.isenabled()
    found: list[Any] = []
    gc.disable()
    try:
        yield found
        gc.set_debug(saved | gc.DEBUG_SAVEALL)
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(saved)
        gc.garbage.clear()
        if enabled:
            gc.enable()
