"""Verdicts change with late evidence: the next sweep opens, updates or keeps the case."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from sqlalchemy import select

from tests.detection.db.conftest import HOME, World, moved
from tracker.cases import store as cases
from tracker.core.db import write_transaction
from tracker.core.models import Parcel
from tracker.detection.evaluate import evaluate_parcels
from tracker.sweep.run import sweep
from tracker.tracking.feedback import report_not_received
from tracker.tracking.store import read_parcel


def run_sweep(world: World, app: Any) -> None:
    rt = app.extensions["tracker"]
    sweep(
        world.engine,
        now=world.clock(),
        policy=rt.ingest,
        zone=rt.settings.timezone,
        detectors=[evaluate_parcels],
    )


def not_received(world: World, tn: str) -> None:
    with write_transaction(world.engine) as conn:
        report_not_received(conn, read_parcel(conn, tn), now=world.clock())


def test_it_opens_the_case_on_the_next_sweep_after_a_later_scan_shows_the_parcel_in_the_network(
    world: World, app: Any
) -> None:
    world.register("TRKLATE001")
    world.post(
        *world.to_the_station("TRKLATE001"), world.delivered("TRKLATE001", 2, point=moved(HOME, north=600))
    )
    run_sweep(world, app)
    assert world.cases("TRKLATE001", "suspected_fake_delivery") == []

    world.later(hours=1)
    world.post(world.scan("TRKLATE001", "arrived", 0.5, facility="ST-SH-01"))
    run_sweep(world, app)

    assert world.codes("TRKLATE001") == {"gps_off_address", "scanned_after_delivery"}


def test_it_opens_the_case_when_a_not_received_report_tips_the_score(world: World, app: Any) -> None:
    world.register("TRKNRLATE1")
    world.post(
        *world.to_the_station("TRKNRLATE1"), world.delivered("TRKNRLATE1", 2, point=moved(HOME, north=600))
    )
    run_sweep(world, app)
    assert world.cases("TRKNRLATE1", "suspected_fake_delivery") == []

    world.later(hours=20)
    not_received(world, "TRKNRLATE1")
    world.evaluate("TRKNRLATE1")

    assert world.codes("TRKNRLATE1") == {"gps_off_address", "customer_not_received"}


def test_it_keeps_a_case_whose_score_falls_below_the_threshold_and_says_why(world: World) -> None:
    world.register("TRKDROP001")
    world.post(
        *world.to_the_station("TRKDROP001", ofd=False), world.delivered("TRKDROP001", point=None, pod=None)
    )
    world.evaluate("TRKDROP001")
    (opened,) = world.cases("TRKDROP001")

    # The out_for_delivery scan was only late: the evidence now weighs 0.6.
    world.later(minutes=30)
    world.post(world.scan("TRKDROP001", "out_for_delivery", 3, facility="ST-SH-01", courier_id="C-SH011"))
    world.evaluate("TRKDROP001")

    (case,) = world.cases("TRKDROP001")
    assert case.id == opened.id and case.state == "open" and case.score == 0.6
    assert world.codes("TRKDROP001") == {"no_proof_of_delivery", "no_gps_fix", "score_below_threshold"}
    with world.engine.connect() as conn:
        assert [s["action"] for s in cases.history(conn, case.id, zone=UTC)] == ["opened", "updated"]


def test_it_does_not_open_a_false_alarm_again_on_the_same_evidence_but_does_on_new_evidence(
    world: World,
) -> None:
    world.register("TRKFALSE01")
    world.post(
        *world.to_the_station("TRKFALSE01"), world.delivered("TRKFALSE01", point=moved(HOME, north=3000))
    )
    world.evaluate("TRKFALSE01")
    (case,) = world.cases("TRKFALSE01")
    with write_transaction(world.engine) as conn:
        cases.resolve(conn, case.id, "false_alarm", now=world.clock(), actor="ops:1", note="geocode off")

    world.later(hours=1)
    world.evaluate("TRKFALSE01")
    assert [c.state for c in world.cases("TRKFALSE01")] == ["resolved"]

    world.later(hours=20)
    not_received(world, "TRKFALSE01")
    world.evaluate("TRKFALSE01")
    assert [c.state for c in world.cases("TRKFALSE01", "suspected_fake_delivery")] == ["resolved", "open"]


def test_it_looks_again_at_earlier_handovers_when_the_rest_of_a_bulk_round_arrives_later(
    world: World, app: Any
) -> None:
    offsets = [(0, 0), (900, 0), (0, 1000), (-800, -700), (1300, 1100), (0, -1600)]
    tns = [world.register(f"TRKROUND{i:02d}", home=moved(HOME, *o)) for i, o in enumerate(offsets)]
    spot = moved(HOME, north=-650)

    start = world.clock()

    def signed(i: int) -> list[dict[str, Any]]:
        tn, late = tns[i], (world.clock() - start).total_seconds() / 3600
        point = moved(spot, east=3 * i)
        return [*world.to_the_station(tn), world.delivered(tn, 2 + late - i / 60, point=point, pod=None)]

    # The phone syncs the first three handovers, the sweep judges them; the rest come later.
    world.post(*signed(0), *signed(1), *signed(2))
    run_sweep(world, app)
    assert not any("bulk_signing" in world.codes(tn) for tn in tns[:3])

    world.later(minutes=10)
    world.post(*signed(3), *signed(4), *signed(5))
    run_sweep(world, app)  # judges the new three, and marks the first three due
    run_sweep(world, app)  # second looks

    assert all("bulk_signing" in world.codes(tn) for tn in tns)
    with world.engine.connect() as conn:
        due = conn.scalars(select(Parcel.next_check_at).where(Parcel.tracking_number.in_(tns))).all()
    assert all(at is None or at > world.clock() for at in due)
