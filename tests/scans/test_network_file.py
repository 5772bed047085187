"""``tracker network load``: the example file loads, bad files and unmigrated databases are named clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tracker.cli import main
from tracker.core.db import make_engine
from tracker.core.models import Courier, Facility

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "network.example.json"


def _run(args: list[str], env: dict[str, str]) -> Any:
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def _counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        counts = (conn.scalar(select(func.count()).select_from(Facility)),
                  conn.scalar(select(func.count()).select_from(Courier)))  # fmt: skip
    engine.dispose()
    return counts  # type: ignore[return-value]


@pytest.mark.committing  # the command opens its own engine and commits
def test_it_loads_the_example_network_twice_without_change(database_url: str, tmp_path: Path) -> None:
    env = {"TRACKER_DATABASE_URL": database_url, "TRACKER_INSTANCE_PATH": str(tmp_path)}
    example = json.loads(EXAMPLE.read_text())

    first = _run(["network", "load", str(EXAMPLE)], env)
    again = _run(["network", "load", str(EXAMPLE)], env)

    expected = (len(example["facilities"]), len(example["couriers"]))
    assert first.exit_code == 0 and again.exit_code == 0, first.output + again.output
    assert f"loaded {expected[0]} facilities and {expected[1]} couriers" in again.output
    assert _counts(database_url) == expected


def test_it_names_every_wrong_field_of_a_network_file(tmp_path: Path) -> None:
    bad = {
        "facilities": [
            {"code": "ST-1", "name": "x", "kind": "depot", "region": "CN-31", "city": "上海", "lat": 91}
        ],
        "couriers": [{"code": "C-1"}],
    }
    (tmp_path / "bad.json").write_text(json.dumps(bad))

    result = _run(["network", "load", str(tmp_path / "bad.json")], {"TRACKER_INSTANCE_PATH": str(tmp_path)})

    assert result.exit_code == 1
    for field in (
        "facilities.0.kind",
        "facilities.0.lat",
        "facilities.0.lon",
        "couriers.0.name",
        "couriers.0.station_code",
    ):
        assert field in result.output
    assert "Traceback" not in result.output


def test_it_says_to_migrate_first_instead_of_a_traceback(tmp_path: Path) -> None:
    env = {"TRACKER_INSTANCE_PATH": str(tmp_path / "fresh")}

    result = _run(["network", "load", str(EXAMPLE)], env)

    assert result.exit_code == 1
    assert "not migrated" in result.output and "tracker db upgrade" in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1


def test_it_names_a_courier_station_that_does_not_exist(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "net.json").write_text(
        json.dumps({"couriers": [{"code": "C-9", "name": "Li", "station_code": "ST-NONE"}]})
    )
    env = {"TRACKER_DATABASE_URL": database_url, "TRACKER_INSTANCE_PATH": str(tmp_path)}

    result = _run(["network", "load", str(tmp_path / "net.json")], env)

    assert result.exit_code == 1 and "station_code" in result.output
    assert _counts(database_url) == (0, 0)
