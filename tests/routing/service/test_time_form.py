"""One time form (issue 11, finding 11): every time in every answer and every reason in local ISO 8601.

A representative workload (register parcels, post their journeys, plan the
station's day, read a courier's route, optimize, sweep, list and read cases,
read a parcel, scorecards, hotspots, the public page) must answer every
timestamp as ISO 8601 with the configured zone's offset (``+08:00`` by
default): never UTC, never ``Z``, never an abbreviation such as ``CST``,
also inside case reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import FakeClock, Personas
from tests.helpers import at, scan
from tests.routing.service.conftest import MORNING, STATION, Yard, problem
from tracker.core.timefmt import iso_local
from tracker.sweep.detectors import DETECTORS
from tracker.sweep.run import sweep
from tracker.web.runtime import Runtime

SH = ZoneInfo("Asia/Shanghai")
#: A timestamp anywhere in a string, with whatever follows it.
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?P<zone>\S*)")


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}.{i}")
    elif isinstance(value, str):
        yield path, value


def off_form(answers: dict[str, Any]) -> list[str]:
    """Every time in ``answers`` not in the one form, with where it was."""
    bad = []
    for name, answer in answers.items():
        for path, text in _strings(answer):
            for found in _STAMP.finditer(text):
                stamp = found.group(0).rstrip(",;)")
                try:
                    datetime.fromisoformat(stamp)
                except ValueError:
                    bad.append(f"{name}{path}: {stamp!r} (not ISO 8601) in {text!r}")
                    continue
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00", stamp):
                    bad.append(f"{name}{path}: {stamp!r} in {text!r}")
            if "CST" in text or " UTC" in text:
                bad.append(f"{name}{path}: a zone abbreviation in {text!r}")
    return bad


def _ok(response: Any) -> Any:
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


def test_every_answer_of_a_workload_speaks_local_iso_8601(
    yard: Yard, personas: Personas, clock: FakeClock, app: Any
) -> None:
    answers: dict[str, Any] = {}
    yard.bring("TRKTIME001", 2.0, 1.0)
    yard.bring("TRKTIME002", 1.0, -1.0)
    answers["scans"] = _ok(
        personas.courier.post(
            "/api/v1/scans",
            json={
                "events": [
                    scan(
                        "TRKTIME002-6",
                        "TRKTIME002",
                        "out_for_delivery",
                        at(MORNING, 230),
                        facility=STATION,
                        courier_id="C-SH011",
                    ),
                    # Damage found on the van: detection opens a damage case whose
                    # reasons carry times (stored UTC, answered local).
                    scan(
                        "TRKTIME002-7",
                        "TRKTIME002",
                        "damaged",
                        at(MORNING, 240),
                        facility=STATION,
                        courier_id="C-SH011",
                        damage={"severity": "minor", "description": "crushed corner"},
                    ),
                ]
            },
        )
    )
    answers["plan"] = yard.plan()
    answers["route"] = _ok(personas.courier.get("/api/v1/couriers/C-SH011/route"))
    answers["optimize"] = _ok(
        personas.ops.post("/api/v1/routes/optimize", json={**problem(), "time_limit_s": 1})
    )

    clock.advance(days=3)  # the parcels go stale and miss their promise: the sweep opens cases
    rt: Runtime = app.extensions["tracker"]
    sweep(rt.engine, now=clock(), policy=rt.ingest, zone=SH, detectors=DETECTORS)
    listed = _ok(personas.ops.get("/api/v1/cases"))
    answers["cases"] = listed
    assert listed["cases"], "the workload should open cases"
    assert "damage" in {c["type"] for c in listed["cases"]}, "a detection case, whose reasons carry times"
    for case in listed["cases"]:
        answers[f"case {case['case_id']}"] = _ok(personas.ops.get(f"/api/v1/cases/{case['case_id']}"))
    answers["parcel"] = _ok(personas.ops.get("/api/v1/parcels/TRKTIME001"))
    period = {"since": at(clock(), -7 * 24 * 60), "until": at(clock(), 1)}
    answers["courier card"] = _ok(personas.ops.get("/api/v1/couriers/C-SH011/scorecard", query_string=period))
    answers["station card"] = _ok(
        personas.ops.get(f"/api/v1/facilities/{STATION}/scorecard", query_string=period)
    )
    answers["hotspots"] = _ok(personas.ops.get("/api/v1/hotspots/damage", query_string=period))
    answers["public"] = _ok(personas.anonymous.get("/api/v1/track/TRKTIME001"))

    seen = sum(1 for answer in answers.values() for _, text in _strings(answer) if _STAMP.search(text))
    assert seen > 20, "the walk should see the workload's times"
    assert off_form(answers) == []


def test_a_sweep_reason_shows_the_offset_and_no_abbreviation(
    yard: Yard, personas: Personas, clock: FakeClock, app: Any
) -> None:
    yard.bring("TRKTIME003")
    clock.advance(days=3)
    rt: Runtime = app.extensions["tracker"]
    sweep(rt.engine, now=clock(), policy=rt.ingest, zone=SH)

    cases = _ok(personas.ops.get("/api/v1/cases", query_string={"tracking_number": "TRKTIME003"}))["cases"]
    details = [r["detail"] for c in cases for r in c["reasons"]]
    assert any("+08:00" in d for d in details), details
    assert not any("CST" in d for d in details), details


def test_iso_local_is_seconds_with_the_offset_never_z() -> None:
    moment = datetime(2026, 12, 1, 1, 51, 0, 123456, tzinfo=UTC)
    assert iso_local(moment, SH) == "2026-12-01T09:51:00+08:00"
    assert iso_local(moment, UTC) == "2026-12-01T01:51:00+00:00"
    assert iso_local(moment.replace(tzinfo=None), SH) == "2026-12-01T09:51:00+08:00"
    assert iso_local(moment + timedelta(hours=15), SH).startswith("2026-12-02T")
