"""The API's naming and time conventions, read off ``/openapi.json`` (issue 11).

The README's table "Canonical names" is the convention; this test walks every
operation, parameter and schema property the OpenAPI documents and fails on
a name or a time outside it, so a new endpoint is born in the same language:

* names are snake_case;
* an identifier is ``<thing>_id`` (never a bare ``id`` or ``code``), a
  courier is ``courier_id`` wherever it is named, a facility ``facility``
  (its code; ``origin_facility`` and ``pickup_point`` are its roles);
* path parameters come from one short list;
* a time is documented as a ``date-time`` (the answers write it ISO 8601
  with the local offset: ``tests/routing/service/test_time_form.py``
  checks the values), a day as a ``date``;
* a customer tier is ``normal`` or ``vip`` wherever one is taken or given;
* a list answer pages with ``limit`` and ``cursor`` and links ``next``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tracker.core.vocabulary import CustomerTier

SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
PATH_PARAMETERS = {
    "tracking_number",
    "case_id",
    "courier_id",
    "facility",
    "capture_id",
    "webhook_id",
    "delivery_id",
}
#: Names that are times by their form: ``*_at``, ``*_by``, and the ends of a span.
TIME_NAME = re.compile(r"^(.*_at|promised_by|since|until|start|end|shift_start|shift_end)$")
#: Local wall-clock times of a shift (``08:00``), not instants.
LOCAL_TIMES = {("ShiftIn", "start"), ("ShiftIn", "end")}
#: Scores of a rating (1-5), named for what they rate; they are not references.
SCORES = {("RatingIn", "courier"), ("RatingsOut", "courier"), ("ScoresOut", "courier")}
#: Machine-readable kinds (``validation_failed``, a reason's ``stale_in_transit``,
#: a headline's ``out_for_delivery``): values of a vocabulary, not identifiers.
NOT_IDENTIFIERS = {("ErrorBody", "code"), ("ReasonOut", "code"), ("HeadlineOut", "code")}
#: GS1 EPCIS 2.0 fixes its own names (``captureID``, ``eventTime``, ``GE_eventTime``,
#: ``@context``): the REST binding's clients send and expect them as the standard
#: spells them. Only the EPCIS documents and the query's parameters are exempt.
EPCIS_SCHEMAS = {"CaptureJobOut", "QueryDocumentOut"}
EPCIS_QUERY = "/api/v1/epcis/events"


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tracker.app import create_app
    from tracker.settings import Settings

    db = tmp_path_factory.mktemp("openapi") / "doc.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}", sweep_interval=0))
    return app.test_client().get("/openapi.json").json


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _properties(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(schema name, property name, property schema) of every documented object."""
    for name, schema in doc["components"]["schemas"].items():
        if name.startswith("ValidationError"):
            continue  # flask-openapi3's own model, which no answer uses
        for prop, sub in schema.get("properties", {}).items():
            yield name, prop, sub


