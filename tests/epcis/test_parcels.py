"""EPCIS events that name a registered parcel move it: status, timeline, cold chain, corrections."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import registration
from tracker.sweep.detectors import DETECTORS
from tracker.sweep.run import sweep

TN = "TRKEPCIS0001"
SSCC = "040123451111111110"  # urn:epc:id:sscc:4012345.0111111111
PALLET = "urn:epc:id:sscc:4012345.0222222222"
WAREHOUSE = "urn:epc:id:sgln:4012345.00001.0"  # WH-SH-01, the parcel's origin
SORTING = "urn:epc:id:sgln:4012345.00002.0"  # SC-SH-01
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]


def _document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-11-20T11:30:00+08:00",
        "epcisBody": {"eventList": list(events)},
    }


def _object_event(
    event_id: str, step: str, at: str, where: str, epc: str, **temperature: float
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": event_id,
        "eventTime": at,
        "eventTimeZoneOffset": "+08:00",
        "epcList": [epc],
        "action": "OBSERVE",
        "bizStep": step,
        "disposition": "in_transit" if step == "shipping" else "in_progress",
        "readPoint": {"id": where},
        "bizLocation": {"id": where},
    }
    if temperature:
        event["sensorElementList"] = [
            {"sensorReport": [{"type": "gs1:Temperature", "uom": "CEL", **temperature}]}
        ]
    return event


def _capture(persona: Any, *events: dict[str, Any]) -> dict[str, Any]:
    answer = persona.post(
        "/api/v1/epcis/capture",
        data=json.dumps(_document(*events)),
        headers={"Content-Type": "application/ld+json"},
    )
    assert answer.status_code == 200, answer.json
    return answer.json  # type: ignore[no-any-return]


def _setup(personas: Any) -> None:
    body = registration(TN, sscc=SSCC, perishable={"min_c": 0, "max_c": 4})
    assert personas.merchant.post("/api/v1/parcels", json=body).status_code == 201
    for location, facility in ((WAREHOUSE, "WH-SH-01"), (SORTING, "SC-SH-01")):
        mapped = personas.admin.post(
            "/api/v1/epcis/locations", json={"location": location, "facility": facility}
        )
        assert mapped.status_code == 201


SHIPPED = _object_event(
    "urn:uuid:00000000-0000-4000-8000-000000000001",
    "shipping",
    "2026-11-20T09:30:00+08:00",
    WAREHOUSE,
    "urn:epc:id:sscc:4012345.0111111111",
    value=3.0,
)
RECEIVED = _object_event(
    "urn:uuid:00000000-0000-4000-8000-000000000002",
    "receiving",
    "2026-11-20T11:00:00+08:00",
    SORTING,
    f"https://id.gs1.org/00/{SSCC}",  # the same SSCC, as a GS1 Digital Link
    minValue=2.5,
    maxValue=9.5,
)


def test_shipping_and_receiving_move_the_parcel_and_an_excursion_opens_a_case(
    personas: Any, app: Any, clock: Any
) -> None:
    _setup(personas)

    report = _capture(personas.admin, SHIPPED, RECEIVED)

    shipped, received = report["events"]
    assert shipped["parcels"] == [TN] and shipped["facility"] == "WH-SH-01"
    assert [(s["type"], s["result"]) for s in shipped["scans"]] == [("outbound", "accepted")]
    assert [(s["type"], s["result"]) for s in received["scans"]] == [("arrived", "accepted")]
    parcel = personas.ops.get(f"/api/v1/parcels/{TN}").json
    assert parcel["status"] == "in_transit"
    assert [(e["type"], e["facility"], e.get("temperature_c")) for e in parcel["events"]] == [
        ("outbound", "WH-SH-01", 3.0),
        ("arrived", "SC-SH-01", 9.5),
    ]
    assert parcel["outbound_at"] == "2026-11-20T09:30:00+08:00"
    assert parcel["promised_by"] is not None  # 211: the clock started at the warehouse

    rt = app.extensions["tracker"]
    sweep(rt.engine, now=clock(), policy=rt.ingest, zone=rt.settings.timezone, detectors=DETECTORS)

    cases = {c["type"]: c for c in personas.ops.get(f"/api/v1/parcels/{TN}").json["cases"]}
    assert cases["temperature_excursion"]["state"] == "open"
    summary, *strayed = (r["detail"] for r in cases["temperature_excursion"]["reasons"])
    # Each event's readings count once: through the scan that carries them.
    assert "1 of 2 readings outside it, the worst 9.5 °C at SC-SH-01" in summary
    assert len(strayed) == 1 and "9.5" in strayed[0]
    readings = personas.ops.get("/api/v1/epcis/readings", query_string={"tracking_number": TN}).json[
        "readings"
    ]
    assert [(r["min_value"], r["max_value"]) for r in readings] == [(None, None), (2.5, 9.5)]
    epcis = personas.ops.get(f"/api/v1/parcels/{TN}/epcis").json
    listed = epcis["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert [e["bizStep"] for e in listed] == ["shipping", "receiving"]


def test_an_error_declaration_takes_the_scan_out_and_the_corrective_event_takes_its_place(
    personas: Any,
) -> None:
    _setup(personas)
    _capture(personas.admin, SHIPPED, RECEIVED)
    corrective_id = "urn:uuid:00000000-0000-4000-8000-000000000003"
    declared = {
        **RECEIVED,
        "errorDeclaration": {
            "declarationTime": "2026-11-20T11:20:00+08:00",
            "reason": "incorrect_data",
            "correctiveEventIDs": [corrective_id],
        },
    }

    report = _capture(personas.admin, declared)

    (entry,) = report["events"]
    assert entry["result"] == "declared_erroneous" and len(entry["voided_scans"]) == 1
    parcel = personas.ops.get(f"/api/v1/parcels/{TN}").json
    # Derived again without the erroneous arrival: last seen leaving the warehouse.
    assert parcel["last_facility"] == "WH-SH-01"
    assert parcel["last_event_at"] == "2026-11-20T09:30:00+08:00"

    corrective = _object_event(
        corrective_id, "receiving", "2026-11-20T11:05:00+08:00", SORTING, "urn:epc:id:sscc:4012345.0111111111"
    )
    report = _capture(personas.admin, corrective)

    assert [s["result"] for s in report["events"][0]["scans"]] == ["accepted"]
    parcel = personas.ops.get(f"/api/v1/parcels/{TN}").json
    assert parcel["last_facility"] == "SC-SH-01" and parcel["last_event_at"] == "2026-11-20T11:05:00+08:00"
    listed = personas.ops.get(f"/api/v1/parcels/{TN}/epcis").json["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"
    ]
    # Nothing deleted: the erroneous event is still there, marked.
    assert [(e["eventID"], "errorDeclaration" in e) for e in listed] == [
        (SHIPPED["eventID"], False),
        (RECEIVED["eventID"], True),
        (corrective_id, False),
    ]


def test_a_pallets_events_reach_the_parcels_aggregated_on_it(personas: Any) -> None:
    _setup(personas)
    packed = {
        "type": "AggregationEvent",
        "eventID": "urn:uuid:00000000-0000-4000-8000-000000000010",
        "eventTime": "2026-11-20T09:00:00+08:00",
        "eventTimeZoneOffset": "+08:00",
        "parentID": PALLET,
        "childEPCs": ["urn:epc:id:sscc:4012345.0111111111"],
        "action": "ADD",
        "bizStep": "packing",
        "readPoint": {"id": WAREHOUSE},
    }
    departed = _object_event(
        "urn:uuid:00000000-0000-4000-8000-000000000011",
        "departing",
        "2026-11-20T10:00:00+08:00",
        SORTING,
        PALLET,
    )

    report = _capture(personas.admin, packed, departed)

    assert report["events"][0]["parcels"] == [TN] and report["events"][0]["no_scan"].startswith(
        "only ObjectEvents"
    )
    assert report["events"][1]["parcels"] == [TN]
    assert [(s["type"], s["tracking_number"]) for s in report["events"][1]["scans"]] == [("departed", TN)]
    events = personas.ops.get(f"/api/v1/parcels/{TN}").json["events"]
    assert [(e["type"], e["facility"]) for e in events] == [("departed", "SC-SH-01")]


def test_an_unknown_vocabulary_term_is_kept_and_reported(personas: Any) -> None:
    _setup(personas)
    event = _object_event(
        "urn:uuid:00000000-0000-4000-8000-000000000020",
        "https://example.com/steps/weighing",
        "2026-11-20T09:30:00+08:00",
        WAREHOUSE,
        "urn:epc:id:sscc:4012345.0111111111",
    )
    del event["disposition"]  # in_progress alone would make it an arrival

    (entry,) = _capture(personas.admin, event)["events"]

    assert entry["unknown_terms"] == ["bizStep: https://example.com/steps/weighing"]
    assert entry["result"] == "captured" and "no scan type" in entry["no_scan"]
    (stored,) = personas.ops.get(
        "/api/v1/epcis/events", query_string={"EQ_bizStep": "https://example.com/steps/weighing"}
    ).json["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert stored["bizStep"] == "https://example.com/steps/weighing"


def test_an_sscc_belongs_to_one_parcel(personas: Any) -> None:
    _setup(personas)
    other = personas.merchant.post("/api/v1/parcels", json=registration("TRKEPCIS0002", sscc=SSCC))
    assert other.status_code == 422
    assert other.json["error"]["fields"] == [{"field": "sscc", "message": f"already the SSCC of parcel {TN}"}]
