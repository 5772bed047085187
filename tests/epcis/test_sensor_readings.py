"""Sensor-only EPCIS events (no scan type) still reach the cold-chain detector."""

from __future__ import annotations

from typing import Any

from tests.epcis.test_parcels import SORTING, TN, _capture, _setup
from tracker.sweep.detectors import DETECTORS
from tracker.sweep.run import sweep

DEVICE = "urn:epc:id:giai:4000001.111"
#: bizStep sensor_reporting maps to no scan type: the event derives readings only.
LOGGER_DUMP = {
    "type": "ObjectEvent",
    "eventID": "urn:uuid:00000000-0000-4000-8000-000000000201",
    "eventTime": "2026-11-20T11:40:00+08:00",
    "eventTimeZoneOffset": "+08:00",
    "epcList": ["urn:epc:id:sscc:4012345.0111111111"],
    "action": "OBSERVE",
    "bizStep": "sensor_reporting",
    "readPoint": {"id": SORTING},
    "bizLocation": {"id": SORTING},
    "sensorElementList": [
        {
            "sensorMetadata": {"time": "2026-11-20T10:00:00+08:00", "deviceID": DEVICE},
            "sensorReport": [{"type": "gs1:Temperature", "uom": "CEL", "value": 3.5}],
        },
        {
            # A span whose maximum is in range but whose minimum froze the goods.
            "sensorMetadata": {
                "startTime": "2026-11-20T10:00:00+08:00",
                "endTime": "2026-11-20T11:00:00+08:00",
                "deviceID": DEVICE,
            },
            "sensorReport": [{"type": "gs1:Temperature", "uom": "CEL", "minValue": -2.5, "maxValue": 3.0}],
        },
    ],
}


def _sweep(app: Any, clock: Any) -> dict[str, Any]:
    rt = app.extensions["tracker"]
    report = sweep(rt.engine, now=clock(), policy=rt.ingest, zone=rt.settings.timezone, detectors=DETECTORS)
    return report.to_dict()


def test_a_sensor_only_excursion_opens_a_cold_chain_case(personas: Any, app: Any, clock: Any) -> None:
    _setup(personas)  # perishable, 0 to 4 °C
    _sweep(app, clock)  # the registration judged: the parcel is not due again for a while

    (entry,) = _capture(personas.admin, LOGGER_DUMP)["events"]
    assert entry["parcels"] == [TN] and entry["readings"] == 2 and "no scan type" in entry["no_scan"]

    assert _sweep(app, clock)["examined"] == 1  # the reading made the parcel due
    parcel = personas.ops.get(f"/api/v1/parcels/{TN}").json
    assert parcel["events"] == []
    (case,) = parcel["cases"]
    assert (case["type"], case["state"]) == ("temperature_excursion", "open")
    details = [r["detail"] for r in case["reasons"]]
    assert details[0].startswith(
        "declared 0 to 4 °C; 1 of 2 readings outside it, the worst -2.5 °C at SC-SH-01"
    )
    (reading,) = details[1:]
    assert "-2.5 °C at SC-SH-01" in reading and "2.5 °C below the range" in reading
    assert f"device {DEVICE}" in reading and LOGGER_DUMP["eventID"] in reading
    assert "2026-11-20T11:00" in reading  # the end of the span it reports


def test_a_declared_erroneous_sensor_event_opens_no_case(personas: Any, app: Any, clock: Any) -> None:
    _setup(personas)
    declared = {
        **LOGGER_DUMP,
        "errorDeclaration": {"declarationTime": "2026-11-20T11:50:00+08:00", "reason": "incorrect_data"},
    }
    _capture(personas.admin, LOGGER_DUMP, declared)

    _sweep(app, clock)

    assert personas.ops.get(f"/api/v1/parcels/{TN}").json["cases"] == []
