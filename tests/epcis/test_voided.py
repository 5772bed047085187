"""A scan voided by an error declaration: ops sees it marked; no other reader counts it.

An error declaration marks the scans derived from the erroneous EPCIS event
(``scan_events.voided_at``, in the declaration's transaction). The rows stay
(append-only); the parcel record shows them with ``voided_at``; the public
timeline, detection (cold chain, damage), the damage hotspots and the
scorecards read only the scans that still count.
"""

from __future__ import annotations

from typing import Any

from tests.epcis.test_parcels import SORTING, TN, WAREHOUSE, _capture, _object_event, _setup
from tracker.sweep.detectors import DETECTORS
from tracker.sweep.run import sweep

EPC = "urn:epc:id:sscc:4012345.0111111111"
#: Leaves the origin warehouse at 9 °C: outside the parcel's 0-4 °C range.
HOT_SHIPPING = _object_event(
    "urn:uuid:00000000-0000-4000-8000-000000000101",
    "shipping",
    "2026-11-20T09:30:00+08:00",
    WAREHOUSE,
    EPC,
    value=9.0,
)
RECEIVED = _object_event(
    "urn:uuid:00000000-0000-4000-8000-000000000102",
    "receiving",
    "2026-11-20T11:00:00+08:00",
    SORTING,
    EPC,
    value=3.0,
)
DAMAGED = {
    **_object_event(
        "urn:uuid:00000000-0000-4000-8000-000000000103",
        "inspecting",
        "2026-11-20T11:10:00+08:00",
        SORTING,
        EPC,
    ),
    "disposition": "damaged",
}


def _declared(event: dict[str, Any]) -> dict[str, Any]:
    return {
        **event,
        "errorDeclaration": {"declarationTime": "2026-11-20T11:50:00+08:00", "reason": "incorrect_data"},
    }


def _declare(personas: Any, event: dict[str, Any]) -> str:
    """Declare ``event`` erroneous; the id of the one scan it voided."""
    (entry,) = _capture(personas.admin, _declared(event))["events"]
    assert entry["result"] == "declared_erroneous"
    (voided,) = entry["voided_scans"]
    return voided  # type: ignore[no-any-return]


def _sweep(app: Any, clock: Any) -> None:
    rt = app.extensions["tracker"]
    sweep(rt.engine, now=clock(), policy=rt.ingest, zone=rt.settings.timezone, detectors=DETECTORS)


def test_the_ops_record_shows_the_voided_scan_marked(personas: Any, clock: Any) -> None:
    _setup(personas)
    _capture(personas.admin, HOT_SHIPPING, RECEIVED)
    clock.advance(minutes=5)

    voided = _declare(personas, HOT_SHIPPING)

    events = personas.ops.get(f"/api/v1/parcels/{TN}").json["events"]
    assert [(e["event_id"], e["type"], e.get("voided_at")) for e in events] == [
        (voided, "outbound", "2026-11-20T12:05:00+08:00"),  # the capture's time, local
        (events[1]["event_id"], "arrived", None),
    ]


def test_the_public_timeline_leaves_the_voided_scan_out(personas: Any) -> None:
    _setup(personas)
    _capture(personas.admin, HOT_SHIPPING, RECEIVED)

    _declare(personas, HOT_SHIPPING)

    events = personas.anonymous.get(f"/api/v1/track/{TN}").json["events"]
    assert [(e["type"], e["at"]) for e in events] == [("arrived", "2026-11-20T11:00:00+08:00")]


def test_detection_does_not_judge_a_voided_scan(personas: Any, app: Any, clock: Any) -> None:
    _setup(personas)
    _capture(personas.admin, HOT_SHIPPING, RECEIVED, DAMAGED)
    _declare(personas, HOT_SHIPPING)  # its 9 °C reading goes with it
    _declare(personas, DAMAGED)

    _sweep(app, clock)

    assert personas.ops.get(f"/api/v1/parcels/{TN}").json["cases"] == []


def test_scorecards_and_hotspots_do_not_count_a_voided_scan(personas: Any) -> None:
    _setup(personas)
    _capture(personas.admin, HOT_SHIPPING, RECEIVED, DAMAGED)
    _declare(personas, HOT_SHIPPING)
    _declare(personas, DAMAGED)

    warehouse = personas.ops.get("/api/v1/facilities/WH-SH-01/scorecard").json
    sorting = personas.ops.get("/api/v1/facilities/SC-SH-01/scorecard").json
    hotspots = personas.ops.get("/api/v1/hotspots/damage").json

    assert warehouse["parcels_handled"] == 0  # its only scan of the parcel was voided
    assert sorting["parcels_handled"] == 1
    assert (sorting["damage"]["count"], sorting["damage"]["of"]) == (0, 1)
    assert hotspots["parcels"] == 1
    assert [(s["ref"], s["damaged"]) for s in hotspots["segments"] if s["kind"] == "facility"] == [
        ("SC-SH-01", 0)
    ]


def test_a_voided_scan_sent_again_is_still_a_duplicate(personas: Any) -> None:
    _setup(personas)
    _capture(personas.admin, HOT_SHIPPING, RECEIVED)
    _declare(personas, HOT_SHIPPING)

    (entry,) = _capture(personas.admin, HOT_SHIPPING)["events"]

    assert entry["result"] == "duplicate" and "scans" not in entry
    events = personas.ops.get(f"/api/v1/parcels/{TN}").json["events"]
    assert [e["type"] for e in events if e.get("voided_at") is None] == ["arrived"]
