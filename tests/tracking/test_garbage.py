"""A tracking answer is freed when it is sent: no reference cycles for the collector to find.

A page whose objects sit in a reference cycle lives on until CPython's cyclic
collector runs, and that collection, holding the GIL, pauses every thread of
the worker. At the young generation's threshold the server sets
(:data:`tracker.server.YOUNG_GENERATION_THRESHOLD`) those pauses took up to 155
ms each, one about every 670 page renders: the tail of the page's latency.
Jinja makes the macros a template defines anew on every render, and each
closes a cycle with the render's context, which holds the view, the request
and the whole page; macros imported from a template of their own are made
once.
"""

from __future__ import annotations

from typing import Any

from jinja2.runtime import Context, Macro

from tests.tracking.conftest import CODE
from tracker.core.cycles import left_in_cycles
from tracker.tracking.view import PublicView


def _kinds(found: list[Any]) -> dict[str, int]:
    kinds = {"jinja context": Context, "macro": Macro, "tracking view": PublicView}
    return {name: sum(isinstance(o, kind) for o in found) for name, kind in kinds.items()}


NONE = {"jinja context": 0, "macro": 0, "tracking view": 0}


def test_the_tracking_page_leaves_no_cycle_behind(parcels: Any, client: Any) -> None:
    tn = parcels.make("failed_attempt")
    with left_in_cycles() as found:
        for _ in range(5):
            assert client.get(f"/track/{tn}").status_code == 200
        # The verified page: every form, each with its token and its error slot.
        client.post(f"/track/{tn}/verify", data={"code": CODE})
        verified = client.get(f"/track/{tn}")
        assert verified.status_code == 200 and 'name="token"' in verified.get_data(as_text=True)

    assert _kinds(found) == NONE


def test_the_tracking_json_leaves_no_cycle_behind(parcels: Any, client: Any) -> None:
    tn = parcels.make("in_transit")
    with left_in_cycles() as found:
        for _ in range(5):
            assert client.get(f"/api/v1/track/{tn}").status_code == 200

    assert _kinds(found) == NONE
