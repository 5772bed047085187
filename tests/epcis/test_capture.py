"""Capturing EPCIS documents and reading them back, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tracker.core.models import EpcisEvent, EpcisReading
from tracker.epcis.document import parse_events, validate

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "epcis" / "samples"
LD_JSON = {"Content-Type": "application/ld+json"}


def _sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def _capture(persona: Any, document: Any, **headers: str) -> Any:
    return persona.post("/api/v1/epcis/capture", data=json.dumps(document), headers={**LD_JSON, **headers})


def _events(persona: Any, **params: str) -> list[dict[str, Any]]:
    answer = persona.get("/api/v1/epcis/events", query_string={"perPage": "500", **params})
    assert answer.status_code == 200, answer.json
    assert validate(answer.json) == []  # an EPCISQueryDocument by the official schema
    return answer.json["epcisBody"]["queryResults"]["resultsBody"]["eventList"]


def _epcs(event: dict[str, Any]) -> set[str]:
    names = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
    found = {e for name in names for e in event.get(name, [])}
    return found | ({event["parentID"]} if "parentID" in event else set())


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir()))
def test_every_sample_is_captured_and_read_back(personas: Any, engine: Engine, name: str) -> None:
    document = _sample(name)
    sent = {e.event_id: e for e in parse_events(document)}

    answer = _capture(personas.admin, document)

    assert answer.status_code == 200, answer.json
    assert answer.headers["Location"] == f"/api/v1/epcis/capture/{answer.json['captureID']}"
    assert answer.json["running"] is False and answer.json["success"] is True
    assert [e["eventID"] for e in answer.json["events"]] == [e.event_id for e in parse_events(document)]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EpcisEvent)) == len(sent)
    back = {e["eventID"]: e for e in _events(personas.ops)}
    assert back.keys() == sent.keys()
    for event_id, event in sent.items():
        read = back[event_id]
        assert read["type"] == event.event_type
        assert read["eventTime"] == event.raw["eventTime"]
        assert read.get("bizStep") == event.biz_step
        assert _epcs(read) == {epc for epc, _ in event.epcs}


@pytest.mark.parametrize(
    ("name", "reports"),
    [
        ("SensorDataExample1b.jsonld", 12),
        ("SensorDataExample4.jsonld", 4),
        ("SensorDataExample7.jsonld", 6),
        ("SensorDataExample8.jsonld", 7),
        ("SensorDataExample10.jsonld", 3),
        ("SensorDataExample17.jsonld", 3),
    ],
)
def test_sensor_samples_produce_readings_kept_without_a_parcel(
    personas: Any, engine: Engine, name: str, reports: int
) -> None:
    assert _capture(personas.admin, _sample(name)).status_code == 200

    answer = personas.ops.get("/api/v1/epcis/readings", query_string={"unlinked": "true"})

    assert answer.status_code == 200
    assert len(answer.json["readings"]) == reports
    assert all(r["tracking_numbers"] == [] for r in answer.json["readings"])
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EpcisReading)) == reports


def test_temperatures_are_read_in_celsius(personas: Any) -> None:
    _capture(personas.admin, _sample("SensorDataExample1b.jsonld"))
    answer = personas.ops.get(
        "/api/v1/epcis/readings", query_string={"measurement_type": "Temperature", "limit": "2"}
    )
    assert [r["temperature_c"] for r in answer.json["readings"]] == [26.0, 26.1]
    assert answer.json["readings"][0]["observed_at"] == "2019-04-02T21:05:00+08:00"
    rest = personas.ops.get(answer.json["next"])
    assert [r["temperature_c"] for r in rest.json["readings"]] == [26.2] and rest.json["next"] is None


def test_an_error_declaration_marks_its_event(personas: Any) -> None:
    answer = _capture(personas.admin, _sample("ErrorDeclarationAndCorrectiveEvent.jsonld"))

    declared, corrective = answer.json["events"]
    assert declared["result"] == "declared_erroneous"
    assert declared["corrective_event_ids"] == ["urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"]
    assert corrective["result"] == "captured"
    events = {e["eventID"]: e for e in _events(personas.ops)}
    assert events[declared["eventID"]]["errorDeclaration"]["reason"] == "incorrect_data"
    assert "errorDeclaration" not in events[corrective["eventID"]]


def test_a_declaration_sent_later_marks_the_stored_event(personas: Any) -> None:
    original = _sample("SensorDataExample7.jsonld")
    assert _capture(personas.admin, original).json["events"][0]["result"] == "captured"
    declaration = copy.deepcopy(original)
    declaration["epcisBody"]["eventList"][0]["errorDeclaration"] = {
        "declarationTime": "2020-01-01T00:00:00Z",
        "reason": "incorrect_data",
    }

    answer = _capture(personas.admin, declaration)

    assert answer.json["events"][0]["result"] == "declared_erroneous"
    (event,) = _events(personas.ops)
    assert event["errorDeclaration"]["declarationTime"] == "2020-01-01T00:00:00Z"
    assert event["sensorElementList"] == original["epcisBody"]["eventList"][0]["sensorElementList"]
    assert _capture(personas.admin, declaration).json["events"][0]["result"] == "duplicate"


def test_a_document_sent_twice_is_stored_once(personas: Any, engine: Engine) -> None:
    document = _sample("SensorDataExample14.jsonld")  # no eventID: known by its canonical hash
    first = _capture(personas.admin, document)
    again = _capture(personas.admin, json.loads(json.dumps(document, indent=4)))
    assert [e["result"] for e in first.json["events"]] == ["captured"]
    assert [e["result"] for e in again.json["events"]] == ["duplicate"]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EpcisEvent)) == 1


def test_another_event_under_a_stored_id_is_rejected_and_rolls_back_the_document(
    personas: Any, engine: Engine
) -> None:
    _capture(personas.admin, _sample("AssociationEvent-f.jsonld"))
    # The GS1 samples reuse one eventID for two different events.
    clash = _sample("Example-Type-sourceOrDestination-measurement-bizTransaction.jsonld")
    clash["epcisBody"]["eventList"].append(_sample("AssociationEvent-a.jsonld")["epcisBody"]["eventList"][0])

    answer = _capture(personas.admin, clash)

    assert answer.json["success"] is False
    assert [e["result"] for e in answer.json["events"]] == ["rejected", "rolled_back"]
    assert answer.json["errors"] == [
        {
            "field": "/epcisBody/eventList/0/eventID",
            "message": "already captured with different content (conflict)",
        }
    ]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EpcisEvent)) == 1
    proceed = _capture(personas.admin, clash, **{"GS1-Capture-Error-Behaviour": "proceed"})
    assert [e["result"] for e in proceed.json["events"]] == ["rejected", "captured"]


def test_a_broken_document_is_refused_whole_with_the_path_of_each_error(
    personas: Any, engine: Engine
) -> None:
    document = _sample("SensorDataExample1b.jsonld")
    document["epcisBody"]["eventList"].append(copy.deepcopy(document["epcisBody"]["eventList"][0]))
    document["epcisBody"]["eventList"][1]["eventID"] = "urn:uuid:fd338495-0e6d-41dd-afee-a862ecd32519"
    document["epcisBody"]["eventList"][1]["eventTime"] = "2019-04-02 noon"
    document["epcisBody"]["eventList"][1]["readPoint"] = {"id": "a\u0000b"}

    answer = _capture(personas.admin, document)

    assert answer.status_code == 422
    assert answer.json["error"]["fields"] == [
        {
            "field": "/epcisBody/eventList/1/readPoint/id",
            "message": "contains \\u0000, which cannot be stored",
        }
    ]
    document["epcisBody"]["eventList"][1]["readPoint"] = {"id": "urn:epc:id:sgln:4012345.00005.0"}
    answer = _capture(personas.admin, document)
    assert answer.status_code == 422
    assert [f["field"] for f in answer.json["error"]["fields"]] == ["/epcisBody/eventList/1/eventTime"]
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EpcisEvent)) == 0


def test_query_parameters_filter_and_page(personas: Any) -> None:
    for name in (
        "AssociationEvent-a.jsonld",
        "AssociationEvent-b.jsonld",
        "AssociationEvent-c.jsonld",
        "SensorDataExample1b.jsonld",
    ):
        _capture(personas.admin, _sample(name))

    assert len(_events(personas.ops, eventType="ObjectEvent")) == 1
    assert len(_events(personas.ops, EQ_bizStep="assembling|removing")) == 2
    assert len(_events(personas.ops, EQ_bizStep="https://ref.gs1.org/cbv/BizStep-installing")) == 1
    assert (
        len(
            _events(
                personas.ops,
                GE_eventTime="2019-11-02T00:00:00+01:00",
                LT_eventTime="2019-11-03T14:00:00+01:00",
            )
        )
        == 1
    )
    # The same GIAI as a Digital Link finds the events that wrote it as a URN.
    assert len(_events(personas.ops, MATCH_epc="https://id.gs1.org/8004/400000112345")) == 2  # a and c
    assert len(_events(personas.ops, MATCH_anyEPC="urn:epc:id:grai:4012345.55555.987")) == 2
    assert len(_events(personas.ops, MATCH_epc="urn:epc:id:grai:4012345.55555.987")) == 0

    first = personas.ops.get("/api/v1/epcis/events", query_string={"perPage": "3"})
    assert len(first.json["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 3
    url = first.headers["Link"].split(";")[0].strip("<>")
    second = personas.ops.get(url)
    assert len(second.json["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 1
    assert "Link" not in second.headers
    unknown = personas.ops.get("/api/v1/epcis/events", query_string={"EQ_action": "ADD"})
    assert unknown.status_code == 422 and unknown.json["error"]["fields"][0]["field"] == "EQ_action"


@pytest.mark.parametrize("key", ["x", str(2**63), "-1"])
def test_a_page_token_with_a_key_no_row_can_have_is_a_422_naming_it(personas: Any, key: str) -> None:
    token = base64.urlsafe_b64encode(f"2026-11-20T10:00:00+00:00|{key}".encode()).decode().rstrip("=")
    events = personas.ops.get("/api/v1/epcis/events", query_string={"nextPageToken": token})
    readings = personas.ops.get("/api/v1/epcis/readings", query_string={"cursor": token})
    for answer, field in ((events, "nextPageToken"), (readings, "cursor")):
        assert answer.status_code == 422, answer.get_data(as_text=True)
        assert answer.json["error"]["fields"] == [
            {"field": field, "message": "not a page token of this server"}
        ]


def test_who_may_capture_and_read(personas: Any) -> None:
    document = _sample("AssociationEvent-a.jsonld")
    assert _capture(personas.ops, document).status_code == 403
    assert _capture(personas.courier, document).status_code == 403
    refused = _capture(personas.station, document)  # its read point is no location of ST-SH-01
    assert refused.status_code == 403
    assert refused.json["error"]["fields"][0]["field"] == "/epcisBody/eventList/0/readPoint"
    assert personas.station.get("/api/v1/epcis/events").status_code == 403
    assert personas.anonymous.get("/api/v1/epcis/events").status_code == 401


def test_a_facility_captures_at_its_mapped_location(personas: Any) -> None:
    document = _sample("AssociationEvent-a.jsonld")
    mapped = personas.admin.post(
        "/api/v1/epcis/locations",
        json={"location": "urn:epc:id:sgln:4012345.00001.0", "facility": "ST-SH-01"},
    )
    assert mapped.status_code == 201 and mapped.json["location"] == "https://id.gs1.org/414/4012345000016"

    answer = _capture(personas.station, document)

    assert answer.status_code == 200
    assert answer.json["events"][0]["facility"] == "ST-SH-01"
    job = personas.station.get(answer.headers["Location"])
    assert job.status_code == 200 and job.json["captureID"] == answer.json["captureID"]
    assert personas.ops.get(answer.headers["Location"]).status_code == 200


def _many(count: int) -> dict[str, Any]:
    document = _sample("SensorDataExample7.jsonld")
    template = document["epcisBody"]["eventList"][0]
    events = []
    for i in range(count):
        event = copy.deepcopy(template)
        event["eventID"] = f"urn:uuid:00000000-0000-4000-8000-{i:012d}"
        events.append(event)
    document["epcisBody"]["eventList"] = events
    return document


@pytest.mark.committing
def test_a_large_document_answers_202_and_its_job_reports_each_event(personas: Any, engine: Engine) -> None:
    answer = _capture(personas.admin, _many(150))

    assert answer.status_code == 202
    job_url = answer.headers["Location"]
    deadline = time.monotonic() + 60
    job = personas.ops.get(job_url).json
    while job["running"] and time.monotonic() < deadline:
        time.sleep(0.1)
        job = personas.ops.get(job_url).json
    assert job["running"] is False and job["success"] is True
    assert [e["result"] for e in job["events"]] == ["captured"] * 150
    assert job["events"][149]["eventID"] == "urn:uuid:00000000-0000-4000-8000-000000000149"
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(EpcisEvent)) == 150
    personas.ops.client.application.extensions["tracker.epcis.capture_thread"].shutdown()


def test_a_document_of_100_events_is_answered_at_once(personas: Any) -> None:
    answer = _capture(personas.admin, _many(100))
    assert answer.status_code == 200 and len(answer.json["events"]) == 100
