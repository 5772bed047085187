"""The fuzzer's recorded mistakes (tests/service/fuzz_hooks.py) drop only what they name.

A recorded mistake must never grow into a place where a real defect hides:
each drops the failure it describes, for its operation and its answer, and
keeps the same failure anywhere else or with anything more in the answer.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

HOOKS = Path(__file__).with_name("fuzz_hooks.py")


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_hooks_under_test", HOOKS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _case(method: str, path: str) -> Any:
    return SimpleNamespace(method=method, operation=SimpleNamespace(path=path))


def _answer(status: int, fields: list[tuple[str, str]] | None = None, url: str = "http://h/x") -> Any:
    body = {
        "error": {
            "code": "x",
            "message": "x",
            "fields": [{"field": f, "message": m} for f, m in fields or []],
        }
    }
    return SimpleNamespace(
        status_code=status, content=json.dumps(body).encode(), request=SimpleNamespace(url=url)
    )


def _kept(hooks: ModuleType, code: str, case: Any, answer: Any) -> bool:
    return bool(hooks.filter_failure(None, SimpleNamespace(code=code), case, answer))


def test_an_unstated_rule_drops_its_own_422_only(hooks: ModuleType) -> None:
    order = [("until", "must be after since")]

    assert not _kept(hooks, "ST202", _case("GET", "/api/v1/cases"), _answer(422, order))
    # Another operation, another check, another status, another field, or one more field: kept.
    assert _kept(hooks, "ST202", _case("POST", "/api/v1/parcels"), _answer(422, order))
    assert _kept(hooks, "ST201", _case("GET", "/api/v1/cases"), _answer(422, order))
    assert _kept(hooks, "ST202", _case("GET", "/api/v1/cases"), _answer(400, order))
    assert _kept(
        hooks, "ST202", _case("GET", "/api/v1/cases"), _answer(422, [("since", "must be after since")])
    )
    assert _kept(
        hooks,
        "ST202",
        _case("GET", "/api/v1/cases"),
        _answer(422, [*order, ("limit", "must be 500 or less")]),
    )


def test_unstated_rules_of_one_operation_explain_a_422_together(hooks: ModuleType) -> None:
    both = [("service_level", "unknown service level 'x'"), ("ordered_at", "lies more than a year ahead")]

    assert not _kept(hooks, "ST202", _case("POST", "/api/v1/parcels"), _answer(422, both))
    assert _kept(
        hooks, "ST202", _case("POST", "/api/v1/parcels"), _answer(422, [*both, ("weight_kg", "bad")])
    )


def test_a_414_is_gunicorn_s_only_for_a_request_line_past_its_limit(hooks: ModuleType) -> None:
    case = _case("GET", "/api/v1/cases")
    long_url = "http://h/api/v1/cases?cursor=" + "x" * 4100

    assert not _kept(hooks, "ST103", case, _answer(414, url=long_url))
    assert _kept(hooks, "ST103", case, _answer(414, url="http://h/api/v1/cases?cursor=x"))


def test_a_batch_answer_is_a_rejection_only_when_it_rejected_an_event(hooks: ModuleType) -> None:
    case = _case("POST", "/api/v1/scans")

    def batch(rejected: int) -> Any:
        body = {"accepted": 1 - rejected, "duplicates": 0, "rejected": rejected, "results": []}
        return SimpleNamespace(status_code=200, content=json.dumps(body).encode())

    assert not _kept(hooks, "ST201", case, batch(1))
    assert _kept(hooks, "ST201", case, batch(0))


def test_every_recorded_mistake_says_why(hooks: ModuleType) -> None:
    assert all(len(m.why) > 40 for m in hooks.MISTAKES)
    assert len({m.name for m in hooks.MISTAKES}) == len(hooks.MISTAKES)


def test_a_pickup_code_on_a_scan_that_is_not_collected_is_a_rule_between_fields(hooks: ModuleType) -> None:
    # What CI's fuzzer sent at 08:2x on 2026-12-02: an "arrived" scan with a pickup code.
    code_on_arrival = [("pickup_code", "only a collected scan carries a pickup code")]
    scans = _case("POST", "/api/v1/scans")

    assert not _kept(hooks, "ST202", scans, _answer(422, code_on_arrival))
    assert _kept(hooks, "ST202", scans, _answer(422, [("pickup_code", "must be 6 digits")]))
    assert _kept(hooks, "ST202", _case("POST", "/api/v1/parcels"), _answer(422, code_on_arrival))


# Rules the audit of every schema-valid 422 found unlisted (2026-12-02): per rule, the
# operation and field the API blames, its message, a message the rule must not cover, and
# an operation it must not cover.
FOUND_BY_AUDIT = {
    # The drive between a vehicle's start and end points (or a problem start after the shift)
    # is the solver's to judge; a station's day drives from its depot to its depot.
    "a shift too short to drive": (
        "POST /api/v1/routes/optimize",
        "vehicles.0.shift_end",
        "the shift is too short to drive from its start to its end (or ends before the plan starts)",
        "must be a number",
        "POST /api/v1/facilities/{facility}/routes",
    ),
    # A correction cannot change the SSCC: there the same answer is news.
    "an SSCC another parcel holds": (
        "POST /api/v1/parcels",
        "sscc",
        "already the SSCC of parcel TRK0700000001",
        "String should match pattern",
        "PATCH /api/v1/parcels/{tracking_number}",
    ),
    "a cursor of the other sort order": (
        "GET /api/v1/cases",
        "cursor",
        "not a cursor of this sort order",
        "not a cursor of this API",
        "GET /api/v1/parcels",
    ),
    "a re-enabled webhook's URL resolved again": (
        "POST /api/v1/webhooks/{webhook_id}/enable",
        "url",
        "hooks.example.com leads to 10.0.0.7 is not a public address",
        "only http and https URLs can receive webhooks",
        "POST /api/v1/webhooks/{webhook_id}/rotate",
    ),
    "a location mapped to an unknown facility": (
        "POST /api/v1/epcis/locations",
        "facility",
        "unknown facility code 'X1'",
        "must not be blank",
        "POST /api/v1/epcis/capture",
    ),
}


@pytest.mark.parametrize("rule", FOUND_BY_AUDIT)
def test_a_rule_the_audit_found_drops_its_own_422_only(hooks: ModuleType, rule: str) -> None:
    operation, field, message, other_message, other_operation = FOUND_BY_AUDIT[rule]
    case = _case(*operation.split(" "))

    assert not _kept(hooks, "ST202", case, _answer(422, [(field, message)]))
    assert _kept(hooks, "ST202", case, _answer(422, [(field, other_message)]))
    assert _kept(hooks, "ST202", _case(*other_operation.split(" ")), _answer(422, [(field, message)]))
