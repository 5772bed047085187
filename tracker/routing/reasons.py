"""Why a stop was left out, in a code and a sentence.

Works on the solver's integer :class:`~tracker.routing.instance.Instance`
and the routes it chose. The tests go from the stop alone to the plan as a
whole (codes are described in :mod:`tracker.routing.plan`):

1. For each vehicle, drive straight from its start at the start of its shift:
   if the window has closed on arrival for every vehicle, the window is
   unreachable.
2. If some vehicle arrives in time but none can also serve the stop and reach
   its end location before its shift ends, the shift is too short.
3. Among vehicles for which the direct trip works, if the stop's parcels or
   weight exceed what each has left after its planned stops: capacity;
   unless it would fit on one of them but for the stops of a higher customer
   tier planned there: then those stops took its place (priority).
4. Otherwise the plan had no room; if stops of a higher tier were served,
   they were preferred (priority), else no room.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo

import numpy as np

from tracker.core.timefmt import iso_local
from tracker.routing.instance import Instance

__all__ = ["explain_all"]


def explain_all(
    inst: Instance,
    routes: Sequence[Sequence[int]],
    dropped: Sequence[int],
    *,
    priority: Sequence[int],
    clock: Callable[[int], datetime],
    zone: tzinfo = UTC,
) -> dict[int, tuple[str, str]]:
    """Reason code and detail for each visit in ``dropped`` (times written in ``zone``)."""
    remaining = inst.capacity.copy()
    for v, route in enumerate(routes):
        remaining[:, v] -= inst.demand[:, list(route)].sum(axis=1)
    served = [priority[n] for route in routes for n in route]
    best_served = max(served, default=-1)

    def fmt(seconds: int) -> str:
        return iso_local(clock(seconds), zone)

    def outranking_load(node: int) -> np.ndarray:
        """Per vehicle, what its stops of a higher tier than ``node`` carry."""
        load = np.zeros_like(inst.capacity)
        for v, route in enumerate(routes):
            higher = [n for n in route if priority[n] > priority[node]]
            load[:, v] = inst.demand[:, higher].sum(axis=1)
        return load

    return {
        node: _explain(inst, node, remaining, outranking_load(node), priority[node] < best_served, fmt)
        for node in dropped
    }


def _explain(
    inst: Instance,
    node: int,
    remaining: np.ndarray,
    outranking: np.ndarray,
    outranked: bool,
    fmt: Callable[[int], str],
) -> tuple[str, str]:
    service = int(inst.service[node])
    open_, close = int(inst.window_start[node]), int(inst.window_end[node])
    earliest = min(
        int(inst.shift_start[v] + inst.duration[inst.vehicle_start[v], node])
        for v in range(inst.num_vehicles)
    )
    in_time: list[int] = []  # vehicles that can start service inside the window
    direct: list[int] = []  # ... and also finish it and get back within the shift
    for v in range(inst.num_vehicles):
        begin = max(int(inst.shift_start[v] + inst.duration[inst.vehicle_start[v], node]), open_)
        if begin > close:
            continue
        in_time.append(v)
        back = begin + service + int(inst.duration[node, inst.vehicle_end[v]])
        if back <= inst.shift_end[v]:
            direct.append(v)

    if not in_time:
        return (
            "window_unreachable",
            f"even driving straight from the start of a shift, the earliest arrival is "
            f"{fmt(earliest)}, after the window closes at {fmt(close)}",
        )
    if not direct:
        return (
            "shift_too_short",
            "a vehicle can be there within the window, but none can serve it and get "
            "back before its shift ends",
        )

    demand = inst.demand[:, node]
    if not any((demand <= remaining[:, v]).all() for v in direct):
        if any((demand <= remaining[:, v] + outranking[:, v]).all() for v in direct):
            return (
                "priority",
                "it would fit on a vehicle that could reach it in time, but stops of a higher "
                "customer tier took the room",
            )
        return (
            "capacity",
            "every vehicle that could reach it in time is too full for its parcels or weight",
        )
    if outranked:
        return (
            "priority",
            "the fleet had no room for every stop; stops of a higher customer tier were kept",
        )
    return (
        "no_room",
        "no vehicle could fit it into its route without missing another stop's window or its own shift end",
    )
