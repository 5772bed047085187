"""``tracker routes``: solve a problem from a file, or plan a station's day (commands).

``optimize`` needs no database: it reads the JSON the API's
``POST /api/v1/routes/optimize`` takes (and that ``route_plans.problem``
stores, so a stored plan can be solved again), validates it with the same
model (:class:`tracker.routing.schemas.ProblemIn`, without the API's size
bounds) and prints the plan. ``plan`` does what
``POST /api/v1/facilities/{code}/routes`` does and prints the stored plan.
Both run :mod:`tracker.routing.service`, as the blueprint does; settings,
engine and error printing come from :mod:`tracker.core.commandline`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import click

from tracker.core import commandline
from tracker.core.errors import TrackerError


def _clock(value: str | None) -> time | None:
    if value is None:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a time such as 08:00") from None


@click.group()
def routes() -> None:
    """Route optimisation."""


@routes.command("optimize")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), help="seconds [default: 10]")
def optimize(path: Path, time_limit: float | None) -> None:
    """Solve the routing problem in PATH (JSON) and print the plan."""
    from tracker.routing import service

    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise click.ClickException(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: expected a JSON object")
    # The API's body carries its time limit; a stored problem does not.
    seconds = time_limit or data.pop("time_limit_s", None) or 10.0
    try:
        answer = service.optimize(
            service.read_problem(data),
            time_limit=timedelta(seconds=seconds),
            zone=commandline.settings().timezone,
        )
    except TrackerError as exc:
        raise commandline.fail(exc) from None
    commandline.echo_json(answer)


@routes.command("plan")
@click.option("--facility", required=True, help="the station's code")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), help="local day [default: today]")
@click.option("--shift-start", default="08:00", show_default=True, help="local time")
@click.option("--shift-end", default="20:00", show_default=True, help="local time")
@click.option("--capacity-parcels", default=120, show_default=True, type=click.IntRange(min=1))
@click.option("--capacity-kg", default=300.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option("--time-limit", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
def plan(
    facility: str,
    day: datetime | None,
    shift_start: str,
    shift_end: str,
    capacity_parcels: int,
    capacity_kg: float,
    time_limit: float,
) -> None:
    """Plan the station's day, store it, put the ETAs on its parcels; print the plan."""
    from tracker.routing import service
    from tracker.routing.planning import PlanOptions

    settings = commandline.settings()
    now = datetime.now(UTC)
    start, end = _clock(shift_start), _clock(shift_end)
    assert start is not None and end is not None
    if end <= start:
        raise click.BadParameter("must be after --shift-start", param_hint="--shift-end")
    options = PlanOptions(
        day=day.date() if day else now.astimezone(settings.timezone).date(),
        shift_start=start,
        shift_end=end,
        capacity_parcels=capacity_parcels,
        capacity_kg=capacity_kg,
        time_limit=timedelta(seconds=time_limit),
    )
    try:
        with commandline.engine(settings) as engine:
            answer = service.plan_station(
                engine, facility, options, now=now, zone=settings.timezone, requested_by="cli"
            )
    except TrackerError as exc:
        raise commandline.fail(exc) from None
    commandline.echo_json(answer)
