"""The OpenAPI says what the server does (issue 11, finding 9).

Schemathesis found 200s documented nowhere (cases, a case, scorecards,
hotspots, a parcel), the 400 for a malformed body documented nowhere,
flask-openapi3's own list of pydantic errors documented as the 422 where we
send ``{"error": ...}``, and a chunked body over the limit answered 400
"malformed JSON" instead of 413. Here:

* every operation documents the answers the plumbing gives it
  (:mod:`tracker.web.openapi`): 400, 413 and 415 with a body, 401 and 403
  with a key, 422 and 503 in the one error shape;
* real answers of a small workload validate against what the OpenAPI
  documents for their status, success and error alike;
* a chunked body over ``MAX_CONTENT_LENGTH`` is a 413 (in-process, with the
  environ gunicorn gives; the live server: tests/service/test_fuzz_api.py).

tests/service/test_fuzz_api.py runs schemathesis itself against a live server.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from sqlalchemy import select

from tests.conftest import T0, FakeClock, Personas
from tests.helpers import at, journey, registration, scan
from tracker.cases import store as cases
from tracker.cases.reasons import Reason
from tracker.core.db import write_transaction
from tracker.core.models import Parcel
from tracker.core.vocabulary import CaseType

TN = "TRKDOC0001"


@pytest.fixture
def doc(app: Any) -> dict[str, Any]:
    return dict(app.test_client().get("/openapi.json").get_json())


def _operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", op) for path, item in doc["paths"].items() for method, op in item.items()
    ]


def _ref(answer: dict[str, Any]) -> str | None:
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").rsplit("/", 1)[-1] or None


def test_every_operation_documents_the_plumbing_s_answers(doc: dict[str, Any]) -> None:
    missing = []
    for name, op in _operations(doc):
        expected = {"422", "503"}
        if "requestBody" in op:
            expected |= {"400", "413", "415"}
        if op.get("security"):
            expected |= {"401", "403"}
        for status in sorted(expected):
            if _ref(op["responses"].get(status, {})) != "ErrorOut":
                missing.append(f"{name} {status}")
        if "Retry-After" not in op["responses"]["503"].get("headers", {}):
            missing.append(f"{name} 503 Retry-After")
    assert missing == []
    assert "ValidationErrorModel" not in doc["components"]["schemas"]


def _tracker_models() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    todo = list(BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        if model.__module__.startswith("tracker."):
            found.append(model)
    return found


def test_no_two_shapes_share_a_component_name(doc: dict[str, Any]) -> None:
    """A component is keyed by the model's class name, so two different models
    of one name leave one of them documented with the other's shape (a route
    stop's ``eta`` was documented as the tracking page's ETA; schemathesis
    found it only when a plan existed for the day)."""
    components = doc["components"]["schemas"]
    shapes: dict[str, dict[str, Any]] = {}
    clashes = []
    for model in _tracker_models():
        if model.__name__ not in components:
            continue
        shape = model.model_json_schema()
        first = shapes.setdefault(model.__name__, shape)
        if first != shape:
            clashes.append(f"{model.__module__}.{model.__qualname__}")
    assert clashes == []


def test_every_success_documents_its_body(doc: dict[str, Any]) -> None:
    # 200 and 201 answer a body; a 202 (EPCIS capture: "see Location") may have none.
    bare = [
        f"{name} {status}"
        for name, op in _operations(doc)
        for status, answer in op["responses"].items()
        if status in ("200", "201") and not answer.get("content")
    ]
    assert bare == []


def test_an_empty_query_value_is_documented_as_no_filter(doc: dict[str, Any]) -> None:
    [listing] = [op for name, op in _operations(doc) if name == "GET /api/v1/cases"]
    for parameter in listing["parameters"]:
        assert {"const": ""} in [
            {k: v for k, v in option.items() if k == "const"} for option in parameter["schema"]["anyOf"]
        ], parameter["name"]


class Conformance:
    """Checks answers against the schema ``doc`` documents for their operation and status."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.checked: list[str] = []

    def __call__(self, method: str, path: str, answer: Any) -> Any:
        op = self.doc["paths"][path][method.lower()]
        status = str(answer.status_code)
        assert status in op["responses"], (
            f"{method} {path} answered {status}, documented {list(op['responses'])}"
        )
        schema = op["responses"][status]["content"]["application/json"]["schema"]
        Draft202012Validator({**schema, "components": self.doc["components"]}).validate(answer.get_json())
        self.checked.append(f"{method} {path} {status}")
        return answer.get_json()


