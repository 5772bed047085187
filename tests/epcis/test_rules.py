"""The pure EPCIS rules: schema, identifiers, canonical hash, CBV mapping, sensors."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tracker.core.vocabulary import EventType
from tracker.epcis import cbv, sensors
from tracker.epcis.canonical import event_hash
from tracker.epcis.document import parse_events, validate
from tracker.epcis.identifiers import canonical, check_digit, gln_of, sscc_of

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "epcis" / "samples"


def _sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / name).read_text())


def test_the_bundled_schema_is_the_official_document_schema() -> None:
    schema = resources.files("tracker.epcis").joinpath("schema")
    official = json.loads(schema.joinpath("EPCIS-JSON-Schema.json").read_text())
    bundled = json.loads(schema.joinpath("EPCIS-JSON-Schema-bundled.json").read_text())

    def local(node: Any) -> Any:
        # The official file points into sibling files; the bundle into itself.
        if isinstance(node, dict):
            return {
                k: re.sub(r"^[^#]*#", "#", v).replace("%40", "@") if k == "$ref" else local(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [local(v) for v in node]
        return node

    for name, definition in local(official["definitions"]).items():
        assert bundled["definitions"][name] == definition, name


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.iterdir()))
def test_it_accepts_every_gs1_sample(name: str) -> None:
    assert validate(_sample(name)) == []


def test_it_names_every_broken_field_by_its_json_pointer() -> None:
    doc = _sample("SensorDataExample7.jsonld")
    event = doc["epcisBody"]["eventList"][0]
    event["eventTime"] = "yesterday"
    event["action"] = "JUMP"
    event["sensorElementList"][0]["sensorReport"][0]["value"] = "warm"
    fields = {e.field for e in validate(doc)}
    assert fields == {
        "/epcisBody/eventList/0/eventTime",
        "/epcisBody/eventList/0/action",
        "/epcisBody/eventList/0/sensorElementList/0/sensorReport/0/value",
    }


def test_it_refuses_nul_characters_anywhere() -> None:
    doc = _sample("AssociationEvent-a.jsonld")
    doc["epcisBody"]["eventList"][0]["bizStep"] = "assem\x00bling"
    doc["epcisBody"]["eventList"][0]["example:x\x00"] = "y"
    assert {e.field for e in validate(doc)} == {
        "/epcisBody/eventList/0/bizStep",
        "/epcisBody/eventList/0/example:x\x00",
    }


def test_it_refuses_times_outside_what_is_stored() -> None:
    doc = _sample("AssociationEvent-a.jsonld")
    doc["epcisBody"]["eventList"][0]["eventTime"] = "1999-12-31T23:00:00Z"
    assert [e.field for e in validate(doc)] == ["/epcisBody/eventList/0/eventTime"]


def test_urn_and_digital_link_spellings_meet() -> None:
    assert canonical("urn:epc:id:sscc:4012345.0111111111") == "https://id.gs1.org/00/040123451111111110"
    assert sscc_of("https://example.com/a/00/040123451111111110?x=1") == "040123451111111110"
    assert sscc_of("urn:epc:id:sscc:4012345.0111111111") == "040123451111111110"
    assert sscc_of("https://id.gs1.org/00/040123451111111119") is None  # wrong check digit
    assert sscc_of("urn:epc:id:sgtin:4012345.011111.987") is None
    assert canonical("urn:epc:id:sgtin:4012345.011111.987") == "https://id.gs1.org/01/04012345111118/21/987"
    assert gln_of("urn:epc:id:sgln:4012345.00001.0") == "4012345000016"
    assert gln_of("urn:epc:id:sgln:4012345.00001.12") is None
    assert check_digit("10614141234567890") == "8"  # GS1 General Specifications example


def test_the_event_hash_ignores_form_and_follows_content() -> None:
    event = _sample("SensorDataExample1b.jsonld")["epcisBody"]["eventList"][0]
    reordered = dict(reversed(list(event.items())))
    shifted = copy.deepcopy(event)
    shifted["eventTime"] = "2019-04-02T14:00:00Z"  # the same instant at another offset
    shifted["readPoint"] = {"id": "https://id.gs1.org/414/4012345000054"}  # the SGLN as a Digital Link
    shifted["sensorElementList"] = list(reversed(shifted["sensorElementList"]))
    declared = {
        **event,
        "errorDeclaration": {"declarationTime": "2020-01-01T00:00:00Z"},
        "recordTime": "2020-01-01T00:00:00Z",
    }
    assert event_hash(event) == event_hash(reordered) == event_hash(shifted) == event_hash(declared)
    changed = copy.deepcopy(event)
    changed["sensorElementList"][0]["sensorReport"][0]["value"] = 26.5
    assert event_hash(changed) != event_hash(event)
    assert event_hash({**event, "bizStep": "shipping"}) != event_hash(event)
    assert re.match(r"^ni:///sha-256;[0-9a-f]{64}\?ver=CBV2\.0$", event_hash(event))


def test_an_event_without_id_is_known_by_its_hash() -> None:
    (event,) = parse_events(_sample("SensorDataExample14.jsonld"))
    assert event.event_id == event.event_hash == event_hash(event.raw)


@pytest.mark.parametrize(
    ("step", "disposition", "at_origin", "expected"),
    [
        ("shipping", None, False, EventType.DEPARTED),
        ("shipping", "in_transit", True, EventType.OUTBOUND),
        ("https://ref.gs1.org/cbv/BizStep-departing", None, False, EventType.DEPARTED),
        ("urn:epcglobal:cbv:bizstep:receiving", None, False, EventType.ARRIVED),
        ("arriving", None, False, EventType.ARRIVED),
        ("storing", None, False, EventType.ARRIVED),
        ("loading", None, False, EventType.DEPARTED),
        (None, "in_transit", False, EventType.DEPARTED),
        (None, "in_progress", False, EventType.ARRIVED),
        ("inspecting", "damaged", False, EventType.DAMAGED),
        (None, "returned", False, EventType.RETURNED),
        ("sensor_reporting", None, False, None),
        ("example:myStep", None, False, None),
    ],
)
def test_cbv_terms_map_to_scan_types(
    step: str | None, disposition: str | None, at_origin: bool, expected: EventType | None
) -> None:
    meaning = cbv.scan_meaning(step, disposition, at_origin=at_origin)
    assert (meaning.type if meaning else None) == expected


def test_damage_dispositions_carry_damage_and_unknown_terms_are_reported() -> None:
    meaning = cbv.scan_meaning("receiving", "destroyed")
    assert (
        meaning is not None and meaning.type is EventType.ARRIVED and meaning.damage_severity == "destroyed"
    )
    assert cbv.unknown_terms("example:myStep", "in_transit") == ["bizStep: example:myStep"]


def test_sensor_reports_become_readings_in_celsius() -> None:
    (event,) = parse_events(_sample("SensorDataExample1b.jsonld"))
    found = sensors.readings(
        event.raw, event.event_time, lambda v: datetime.fromisoformat(v).astimezone(UTC) if v else None
    )
    assert len(found) == 12
    temperatures = [r for r in found if r.measurement_type == "Temperature"]
    assert [r.temperature_c for r in temperatures] == [26.0, 26.1, 26.2]
    assert temperatures[0].observed_at == datetime(2019, 4, 2, 13, 5, tzinfo=UTC)
    fahrenheit = {
        "sensorElementList": [{"sensorReport": [{"type": "gs1:Temperature", "value": 41, "uom": "FAH"}]}]
    }
    (reading,) = sensors.readings(fahrenheit, event.event_time, lambda v: None)
    assert reading.temperature_c == 5.0 and reading.observed_at == event.event_time


def test_the_scan_carries_the_reading_furthest_outside_the_range() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    found = [
        sensors.Reading("Temperature", at, "CEL", temperature_c=3.0),
        sensors.Reading("Temperature", at, "CEL", temperature_min_c=-1.5, temperature_max_c=9.0),
    ]
    assert sensors.scan_temperature(found, (0.0, 4.0)) == 9.0
    assert sensors.scan_temperature(found, (5.0, 20.0)) == -1.5
    assert sensors.scan_temperature(found, None) == 9.0
    assert sensors.scan_temperature([], (0.0, 4.0)) is None
