"""What the routing API and ``tracker routes`` both do, written once (views/commands layer).

This module sits with :mod:`tracker.routing.views` and
:mod:`tracker.routing.commands` at the top of the routing package: it owns
the connections and transactions (the store below never does) and keeps the
solver's metrics, so that the blueprint and the commands run one sequence
rather than two copies of it.

* :func:`optimize`: a :class:`~tracker.routing.schemas.ProblemIn` (the API's
  body, or a file through :func:`read_problem`) to the engine's problem, the
  solve, and the answer with ETA windows (:func:`tracker.routing.planning.plan_answer`).
  Stores nothing.
* :func:`plan_station`: read the station's day (:func:`tracker.routing.store.read_day`)
  in one short read, solve it outside any transaction (it takes seconds),
  store it (:func:`tracker.routing.store.store_plan`) in one write
  transaction; the stored plan.
* :func:`timed_solve`: :func:`tracker.routing.solve`, counted (ok, error,
  invalid) and timed in :mod:`tracker.core.metrics`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import Engine

from tracker.core import metrics
from tracker.core.db import write_transaction
from tracker.core.errors import SolverBusy, TrackerError, ValidationFailed, field_errors
from tracker.routing.errors import RoutingError, RoutingInputError
from tracker.routing.model import RoutingProblem
from tracker.routing.plan import RoutePlan
from tracker.routing.planning import PlanOptions, invalid_problem, plan_answer
from tracker.routing.schemas import ProblemIn
from tracker.routing.slots import SolveSlots
from tracker.routing.solver import solve
from tracker.routing.store import plan_record, read_day, store_plan

log = logging.getLogger("tracker.routes")


def timed_solve(
    problem: RoutingProblem, *, time_limit: timedelta, zone: tzinfo, slots: SolveSlots | None = None
) -> RoutePlan:
    """:func:`tracker.routing.solve`, counted (ok, error, invalid) and timed in the metrics.

    With ``slots`` (the API) the solve runs in one of them, off the request
    thread; without (the commands), here. Raises :class:`RoutingInputError`
    for a problem no plan can honour, :class:`TrackerError` (500,
    ``routing_failed``) when the engine fails, and
    :class:`~tracker.core.errors.SolverBusy` (503) when no slot is free.
    """
    started, busy = time.perf_counter(), False
    try:
        if slots is None:
            plan = solve(problem, time_limit=time_limit, zone=zone)
        else:
            plan = slots.run(solve, problem, time_limit=time_limit, zone=zone)
    except RoutingInputError:
        metrics.ROUTE_SOLVES.labels("invalid").inc()
        raise
    except SolverBusy:
        metrics.ROUTE_SOLVES.labels("busy").inc()
        busy = True
        raise
    except RoutingError as exc:
        metrics.ROUTE_SOLVES.labels("error").inc()
        log.exception("route solve failed")
        error = TrackerError(f"routing failed: {exc}")
        error.code = "routing_failed"
        raise error from exc
    except Exception:
        metrics.ROUTE_SOLVES.labels("error").inc()
        raise
    finally:
        if not busy:  # a refusal took no solving time
            metrics.ROUTE_SOLVE_SECONDS.observe(time.perf_counter() - started)
    metrics.ROUTE_SOLVES.labels("ok").inc()
    return plan


def read_problem(data: Mapping[str, Any]) -> ProblemIn:
    """A problem in its JSON form (a file, a stored plan's ``problem``).

    Raises :class:`ValidationFailed` naming every bad field.
    """
    try:
        return ProblemIn.model_validate(_named_ids(data))
    except ValidationError as exc:
        metrics.ROUTE_SOLVES.labels("invalid").inc()
        raise ValidationFailed("the routing problem is not valid", field_errors(exc)) from None


def _named_ids(data: Mapping[str, Any]) -> Mapping[str, Any]:
    # Plans stored (and files written) before the one-name change called every
    # id ``id``; the wire now says ``depot_id``, ``vehicle_id`` and ``stop_id``.
    # Read both, so stored plans stay readable without rewriting them.
    if not isinstance(data, Mapping):
        return data

    def renamed(item: Any, key: str) -> Any:
        if isinstance(item, Mapping) and "id" in item and key not in item:
            return {key if k == "id" else k: v for k, v in item.items()}
        return item

    upgraded = dict(data)
    upgraded["depot"] = renamed(data.get("depot"), "depot_id")
    for field, key in (("vehicles", "vehicle_id"), ("stops", "stop_id")):
        if isinstance(data.get(field), list):
            upgraded[field] = [renamed(item, key) for item in data[field]]
    return upgraded


def optimize(
    body: ProblemIn, *, time_limit: timedelta, zone: tzinfo, slots: SolveSlots | None = None
) -> dict[str, Any]:
    """Solve the problem; the plan with ETA windows.

    Raises :class:`ValidationFailed` naming every bad field.
    """
    try:
        problem = body.to_problem()
    except RoutingInputError as exc:
        metrics.ROUTE_SOLVES.labels("invalid").inc()
        raise invalid_problem(exc) from None
    try:
        plan = timed_solve(problem, time_limit=time_limit, zone=zone, slots=slots)
    except RoutingInputError as exc:  # counted by timed_solve
        raise invalid_problem(exc) from None
    return plan_answer(problem, plan, zone=zone)


def plan_station(
    engine: Engine,
    facility: str,
    options: PlanOptions,
    *,
    now: datetime,
    zone: ZoneInfo,
    requested_by: str,
    slots: SolveSlots | None = None,
) -> dict[str, Any]:
    """Read, solve (outside any transaction: it takes seconds), store; the stored plan."""
    with engine.connect() as conn:
        day = read_day(conn, facility, options, now=now, zone=zone)
    try:
        plan = timed_solve(day.problem, time_limit=options.time_limit, zone=zone, slots=slots)
    except RoutingInputError as exc:
        raise invalid_problem(exc, "the station's day cannot be planned") from None
    with write_transaction(engine) as conn:
        plan_id = store_plan(conn, day, plan, now=now, requested_by=requested_by)
        return plan_record(conn, plan_id, zone=zone)