@pytest.fixture
def workload(personas: Personas, engine: Any, clock: FakeClock) -> int:
    """A registered parcel with its journey, an open case; the case's id."""
    assert personas.merchant.post("/api/v1/parcels", json=registration(TN)).status_code == 201
    answer = personas.admin.post("/api/v1/scans", json={"events": journey(TN, T0 - timedelta(hours=8))})
    assert answer.get_json()["accepted"] == 7
    with write_transaction(engine) as conn:
        parcel_id = conn.scalar(select(Parcel.id).where(Parcel.tracking_number == TN))
        case_id, _ = cases.open_case(
            conn, parcel_id, CaseType.STALE, [Reason("silent", "since 2026-11-20T01:51:00+00:00")], now=T0
        )
    return case_id


def test_real_answers_are_what_the_openapi_documents(
    personas: Personas, doc: dict[str, Any], workload: int
) -> None:
    check = Conformance(doc)
    period = {"since": at(T0, -24 * 60), "until": at(T0, 1)}

    listed = check("GET", "/api/v1/cases", personas.ops.get("/api/v1/cases"))
    assert [c["case_id"] for c in listed["cases"]] == [workload]
    case = check("GET", "/api/v1/cases/{case_id}", personas.ops.get(f"/api/v1/cases/{workload}"))
    assert case["reasons"][0]["detail"] == "since 2026-11-20T09:51:00+08:00"  # stored UTC, answered local
    check(
        "POST",
        "/api/v1/cases/{case_id}/acknowledge",
        personas.ops.post(f"/api/v1/cases/{workload}/acknowledge"),
    )
    check(
        "POST",
        "/api/v1/cases/{case_id}/resolve",
        personas.ops.post(f"/api/v1/cases/{workload}/resolve", json={"resolution": "no_action"}),
    )
    check("GET", "/api/v1/cases/{case_id}", personas.ops.get("/api/v1/cases/4242"))  # 404
    check("GET", "/api/v1/cases", personas.ops.get("/api/v1/cases", query_string={"until": "0.5"}))  # 422
    card = check(
        "GET",
        "/api/v1/couriers/{courier_id}/scorecard",
        personas.ops.get("/api/v1/couriers/C-SH011/scorecard", query_string=period),
    )
    assert card["courier_id"] == "C-SH011" and card["deliveries"] == 1
    check(
        "GET",
        "/api/v1/facilities/{facility}/scorecard",
        personas.ops.get("/api/v1/facilities/ST-SH-01/scorecard", query_string=period),
    )
    check("GET", "/api/v1/hotspots/damage", personas.ops.get("/api/v1/hotspots/damage", query_string=period))
    record = check("GET", "/api/v1/parcels/{tracking_number}", personas.ops.get(f"/api/v1/parcels/{TN}"))
    assert len(record["events"]) == 7 and record["cases"][0]["case_id"] == workload
    check("GET", "/api/v1/parcels/{tracking_number}", personas.ops.get("/api/v1/parcels/a%20b"))  # 422
    check("GET", "/api/v1/track/{tracking_number}", personas.anonymous.get(f"/api/v1/track/{TN}"))

    registered = personas.merchant.post("/api/v1/parcels", json=registration("TRKDOC0002"))
    check("POST", "/api/v1/parcels", registered)
    check(
        "POST", "/api/v1/parcels", personas.merchant.post("/api/v1/parcels", json=registration("TRKDOC0002"))
    )
    lone = scan("doc-1", "TRKDOC0002", "arrived", at(T0, -30), facility="SC-SH-01")
    check("POST", "/api/v1/scans", personas.admin.post("/api/v1/scans", json=lone))  # 201
    check("POST", "/api/v1/scans", personas.admin.post("/api/v1/scans", json=lone))  # 200, a duplicate
    check(
        "POST", "/api/v1/scans", personas.admin.post("/api/v1/scans", json={**lone, "facility": "ST-SH-01"})
    )
    check("POST", "/api/v1/scans", personas.admin.post("/api/v1/scans", json={**lone, "lat": "31.2"}))  # 422
    check(
        "POST",
        "/api/v1/scans",
        personas.admin.post("/api/v1/scans", data=b'{"events": [', content_type="application/json"),
    )  # 400
    check("POST", "/api/v1/scans", personas.anonymous.post("/api/v1/scans", json=lone))  # 401
    check("POST", "/api/v1/scans", personas.merchant.post("/api/v1/scans", json=lone))  # 403

    statuses = {c.rsplit(" ", 1)[1] for c in check.checked}
    assert statuses == {"200", "201", "400", "401", "403", "404", "409", "422"}, check.checked


