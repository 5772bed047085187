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
from tracker.core.errors import TrackerError, ValidationFailed, field_errors
from tracker.routing.errors import RoutingError, RoutingInputError
from tracker.routing.model import RoutingProblem
from tracker.routing.plan import RoutePlan
from tracker.routing.planning import PlanOptions, invalid_problem, plan_answer
from tracker.routing.schemas import ProblemIn
from tracker.routing.solver import solve
from tracker.routing.store import plan_record, read_day, store_plan

log = logging.getLogger("tracker.routes")


def timed_solve(problem: RoutingProblem, *, time_limit: timedelta, zone: tzinfo) -> RoutePlan:
    """:func:`tracker.routing.solve`, counted (ok, error, invalid) and timed in the metrics.

    Raises :class:`RoutingInputError` for a problem no plan can honour, and
    :class:`TrackerError` (500, ``routing_failed``) when the engine fails.
    """
    started = time.perf_counter()
    try:
        plan = solve(problem, time_limit=time_limit, zone=zone)
    except RoutingInputError:
        metrics.ROUTE_SOLVES.labels("invalid").inc()
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
        metrics.ROUTE_SOLVE_SECONDS.observe(time.perf_counter() - started)
    metrics.ROUTE_SOLVES.labels("ok").inc()
    return plan


def read_problem(data: Mapping[str, Any]) -> ProblemIn:
    """A problem in its JSON form (a file, a stored plan's ``problem``).

    Raises :class:`ValidationFailed` naming every bad field.
    """
    try:
        return ProblemIn.model_validate(data)
    except ValidationError as exc:
        metrics.ROUTE_SOLVES.labels("invalid").inc()
        raise ValidationFailed("the routing problem is not valid", field_errors(exc)) from None


def optimize(body: ProblemIn, *, time_limit: timedelta, zone: tzinfo) -> dict[str, Any]:
    """Solve the problem; the plan with ETA windows.

    Raises :class:`ValidationFailed` naming every bad field.
    """
    try:
        problem = body.to_problem()
    except RoutingInputError as exc:
        metrics.ROUTE_SOLVES.labels("invalid").inc()
        raise invalid_problem(exc) from None
    try:
        plan = timed_solve(problem, time_limit=time_limit, zone=zone)
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
) -> dict[str, Any]:
    """Read, solve (outside any transaction: it takes seconds), store; the stored plan."""
    with engine.connect() as conn:
        day = read_day(conn, facility, options, now=now, zone=zone)
    try:
        plan = timed_solve(day.problem, time_limit=options.time_limit, zone=zone)
    except RoutingInputError as exc:
        raise invalid_problem(exc, "the station's day cannot be planned") from None
    with write_transaction(engine) as conn:
        plan_id = store_plan(conn, day, plan, now=now, requested_by=requested_by)
        return plan_record(conn, plan_id, zone=zone)
