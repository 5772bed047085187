"""The rules of a delivery station's day, and what a customer is told (pure).

Plain data in, plain data out, ``now`` passed in; no database, no Flask. The
layers of route planning::

    views.py, commands.py   HTTP and ``tracker routes``: own the connections and transactions
      └─ service.py         the sequences both run: read, solve (timed, counted), store
           ├─ store.py      SQL on a Connection it is given: due parcels, plans, routes
           ├─ schemas.py    the wire format (pydantic), building the engine's dataclasses
           └─ planning.py   this module: the day's problem, ETA windows, answers
                └─ the engine: model, plan, solver, matrix, checker, errors

:func:`build_day` lays a station's day out for the solver: the station is the
depot, each courier a vehicle for the shift (:func:`shift_bounds`) with the
day's capacities, each parcel due out (a :class:`Candidate`, read by
:func:`tracker.routing.store.due_parcels`) a stop at its destination with its
weight, its customer tier (vip is the last to be left out) and a window
(:func:`stop_window`): the customer's appointment, else ``[open,
promised_by]``. Parcels no vehicle can take (no coordinates, heavier than a
vehicle carries) are left out here, with a reason like the solver's, so that
one odd parcel cannot fail the station's plan; so is a parcel the customer
asked to collect at a pickup point after a failed attempt
(``held_at_pickup_point``: it goes there with the station's run to its points). A parcel whose appointment
starts after the shift ends is left for its day.

The ETA window a customer sees (:func:`eta_window`) is the planned start of
service (after any wait for the appointment to open) from :data:`ETA_BEFORE`
before to :data:`ETA_AFTER` after, but never opening before the courier leaves
the station or before the appointment opens, widened to quarter hours (at
most 2 hours: :func:`tracker.sla.eta_shown.route_window`).
:func:`plan_answer` is the one place a solved plan becomes the API's answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

from tracker.core.errors import FieldError, ValidationFailed
from tracker.core.inputs import PLAN_HORIZON
from tracker.core.timefmt import iso_local
from tracker.routing.errors import RoutingInputError
from tracker.routing.model import Depot, Location, RoutingProblem, Stop, TimeWindow, Vehicle
from tracker.routing.plan import RoutePlan
from tracker.sla.eta_shown import ROUTE_AFTER, ROUTE_BEFORE, route_window

#: The customer's ETA window around the planned start of service, before it is
#: widened to quarter hours (so at most 2 hours). Wider after than before: a
#: courier is held up (traffic, a slow handover) more often than ahead of plan,
#: and is never early for an appointment (he waits).
ETA_BEFORE = ROUTE_BEFORE
ETA_AFTER = ROUTE_AFTER


@dataclass(frozen=True)
class PlanOptions:
    """How a station's day is planned; every courier gets the same shift and capacities."""

    day: date
    shift_start: clock_time = clock_time(8, 0)
    shift_end: clock_time = clock_time(20, 0)
    capacity_parcels: int = 120
    capacity_kg: float = 300.0
    service_time: timedelta = timedelta(minutes=3)
    time_limit: timedelta = timedelta(seconds=10)
    #: Parcels already out for delivery stay with the courier carrying them.
    keep_loaded: bool = True


@dataclass(frozen=True)
class Candidate:
    """A parcel due out of the station, with what a stop needs to know."""

    parcel_id: int
    tracking_number: str
    lat: float | None
    lon: float | None
    weight_kg: float
    tier: str
    appointment_start: datetime | None
    appointment_end: datetime | None
    promised_by: datetime | None
    #: The parcel shows an ETA from an earlier plan (to be withdrawn if left out now).
    route_eta: bool
    #: The courier it is out for delivery with, if any: a re-plan keeps it on that van.
    carried_by: str | None = None
    #: After a failed attempt, the pickup point the customer asked to collect it at: no doorstep stop.
    hold_at: str | None = None


@dataclass(frozen=True)
class StationDay:
    """A station's day laid out for the solver, and what was left out before it."""

    facility: str
    day: date
    problem: RoutingProblem
    #: Every parcel in the plan, by tracking number (the stop id).
    parcels: Mapping[str, Candidate]
    #: (tracking number, reason, detail) of parcels no vehicle can take.
    left_out: tuple[tuple[str, str, str], ...]