def test_a_chunked_body_over_the_limit_is_a_413_not_a_cut_json(personas: Personas, app: Any) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = b'{"events": [' + b" " * limit + b"]}"

    def chunked(data: bytes) -> Any:
        # As gunicorn hands over a chunked body: no Content-Length, the stream ends itself.
        return personas.ops.post(
            "/api/v1/scans",
            input_stream=io.BytesIO(data),
            content_type="application/json",
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )

    too_big = chunked(body)
    exactly = chunked(b"{" + b" " * (limit - 2) + b"}")

    assert too_big.status_code == 413, too_big.get_json()
    assert too_big.get_json()["error"]["code"] == "payload_too_large"
    # A body of exactly the limit is read whole (and then the ops key may not post scans).
    assert exactly.status_code == 422 or exactly.status_code == 403, exactly.get_json()


def _request_schema(doc: dict[str, Any], method: str, path: str) -> Draft202012Validator:
    schema = doc["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": doc["components"]})


def test_a_body_the_schema_takes_the_api_takes_or_refuses_only_by_a_stated_rule(
    personas: Personas, doc: dict[str, Any]
) -> None:
    # What the fuzzer's audit found: text is stripped before its pattern is checked, so
    # a phone or email the pattern took with white space at its end failed it; and a
    # merge patch's null removes a field the registration needs. Now the schema refuses them too.
    register = _request_schema(doc, "POST", "/api/v1/parcels")
    for recipient in ({"phone": "12345 "}, {"email": "a@b.\u3000"}):
        body = {**registration("TRKDOC0003"), "recipient": recipient}
        assert not register.is_valid(body), recipient
        answer = personas.merchant.post("/api/v1/parcels", json=body)
        assert answer.status_code == 422, recipient
    body = {
        **registration("TRKDOC0003"),
        "recipient": {"phone": "+86 138-0000-1234", "email": "zhang@example.com"},
    }
    assert register.is_valid(body) and personas.merchant.post("/api/v1/parcels", json=body).status_code == 201
    patch = _request_schema(doc, "PATCH", "/api/v1/parcels/{tracking_number}")
    for field in ("service_level", "destination"):
        assert not patch.is_valid({field: None})
        answer = personas.merchant.patch("/api/v1/parcels/TRKDOC0003", json={field: None})
        assert answer.status_code == 422 and answer.get_json()["error"]["fields"][0]["field"] == field
    assert patch.is_valid({"recipient": None, "weight_kg": 2})


#: White space to JSON Schema's regular expressions (ECMA-262 WhiteSpace and LineTerminator).
ECMA_WHITE_SPACE = set("\t\n\v\f\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff") | {
    chr(c) for c in range(0x2000, 0x200B)
}


def _patterns(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def test_a_published_pattern_refuses_the_same_white_space_in_python_and_in_json_schema(
    doc: dict[str, Any],
) -> None:
    # What the stateful fuzzer found: an email with U+0085 in it was valid by the published
    # schema (not white space to ECMA-262's \s) and refused by the API (white space to
    # Python's \s). A pattern that refuses white space must name the characters on which
    # the two differ, so that it means one thing to a client's validator and to ours.
    python_white_space = {chr(c) for c in range(0x10000) if re.fullmatch(r"\s", chr(c))}
    differ = sorted(python_white_space ^ ECMA_WHITE_SPACE)
    assert "\x85" in differ and "\ufeff" in differ
    spaced = sorted({p for p in _patterns(doc) if "\\s" in p})
    assert spaced, "no published pattern refuses white space"
    for pattern in spaced:
        without = pattern.replace("\\s", "")
        for c in differ:
            for text in (f"a{c}b@example.com", f"https://a{c}b.example.com/"):
                if re.search(pattern, text.replace(c, "")):
                    assert not re.search(without, text), (pattern, hex(ord(c)))
