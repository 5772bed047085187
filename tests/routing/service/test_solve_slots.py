"""Solves run off the request threads, in a few slots (tracker.routing.slots; issue 12).

OR-Tools holds the GIL while it searches: a solve on a request thread froze
its worker's other threads (a scan waited 18 s behind eight optimize calls),
and under contention solvable problems answered 500. With solving slots, the
solve runs in a child process, a request that finds no free slot is told
503 ``solver_busy`` with ``Retry-After``, and scans are answered meanwhile.
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from tests.conftest import T0, Personas
from tests.helpers import at, registration, scan
from tests.live import LiveServer
from tests.routing.service.conftest import problem
from tracker.core.db import write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.routing.slots import SolveSlots
from tracker.scans.directory import load_network
from tracker.settings import Settings
from tracker.sim.simulator import build_network

URL = "/api/v1/routes/optimize"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.but(solve_slots=1)


def big_problem(stops: int, seconds: float, seed: int = 7) -> dict[str, Any]:
    """``stops`` doors within ~5 km of the station, for four couriers: a solve that uses its time."""
    rng = random.Random(seed)
    body = problem(time_limit_s=seconds)
    body["vehicles"] = [
        {**body["vehicles"][0], "vehicle_id": f"V{i}", "capacity_parcels": 200} for i in range(4)
    ]
    body["stops"] = [
        {
            "stop_id": f"S{i}",
            "location": {
                "lat": 31.2304 + rng.uniform(-0.045, 0.045),
                "lon": 121.4737 + rng.uniform(-0.05, 0.05),
            },
        }
        for i in range(stops)
    ]
    return body


def _slots(app: Any) -> SolveSlots:
    return app.extensions["tracker.solve_slots"]  # type: ignore[no-any-return]


def test_a_solve_runs_in_a_child_process_and_answers_the_plan(personas: Personas, app: Any) -> None:
    answer = personas.ops.post(URL, json=problem())

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["totals"]["served"] == 3
    children = _slots(app).children()
    assert children and os.getpid() not in children


def test_with_every_slot_busy_a_solve_is_told_to_retry_and_a_scan_is_served(
    personas: Personas, app: Any
) -> None:
    assert personas.merchant.post("/api/v1/parcels", json=registration("TRKSLOT001")).status_code == 201
    first: dict[str, Any] = {}

    def solve() -> None:
        try:
            client = app.test_client()
            auth = {"Authorization": f"Bearer {personas.ops.key}"}
            first["answer"] = client.post(URL, json=big_problem(150, 4), headers=auth)
        except BaseException as exc:  # shown by the assertions below, not lost in the thread
            first["error"] = exc

    runner = threading.Thread(target=solve)
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while app.extensions.get("tracker.solve_slots") is None or _slots(app).in_use == 0:
            assert not first, first
            assert time.monotonic() < deadline, "the first solve never took its slot"
            time.sleep(0.02)

        busy = personas.ops.post(URL, json=problem())
        served = personas.courier.post(
            "/api/v1/scans", json=scan("SLOT-1", "TRKSLOT001", "picked_up", at(T0, -5), courier_id="C-SH011")
        )
        still_solving = runner.is_alive()
    finally:
        runner.join()

    assert still_solving, "the first solve should still be running: make it bigger"
    assert busy.status_code == 503, busy.get_json()
    assert busy.get_json()["error"]["code"] == "solver_busy"
    assert int(busy.headers["Retry-After"]) > 0
    assert served.status_code == 201, served.get_json()
    assert first["answer"].status_code == 200, first["answer"].get_json()
    assert personas.ops.post(URL, json=problem()).status_code == 200  # the slot is free again


def test_settings_keep_a_thread_free_for_scans() -> None:
    from tracker.settings import SettingsError

    with pytest.raises(SettingsError, match="TRACKER_SOLVE_SLOTS"):
        Settings.from_env({"TRACKER_THREADS": "2", "TRACKER_SOLVE_SLOTS": "2"})
    assert Settings.from_env({}).solve_slots == 1


# --- the real server ---------------------------------------------------------------------------------


@pytest.fixture
def server(database_url: str, engine: Engine, tmp_path: Path) -> Iterator[tuple[LiveServer, str, str]]:
    network = build_network()
    with write_transaction(engine) as conn:
        load_network(conn, network.facilities, network.couriers)
        ops = create_key(conn, Role.OPS, now=T0)
        admin = create_key(conn, Role.ADMIN, now=T0)
    # The shipped defaults: 2 workers, 4 threads, 1 solving slot each.
    live = LiveServer(database_url, tmp_path / "instance", TRACKER_WORKERS="2", TRACKER_THREADS=None)
    yield live, ops, admin
    live.stop()


@pytest.mark.slow
@pytest.mark.committing
def test_eight_concurrent_solves_never_fail_and_never_hold_up_scans(
    server: tuple[LiveServer, str, str],
) -> None:
    live, ops, admin = server
    solves: list[requests.Response] = []
    ended: list[float] = []

    def solve() -> None:
        answer = requests.post(
            live.url + URL, json=big_problem(300, 6), headers={"Authorization": f"Bearer {ops}"}, timeout=60
        )
        solves.append(answer)
        ended.append(time.monotonic())

    runners = [threading.Thread(target=solve) for _ in range(8)]
    for runner in runners:
        runner.start()
    time.sleep(1.0)  # the solves are in
    latencies = []
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {admin}"
    for i in range(20):
        started = time.monotonic()
        answer = session.post(
            live.url + "/api/v1/scans",
            json=scan(f"SLOTLIVE-{i}", f"TRKSLOTLIVE{i:03d}", "created", at(T0, -60), facility="WH-SH-01"),
            timeout=30,
        )
        latencies.append(time.monotonic() - started)
        assert answer.status_code == 201, answer.text
    scans_done = time.monotonic()
    for runner in runners:
        runner.join()

    statuses = sorted(a.status_code for a in solves)
    print(
        f"\n8 concurrent solves: statuses {statuses}; 20 scans meanwhile: median "
        f"{statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    assert set(statuses) <= {200, 503}, [a.text for a in solves if a.status_code not in (200, 503)]
    assert statuses.count(200) >= 1
    for refused in (a for a in solves if a.status_code == 503):
        assert refused.json()["error"]["code"] == "solver_busy" and "Retry-After" in refused.headers
    assert scans_done < max(ended), "the scans were answered while solves still ran"


def test_a_problem_refused_inside_the_solving_process_is_still_a_422(personas: Personas, app: Any) -> None:
    # The shift cannot even drive from the courier's home to the station: the
    # solver itself refuses it, in the child process, and its error (fields
    # and all) must come back as the client's 422, not as "the solver process died".
    body = problem()
    far = {"lat": 32.2304, "lon": 121.4737}  # 110 km north of the station
    body["vehicles"] = [
        {**body["vehicles"][0], "start": far, "shift_end": "2026-11-21T08:05:00+08:00"},
        *body["vehicles"][1:],
    ]

    answer = personas.ops.post(URL, json=body)

    assert answer.status_code == 422, answer.get_json()
    assert [f["field"] for f in answer.get_json()["error"]["fields"]] == ["vehicles.0.shift_end"]
    assert _slots(app).children(), "solved in a child process"


def test_a_tracker_error_survives_the_trip_between_processes() -> None:
    import pickle

    from tracker.core.errors import FieldError
    from tracker.routing.errors import RoutingInputError

    error = RoutingInputError([FieldError("vehicles[0].shift_end", "too short")])
    back = pickle.loads(pickle.dumps(error))

    assert type(back) is RoutingInputError and back.status == 422
    assert back.fields == error.fields and back.message == error.message
