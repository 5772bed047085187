"""Hostile input to the ops API: cases, scorecards, hotspots (issue 11, findings 1, 2 and 6).

Control characters in notes and filters, times that overflow or lie before
2000 (in query parameters and inside a forged cursor), Unix times, and ids
beyond BIGINT are each a 422 naming the field, never a 500, and change nothing.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import T0, Personas
from tracker.cases import store as cases
from tracker.cases.reasons import Reason
from tracker.core.db import write_transaction
from tracker.core.models import Case, CaseEvent
from tracker.core.vocabulary import CaseType


@pytest.fixture
def case_id(personas: Personas, engine: Any) -> int:
    personas.merchant.post(
        "/api/v1/parcels",
        json={"tracking_number": "TRKCASE0001", "service_level": "211", "destination": {"city": "上海"}},
    )
    with write_transaction(engine) as conn:
        parcel_id = conn.exec_driver_sql(
            "SELECT id FROM parcels WHERE tracking_number = 'TRKCASE0001'"
        ).scalar()
        opened, _ = cases.open_case(conn, parcel_id, CaseType.STALE, [Reason("silent", "24 h")], now=T0)
    return opened


def _fields(answer: Any) -> list[str]:
    assert answer.status_code == 422, (answer.status_code, answer.get_json())
    return [f["field"] for f in answer.get_json()["error"]["fields"]]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_a_nul_in_a_case_note_is_a_422_and_the_case_is_unchanged(
    personas: Personas, engine: Any, case_id: int
) -> None:
    acknowledge = personas.ops.post(f"/api/v1/cases/{case_id}/acknowledge", json={"note": "看\u0000过"})
    resolve = personas.ops.post(
        f"/api/v1/cases/{case_id}/resolve", json={"resolution": "no_action", "note": "\u0000"}
    )
    resolution = personas.ops.post(f"/api/v1/cases/{case_id}/resolve", json={"resolution": "no\u0000action"})

    assert _fields(acknowledge) == ["note"]
    assert acknowledge.get_json()["error"]["fields"][0]["message"] == (
        "must not contain control characters (U+0000)"
    )
    assert _fields(resolve) == ["note"]
    assert _fields(resolution) == ["resolution"]
    with engine.connect() as conn:
        assert conn.scalar(select(Case.state).where(Case.id == case_id)) == "open"
        assert list(conn.scalars(select(CaseEvent.action).where(CaseEvent.case_id == case_id))) == ["opened"]


@pytest.mark.parametrize("case", ["55076059223915740790784", str(2**63)])
def test_a_case_id_beyond_bigint_is_a_422_naming_it(personas: Personas, case: str) -> None:
    assert _fields(personas.ops.get(f"/api/v1/cases/{case}")) == ["case_id"]
    assert _fields(personas.ops.post(f"/api/v1/cases/{case}/acknowledge", json={})) == ["case_id"]


def test_the_largest_bigint_is_simply_not_found(personas: Personas) -> None:
    assert personas.ops.get(f"/api/v1/cases/{2**63 - 1}").status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"until": "0001-01-02T00:00:00Z"}, "until"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-05:00"}, "until"),
        ({"since": "1970-01-01T00:00:00Z"}, "since"),
        ({"until": "0.5"}, "until"),
        ({"facility": "ST-SH-01\u0000"}, "facility"),
        ({"courier_id": "C\u0000"}, "courier_id"),
        ({"cursor": _cursor("0001-01-01T00:00:00+01:00|5")}, "cursor"),
        ({"cursor": _cursor("9999-12-31T23:59:59-05:00|5")}, "cursor"),
        ({"cursor": _cursor(f"2026-11-20T04:00:00+00:00|{2**63}")}, "cursor"),
    ],
)
def test_case_queries_refuse_what_would_overflow_or_reach_the_database_as_nul(
    query: dict[str, str], field: str, personas: Personas
) -> None:
    assert _fields(personas.ops.get("/api/v1/cases", query_string=query)) == [field]


def test_a_cursor_the_api_gave_out_still_works(personas: Personas, case_id: int) -> None:
    good = _cursor(f"{T0.replace(year=2027).isoformat()}|{case_id + 1}")

    answer = personas.ops.get("/api/v1/cases", query_string={"cursor": good})

    assert answer.status_code == 200 and [c["case_id"] for c in answer.get_json()["cases"]] == [case_id]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/couriers/C-SH011/scorecard",
        "/api/v1/facilities/ST-SH-01/scorecard",
        "/api/v1/hotspots/damage",
    ],
)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"until": "0001-01-02T00:00:00Z"}, "until"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-05:00"}, "until"),
        ({"until": "0.5"}, "until"),
    ],
)
def test_reports_refuse_periods_out_of_range(
    url: str, query: dict[str, str], field: str, personas: Personas
) -> None:
    assert _fields(personas.ops.get(url, query_string=query)) == [field]


def test_a_nul_in_a_report_s_code_is_a_422(personas: Personas) -> None:
    assert _fields(personas.ops.get("/api/v1/couriers/C%00/scorecard")) == ["courier_id"]
    assert _fields(personas.ops.get("/api/v1/facilities/ST%00/scorecard")) == ["facility"]