def _parameters(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for p in op.get("parameters", []):
                yield f"{method.upper()} {path}", p["in"], p


def _kinds(doc: dict[str, Any], schema: dict[str, Any]) -> set[tuple[str | None, str | None]]:
    """(type, format) pairs a property may take, through anyOf/allOf and refs."""
    schema = _resolve(doc, schema)
    found: set[tuple[str | None, str | None]] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found |= _kinds(doc, sub)
    if "type" in schema or "enum" in schema:
        found.add((schema.get("type"), schema.get("format")))
    return found - {("null", None)}


def test_every_name_is_snake_case(doc: dict[str, Any]) -> None:
    bad = [f"{s}.{p}" for s, p, _ in _properties(doc) if not SNAKE.match(p) and s not in EPCIS_SCHEMAS]
    bad += [
        f"{op} {where} {p['name']}"
        for op, where, p in _parameters(doc)
        if not SNAKE.match(p["name"]) and not op.endswith(f" {EPCIS_QUERY}")
    ]
    assert bad == []


def test_only_the_epcis_names_are_exempt(doc: dict[str, Any]) -> None:
    # The exemption must not grow into a loophole: its schemas answer EPCIS paths only.
    assert set(doc["components"]["schemas"]) >= EPCIS_SCHEMAS
    for path, operations in doc["paths"].items():
        refs = set(re.findall(r"#/components/schemas/(\w+)", str(operations)))
        if refs & EPCIS_SCHEMAS:
            assert path.startswith("/api/v1/epcis/") or path.endswith("/epcis"), path


def test_identifiers_are_thing_id_and_couriers_courier_id(doc: dict[str, Any]) -> None:
    bad = [
        f"{s}.{p}" for s, p, _ in _properties(doc) if p in {"id", "code"} and (s, p) not in NOT_IDENTIFIERS
    ]
    bad += [f"{s}.{p}" for s, p, _ in _properties(doc) if p == "courier" and (s, p) not in SCORES]
    bad += [f"{op} {p['name']}" for op, _, p in _parameters(doc) if p["name"] in {"id", "code", "courier"}]
    assert bad == []


def test_path_parameters_come_from_one_list(doc: dict[str, Any]) -> None:
    used = {p["name"] for _, where, p in _parameters(doc) if where == "path"}
    assert used <= PATH_PARAMETERS
    for path in doc["paths"]:
        assert set(re.findall(r"{(\w+)}", path)) <= PATH_PARAMETERS, path


def test_times_are_documented_as_date_times(doc: dict[str, Any]) -> None:
    bad = []
    for s, p, sub in _properties(doc):
        if not TIME_NAME.match(p) or (s, p) in LOCAL_TIMES:
            continue
        kinds = _kinds(doc, sub)
        if kinds and not kinds <= {("string", "date-time"), ("object", None)}:
            bad.append(f"{s}.{p}: {sorted(kinds, key=str)}")
    for op, _, p in _parameters(doc):
        if TIME_NAME.match(p["name"]):
            kinds = _kinds(doc, p.get("schema", {}))
            if kinds != {("string", "date-time")}:
                bad.append(f"{op} {p['name']}: {sorted(kinds, key=str)}")
    assert bad == []


def test_days_are_dates(doc: dict[str, Any]) -> None:
    bad = [
        f"{s}.{p}"
        for s, p, sub in _properties(doc)
        if p == "date" and ("string", "date") not in _kinds(doc, sub)
    ]
    assert bad == []


def test_one_tier_vocabulary(doc: dict[str, Any]) -> None:
    tiers = [_resolve(doc, sub) for s, p, sub in _properties(doc) if p.endswith("tier")]
    enums = [
        _resolve(doc, option).get("enum")
        for t in tiers
        for option in (t.get("anyOf") or t.get("allOf") or [t])
    ]
    assert tiers and all(e == [t.value for t in CustomerTier] for e in enums if e is not None)
    assert all(e is not None for e in enums), "a tier documented as a free string"


def test_lists_page_with_limit_cursor_and_next(doc: dict[str, Any]) -> None:
    checked = 0
    for path, operations in doc["paths"].items():
        op = operations.get("get")
        ok = (op or {}).get("responses", {}).get("200", {})
        schema = ok.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            continue
        answer = _resolve(doc, schema)
        lists = [
            p for p, sub in answer.get("properties", {}).items() if _resolve(doc, sub).get("type") == "array"
        ]
        if not lists or path.endswith(("/route", "/routes")) or "{" in path:
            continue  # one object that holds a list (a route's stops, a parcel's events), not a list
        checked += 1
        names = {p["name"] for p in op.get("parameters", [])}
        assert {"limit", "cursor"} <= names, path
        assert "next" in answer["properties"], path
    assert checked >= 1  # GET /api/v1/cases at least


def test_every_error_answer_has_the_one_error_shape(doc: dict[str, Any]) -> None:
    bad = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for status, answer in op.get("responses", {}).items():
                if not status.startswith(("4", "5")):
                    continue
                schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
                if schema.get("$ref", "").rsplit("/", 1)[-1] != "ErrorOut":
                    bad.append(f"{method.upper()} {path} {status}")
    assert bad == []


def _sent_strings(
    doc: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, schema) of every string a client may send under ``schema``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return
        seen = seen | {name}
        where = name
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _sent_strings(doc, sub, where, seen)
    for prop, sub in schema.get("properties", {}).items():
        yield from _sent_strings(doc, sub, f"{where}.{prop}", seen)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _sent_strings(doc, schema[key], f"{where}[]", seen)
    if schema.get("type") == "string":
        yield where, schema


def test_every_text_a_client_sends_documents_that_nul_is_refused(doc: dict[str, Any]) -> None:
    # PostgreSQL's text refuses NUL outright: a string that reaches a query
    # unchecked is a 500 there (a fuzzer found one in a query parameter). Every
    # string sent must be an enum, a dated format, or match a pattern that
    # refuses control characters, which the validator enforces as documented.
    sent: list[tuple[str, dict[str, Any]]] = []
    for op, where, p in _parameters(doc):
        sent += _sent_strings(doc, p.get("schema", {}), f"{op} {where} {p['name']}", set())
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for media in op.get("requestBody", {}).get("content", {}).values():
                sent += _sent_strings(doc, media.get("schema", {}), f"{method.upper()} {path} body", set())
    bad = sorted(
        {
            where
            for where, s in sent
            if "enum" not in s
            and "const" not in s
            and s.get("format") not in {"date-time", "date", "binary"}
            and (not s.get("pattern") or re.search(s["pattern"], "a\x00b"))
        }
    )
    assert sent
    assert bad == [], "\n".join(bad)