def eta_window(
    service_start: datetime,
    *,
    leaves: datetime,
    opens: datetime | None = None,
    closes: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The window a customer is shown for a planned start of service.

    :func:`tracker.sla.eta_shown.route_window`: from :data:`ETA_BEFORE` before
    to :data:`ETA_AFTER` after, on quarter hours, at most 2 hours wide, opening
    no earlier than the courier ``leaves`` the station nor than the
    appointment ``opens`` (an early courier waits for it), and ending when the
    stop's window ``closes`` if service is planned by then.
    """
    return route_window(service_start, leaves=leaves, opens=opens, closes=closes)


def _minute(at: datetime, rounding: Callable[[float], int]) -> datetime:
    return datetime.fromtimestamp(rounding(at.timestamp() / 60) * 60, UTC)


def _dotted(path: str) -> str:
    # The routing engine writes ``stops[3].window.end``; the API's fields are
    # ``stops.3.window.end``, as pydantic's are.
    return re.sub(r"\[(\d+)\]", r".\1", path) or "body"


def invalid_problem(
    exc: RoutingInputError, message: str = "the routing problem is not valid"
) -> ValidationFailed:
    """A :class:`RoutingInputError` in the API's error shape (a 422)."""
    return ValidationFailed(message, [FieldError(_dotted(f.field), f.message) for f in exc.fields])


def plan_answer(problem: RoutingProblem, plan: RoutePlan, *, zone: tzinfo) -> dict[str, Any]:
    """``plan.to_dict(zone)`` with each planned stop's ETA window: the answer to a solve."""
    windows = {s.id: s.window for s in problem.stops}
    answer = plan.to_dict(zone)
    for route, planned in zip(answer["routes"], plan.routes):
        for stop, p in zip(route["stops"], planned.stops):
            window = windows[p.stop_id]
            start, end = eta_window(
                p.service_start, leaves=planned.start, opens=window.start, closes=window.end
            )
            stop["eta"] = {"start": iso_local(start, zone), "end": iso_local(end, zone)}
    return answer


def shift_bounds(options: PlanOptions, *, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The shift in UTC; planned during the shift, the couriers leave from now on.

    The day is today or at most a year (:data:`tracker.core.inputs.PLAN_HORIZON`)
    ahead: a plan far ahead would put its ETAs on parcels due today.
    """
    today = now.astimezone(zone).date()
    if options.day < today:
        raise ValidationFailed(
            "cannot plan a day that has passed",
            [FieldError("date", f"{options.day} is before today, {today}")],
        )
    if options.day > today + PLAN_HORIZON:
        raise ValidationFailed(
            "cannot plan a day more than a year ahead",
            [FieldError("date", f"{options.day} is after {today + PLAN_HORIZON}, a year from today")],
        )
    start = datetime.combine(options.day, options.shift_start, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(options.day, options.shift_end, tzinfo=zone).astimezone(UTC)
    if start < now:
        # Routes that left in the past would give ETAs the sweep discards at once.
        start = _minute(now, math.ceil)
    if end <= start:
        raise ValidationFailed(
            "the shift is over",
            [FieldError("shift.end", f"{options.shift_end:%H:%M} on {options.day} has passed")],
        )
    return start, end


def stop_window(c: Candidate, shift_start: datetime, shift_end: datetime) -> TimeWindow | None:
    """The parcel's window on this shift; ``None`` if it is not due on it.

    The appointment if there is one, else the promise as the window's end. An
    appointment that starts after the shift is for another day; one that has
    passed, or a promise that has, no longer limits anything: the parcel is
    late and still goes out.
    """
    if c.appointment_start is not None and c.appointment_end is not None:
        if c.appointment_start >= shift_end:
            return None
        if c.appointment_end > shift_start:
            return TimeWindow(c.appointment_start, c.appointment_end)
    if c.promised_by is not None and c.promised_by > shift_start:
        return TimeWindow(None, c.promised_by)
    return TimeWindow()


def build_day(
    facility: str,
    depot: Location,
    couriers: Sequence[str],
    candidates: Sequence[Candidate],
    options: PlanOptions,
    *,
    now: datetime,
    zone: ZoneInfo,
) -> StationDay:
    """The routing problem of a station's day."""
    if not couriers:
        raise ValidationFailed(
            f"no couriers are based at {facility}", [FieldError("facility", f"{facility} has no couriers")]
        )
    start, end = shift_bounds(options, now=now, zone=zone)
    vehicles = [
        Vehicle(code, options.capacity_parcels, options.capacity_kg, shift_start=start, shift_end=end)
        for code in couriers
    ]
    stops: list[Stop] = []
    parcels: dict[str, Candidate] = {}
    left_out: list[tuple[str, str, str]] = []
    for c in candidates:
        window = stop_window(c, start, end)
        if window is None:
            continue
        parcels[c.tracking_number] = c
        if c.hold_at is not None:
            left_out.append(
                (
                    c.tracking_number,
                    "held_at_pickup_point",
                    f"the customer asked to collect it at pickup point {c.hold_at}",
                )
            )
        elif c.lat is None or c.lon is None:
            left_out.append((c.tracking_number, "no_location", "the destination has no coordinates"))
        elif c.weight_kg > options.capacity_kg:
            left_out.append(
                (
                    c.tracking_number,
                    "too_heavy",
                    f"{c.weight_kg:g} kg is more than a courier carries ({options.capacity_kg:g} kg)",
                )
            )
        else:
            stops.append(
                Stop(
                    c.tracking_number,
                    Location(c.lat, c.lon),
                    weight_kg=c.weight_kg,
                    service_time=options.service_time,
                    window=window,
                    tier=c.tier,
                    vehicle=c.carried_by if options.keep_loaded and c.carried_by in couriers else None,
                )
            )
    try:
        problem = RoutingProblem(Depot(facility, depot), tuple(vehicles), tuple(stops))
    except RoutingInputError as exc:
        raise _station_error(exc, stops, vehicles) from None
    return StationDay(facility, options.day, problem, parcels, tuple(left_out))


def _station_error(
    exc: RoutingInputError, stops: Sequence[Stop], vehicles: Sequence[Vehicle]
) -> ValidationFailed:
    # The problem was built here, not sent: name parcels and couriers, not list indexes.
    def rename(path: str) -> str:
        match = re.match(r"(stops|vehicles)\[(\d+)\](.*)", path)
        if match is None:
            return _dotted(path)
        kind, index, rest = match.groups()
        name = stops[int(index)].id if kind == "stops" else vehicles[int(index)].id
        return f"{'parcels' if kind == 'stops' else 'couriers'}.{name}{rest}"

    return ValidationFailed(
        "the station's day cannot be planned",
        [FieldError(rename(f.field), f.message) for f in exc.fields],
    )
