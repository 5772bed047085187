"""A NUL (or another control character) in any query parameter is a 422 naming
it, on PostgreSQL too, where a NUL that reached a query would be a 500.

Walks every GET operation of /openapi.json rather than a list written by hand,
so a list added later is held to it (the fuzzer once found a NUL in
``/epcis/readings?measurement_type`` answered 500)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Personas
from tests.helpers import registration

TN = "TRK0700000001"
PATH_VALUES = {"tracking_number": TN}


def _string_query_parameters(doc: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for path, operations in doc["paths"].items():
        op = operations.get("get")
        if op is None or not path.startswith("/api/"):
            continue
        names = set(re.findall(r"{(\w+)}", path))
        if not names <= set(PATH_VALUES):
            continue
        for p in op.get("parameters", []):
            schema = p.get("schema", {})
            kinds = {s.get("type") for s in schema.get("anyOf", [schema])}
            if p["in"] == "query" and "string" in kinds:
                found.append((path.format(**PATH_VALUES), p["name"]))
    return found


@pytest.mark.parametrize("value", ["a\x00b", "\x00", "x\x07"], ids=["nul-inside", "nul", "bell"])
def test_a_control_character_in_any_query_parameter_is_a_422_naming_it(
    personas: Personas, value: str
) -> None:
    assert personas.merchant.post("/api/v1/parcels", json=registration(TN)).status_code == 201
    doc = personas.ops.get("/openapi.json").json
    checked = _string_query_parameters(doc)
    assert len(checked) >= 20, checked  # the walk found the lists
    wrong = []
    for path, name in checked:
        answer = personas.ops.get(path, query_string={name: value})
        fields = [f["field"] for f in (answer.get_json() or {}).get("error", {}).get("fields", [])]
        if answer.status_code != 422 or name not in fields:
            wrong.append(f"{path}?{name}: {answer.status_code} {fields}")
    assert wrong == []
