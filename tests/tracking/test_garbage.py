"""A tracking answer is freed when it is sent: no reference cycles for the collector to find.

A page whose objects sit in a reference cycle lives on until CPython's cyclic
collector runs, and that collection, holding the GIL, pauses every thread of
the worker. With the young generation's threshold the server sets
(:data:`tracker.server.YOUNG_GENERATION_THRESHOLD`) those pauses were 75-92
ms each, one every ~670 page renders: the tail of the page's latency. Jinja
makes the macros a template defines anew on every render, and each closes a
cycle with the render's context, which holds the view, the request and the
whole page; macros imported from a template of their own are made once.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from jinja2.runtime import Context, Macro

from tests.tracking.conftest import CODE
from tracker.tracking.view import PublicView


@pytest.fixture
def cycled() -> Iterator[Callable[[], dict[str, int]]]:
    """Collect now: how many of the renders' objects the collector found only in cycles, by kind.

    The collector is off from the fixture's start, and what it finds is kept
    (``DEBUG_SAVEALL``) to be counted instead of freed.
    """
    gc.collect()
    saved = gc.get_debug()
    gc.disable()
    gc.set_debug(saved | gc.DEBUG_SAVEALL)

    def collect() -> dict[str, int]:
        gc.collect()
        kinds = {"jinja context": Context, "macro": Macro, "tracking view": PublicView}
        return {name: sum(isinstance(o, kind) for o in gc.garbage) for name, kind in kinds.items()}

    try:
        yield collect
    finally:
        gc.set_debug(saved)
        gc.garbage.clear()
        gc.enable()


NONE = {"jinja context": 0, "macro": 0, "tracking view": 0}


def test_the_tracking_page_leaves_no_cycle_behind(parcels: Any, client: Any, cycled: Any) -> None:
    tn = parcels.make("failed_attempt")
    for _ in range(5):
        assert client.get(f"/track/{tn}").status_code == 200
    # The verified page: every form, each with its token and its error slot.
    client.post(f"/track/{tn}/verify", data={"code": CODE})
    verified = client.get(f"/track/{tn}")
    assert verified.status_code == 200 and 'name="token"' in verified.get_data(as_text=True)

    assert cycled() == NONE


def test_the_tracking_json_leaves_no_cycle_behind(parcels: Any, client: Any, cycled: Any) -> None:
    tn = parcels.make("in_transit")
    for _ in range(5):
        assert client.get(f"/api/v1/track/{tn}").status_code == 200

    assert cycled() == NONE
