"""The ``tracker`` command: database, keys, network and the demo's loading."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tracker.cli import main
from tracker.core.db import make_engine
from tracker.core.models import Parcel, ScanEvent
from tracker.core.vocabulary import Role
from tracker.keys.store import authenticate


def _run(args: list[str], env: dict[str, str]) -> Any:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    return result


@pytest.mark.committing  # the command opens its own engine and commits
def test_it_upgrades_a_database_creates_a_courier_key_and_prints_it_once(
    database_url: str, tmp_path: Path
) -> None:
    env = {"TRACKER_DATABASE_URL": database_url, "TRACKER_INSTANCE_PATH": str(tmp_path)}
    assert _run(["db", "upgrade"], env).exit_code == 0
    network = {
        "facilities": [
            {
                "code": "ST-1",
                "name": "Station",
                "kind": "delivery_station",
                "region": "CN-31",
                "city": "上海",
                "lat": 31.2,
                "lon": 121.4,
            }
        ],
        "couriers": [{"code": "C-1", "name": "Li", "station_code": "ST-1"}],
    }
    (tmp_path / "net.json").write_text(json.dumps(network))
    assert "1 facilities and 1 couriers" in _run(["network", "load", str(tmp_path / "net.json")], env).output

    created = _run(["keys", "create", "--role", "courier", "--courier", "C-1"], env)

    key = created.output.strip()
    assert created.exit_code == 0 and key.startswith("trk_")
    engine = make_engine(database_url)
    with engine.connect() as conn:
        principal = authenticate(conn, f"Bearer {key}")
        assert (principal.role, principal.courier_code) == (Role.COURIER, "C-1")
        stored = conn.exec_driver_sql("SELECT key_hash FROM api_keys").scalar()
    engine.dispose()
    assert key not in stored


def test_it_refuses_a_courier_key_without_a_known_courier(database_url: str, tmp_path: Path) -> None:
    env = {"TRACKER_DATABASE_URL": database_url, "TRACKER_INSTANCE_PATH": str(tmp_path)}
    result = CliRunner().invoke(main, ["keys", "create", "--role", "courier", "--courier", "C-404"], env=env)
    assert result.exit_code != 0 and "C-404" in result.output


def test_it_loads_the_demo_day_through_the_ingest_code(tmp_path: Path) -> None:
    env = {"TRACKER_INSTANCE_PATH": str(tmp_path / "instance"), "TRACKER_LOG_LEVEL": "WARNING"}
    result = _run(["demo", "--no-serve", "--parcels", "120"], env)

    assert result.exit_code == 0, result.output
    assert "Bearer trk_" in result.output and "/docs" in result.output
    engine = make_engine(f"sqlite:///{tmp_path / 'instance' / 'demo.db'}")
    with engine.connect() as conn:
        parcels = conn.scalar(
            select(func.count()).select_from(Parcel).where(Parcel.tracking_number.not_like("DEMO%"))
        )
        samples = conn.scalar(
            select(func.count()).select_from(Parcel).where(Parcel.tracking_number.like("DEMO%"))
        )
        events = conn.scalar(select(func.count()).select_from(ScanEvent))
        statuses = set(conn.scalars(select(Parcel.status).distinct()))
    engine.dispose()
    # The simulated day, and the showcase parcels the demo adds (pickup code, failed attempt, ...).
    assert parcels == 120 and samples >= 4 and events > 300
    assert {"delivered", "in_transit"} <= statuses


def test_it_says_the_demo_ignores_a_configured_database(tmp_path: Path) -> None:
    elsewhere = tmp_path / "mine.db"
    env = {
        "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"),
        "TRACKER_DATABASE_URL": f"sqlite:///{elsewhere}",
        "TRACKER_LOG_LEVEL": "WARNING",
    }
    result = CliRunner().invoke(main, ["demo", "--no-serve", "--parcels", "20"], env=env)

    assert result.exit_code == 0, result.output
    assert "ignores TRACKER_DATABASE_URL" in result.stderr
    assert not elsewhere.exists() and (tmp_path / "instance" / "demo.db").exists()


def test_the_demo_stops_before_making_keys_when_its_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"TRACKER_INSTANCE_PATH": str(tmp_path / "instance"), "TRACKER_LOG_LEVEL": "WARNING"}
        result = CliRunner().invoke(main, ["demo", "--port", str(port), "--parcels", "20"], env=env)
    assert result.exit_code == 1
    assert f"127.0.0.1:{port} is in use" in result.output and f"--port {port + 1}" in result.output
    assert "trk_" not in result.output and not (tmp_path / "instance" / "demo.db").exists()


def test_it_creates_the_sqlite_file_readable_by_its_owner_only(tmp_path: Path) -> None:
    env = {"TRACKER_INSTANCE_PATH": str(tmp_path / "instance")}
    assert _run(["db", "upgrade"], env).exit_code == 0

    assert (tmp_path / "instance" / "tracker.db").stat().st_mode & 0o777 == 0o600
