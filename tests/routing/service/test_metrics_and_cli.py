"""Route solves in /metrics, and the ``tracker routes`` commands."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.conftest import Personas
from tests.routing.service.conftest import STATION, Yard, planned, problem
from tracker.cli import main
from tracker.core.models import StationPlan


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in an exposition, 0 when absent."""
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_it_exports_solves_and_the_last_plans_distance(yard: Yard, personas: Personas) -> None:
    yard.bring("TRKR000081", 1.5)
    before = personas.anonymous.get("/metrics").get_data(as_text=True)
    assert "tracker_route_objective_meters" not in before

    plan = yard.plan()
    heavy = {**problem()["stops"][0], "weight_kg": 1000}  # fits no 60 kg vehicle: means nothing
    bad = problem(stops=[heavy])
    assert personas.ops.post("/api/v1/routes/optimize", json=bad).status_code == 422

    after = personas.anonymous.get("/metrics").get_data(as_text=True)
    for result in ("ok", "invalid"):
        counted = sample(after, "tracker_route_solves_total", result=result)
        assert counted == sample(before, "tracker_route_solves_total", result=result) + 1
    assert (
        sample(after, "tracker_route_solve_seconds_count")
        == sample(before, "tracker_route_solve_seconds_count") + 1
    )
    assert sample(after, "tracker_route_objective_meters") == plan["totals"]["distance_m"] > 0


def test_it_prints_the_plan_of_a_problem_file(tmp_path: Path) -> None:
    path = tmp_path / "problem.json"
    path.write_text(json.dumps(problem()))

    result = CliRunner().invoke(main, ["routes", "optimize", str(path)])

    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert sorted(s["stop_id"] for r in plan["routes"] for s in r["stops"]) == ["A", "B", "C"]
    body = problem()
    body["stops"][0]["location"]["lat"] = 95
    path.write_text(json.dumps(body))
    refused = CliRunner().invoke(main, ["routes", "optimize", str(path)])
    assert (
        refused.exit_code == 1
        and "stops.0.location.lat: Input should be less than or equal to 90" in refused.output
    )


@pytest.mark.committing  # the command opens its own engine: it must see the yard's commits
def test_it_plans_a_station_from_the_command_line(
    yard: Yard, database_url: str, tmp_path: Path, engine: Any
) -> None:
    yard.bring("TRKR000091", 1.0)
    # The command reads the real clock: plan tomorrow's shift, which has not started whatever the hour.
    tomorrow = (datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)).date()
    env = {
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_INSTANCE_PATH": str(tmp_path),
        "TRACKER_LOG_LEVEL": "WARNING",
    }

    result = CliRunner().invoke(
        main,
        ["routes", "plan", "--facility", STATION, "--date", tomorrow.isoformat(), "--time-limit", "1"],
        env=env,
    )

    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert list(planned(plan)) == ["TRKR000091"] and plan["date"] == tomorrow.isoformat()
    with engine.connect() as conn:
        stored = conn.execute(select(StationPlan).where(StationPlan.id == plan["plan_id"])).one()
    assert stored.requested_by == "cli"
    # The stored problem solves again as it is, from a file.
    path = tmp_path / "stored.json"
    path.write_text(json.dumps(stored.problem))
    again = CliRunner().invoke(main, ["routes", "optimize", str(path), "--time-limit", "1"])
    assert again.exit_code == 0, again.output
    assert [s["stop_id"] for r in json.loads(again.output)["routes"] for s in r["stops"]] == ["TRKR000091"]
