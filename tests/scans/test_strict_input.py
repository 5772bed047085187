"""What the scan API's OpenAPI promises about its input holds (issue 11, finding 9).

Schemathesis found these (tests/service/test_fuzz_api.py runs it):

* a number sent as a JSON string (``"lat": "31.2"``) or a boolean
  (``"lat": true``) was read as 31.2 and 1.0; the schema says ``number``:
  it is a 422 naming the field, alone or in a batch (where only that event is
  rejected), and a JSON integer is still a number;
* a lone event that fails validation on its ``event_id`` (missing, not a
  string, blank, too long) answered 409 as if it were a conflict: it is a 422,
  and only a stored event with other content is a 409;
* a required text of spaces passed the documented ``minLength`` and was
  refused after stripping ("at least 1 character"): the documented pattern
  now says a blank value is not one, and the refusal says "must not be blank";
* a rejected lone event answers in the one error shape, as the OpenAPI says.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import T0, Personas
from tests.helpers import at, registration, scan
from tracker.core.models import Parcel, ScanEvent

URL = "/api/v1/scans"


def _event(**changes: Any) -> dict[str, Any]:
    event = scan(
        "strict-1", "TRKS000001", "delivered", at(T0, -20), courier_id="C-SH011", lat=31.2, lon=121.45
    )
    return {**event, **changes}


def _count(engine: Any, table: Any = ScanEvent) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lat", "31.2"),
        ("lat", True),
        ("lon", "121.45"),
        ("lon", False),
        ("accuracy_m", "10"),
        ("accuracy_m", True),
        ("temperature_c", "4.5"),
    ],
)
def test_a_string_or_a_boolean_where_a_number_is_documented_is_a_422_naming_it(
    personas: Personas, engine: Any, field: str, value: Any
) -> None:
    lone = personas.admin.post(URL, json=_event(**{field: value}))
    batch = personas.admin.post(URL, json={"events": [_event(**{field: value}), _event(event_id="strict-2")]})

    assert lone.status_code == 422, lone.get_json()
    assert [f["field"] for f in lone.get_json()["error"]["fields"]] == [field]
    assert "valid number" in lone.get_json()["error"]["fields"][0]["message"]
    assert [r["result"] for r in batch.get_json()["results"]] == ["rejected", "accepted"]
    assert [e["field"] for e in batch.get_json()["results"][0]["errors"]] == [field]
    assert _count(engine) == 1


def test_a_json_integer_is_a_number(personas: Personas) -> None:
    answer = personas.admin.post(URL, json=_event(lat=31, lon=121, accuracy_m=10))

    assert answer.status_code == 201, answer.get_json()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"weight_kg": "1.2"}, "weight_kg"),
        ({"weight_kg": True}, "weight_kg"),
        ({"perishable": {"min_c": "2", "max_c": 8}}, "perishable.min_c"),
        ({"destination": {"lat": "31.2", "lon": 121.4}}, "destination.lat"),
    ],
)
def test_a_registration_s_numbers_are_json_numbers(
    personas: Personas, engine: Any, changes: dict[str, Any], field: str
) -> None:
    answer = personas.merchant.post("/api/v1/parcels", json=registration("TRKS000002", **changes))

    assert answer.status_code == 422, answer.get_json()
    assert [f["field"] for f in answer.get_json()["error"]["fields"]] == [field]
    assert _count(engine, Parcel) == 0


@pytest.mark.parametrize(
    "event_id",
    [None, 42, "", "   ", "x" * 101, "a\u0000b"],
    ids=["missing", "a number", "empty", "blank", "too long", "nul"],
)
def test_a_lone_event_with_a_bad_event_id_is_a_422_not_a_conflict(
    personas: Personas, engine: Any, event_id: Any
) -> None:
    event = _event(event_id=event_id)
    if event_id is None:
        del event["event_id"]

    answer = personas.admin.post(URL, json=event)

    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"]["code"] == "validation_failed"
    assert [f["field"] for f in answer.get_json()["error"]["fields"]] == ["event_id"]
    assert _count(engine) == 0


def test_only_a_stored_event_with_other_content_is_a_409(personas: Personas) -> None:
    assert personas.admin.post(URL, json=_event()).status_code == 201

    changed = personas.admin.post(URL, json=_event(lat=31.3))

    assert changed.status_code == 409
    assert changed.get_json()["error"]["code"] == "conflict"
    assert [f["field"] for f in changed.get_json()["error"]["fields"]] == ["event_id"]


def test_a_blank_required_text_is_refused_as_blank(personas: Personas) -> None:
    blank_id = personas.admin.post(URL, json=_event(event_id="   "))
    blank_level = personas.merchant.post(
        "/api/v1/parcels", json=registration("TRKS000003", service_level=" ")
    )

    assert blank_id.status_code == 422 and blank_level.status_code == 422
    assert blank_id.get_json()["error"]["fields"][0]["field"] == "event_id"
    assert blank_level.get_json()["error"]["fields"][0]["field"] == "service_level"


def test_the_openapi_says_numbers_are_numbers_and_required_text_is_not_blank(app: Any) -> None:
    schemas = app.test_client().get("/openapi.json").get_json()["components"]["schemas"]
    event = schemas["ScanEventIn"]["properties"]

    def kinds(prop: dict[str, Any]) -> set[str]:
        return {option.get("type") for option in prop.get("anyOf", [prop])} - {"null"}

    assert kinds(event["lat"]) == kinds(event["accuracy_m"]) == {"number"}
    pattern = event["event_id"]["pattern"]
    assert event["event_id"]["minLength"] == 1
    assert re.search(pattern, "ok") and not re.search(pattern, "   ") and not re.search(pattern, "\u3000")
