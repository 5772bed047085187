"""One API language, the small things (issue 11, finding 11).

Optional bodies are optional, the caller is authenticated before its body is
read, ``Retry-After`` comes only with a 429 or a 503, an empty filter is no
filter, and a scan's ``reason`` is one of the documented codes.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import T0, Personas
from tests.helpers import at, registration, scan
from tracker.app import create_app
from tracker.cases import store as cases
from tracker.cases.reasons import Reason
from tracker.core.db import write_transaction
from tracker.core.models import Parcel, ScanEvent
from tracker.core.vocabulary import CaseType, ScanReason
from tracker.tracking import i18n

TN = "TRKLANG0001"


@pytest.fixture
def case_id(personas: Personas, engine: Any) -> int:
    assert personas.merchant.post("/api/v1/parcels", json=registration(TN)).status_code == 201
    with write_transaction(engine) as conn:
        parcel_id = conn.scalar(select(Parcel.id).where(Parcel.tracking_number == TN))
        opened, _ = cases.open_case(conn, parcel_id, CaseType.STALE, [Reason("silent", "24 h")], now=T0)
    return opened


# (a) Optional bodies are optional.


@pytest.mark.parametrize(
    "body",
    [
        {},  # no body, no Content-Type (curl -X POST)
        {"data": b"", "content_type": "application/json"},
        {"data": b" \n", "content_type": "application/json"},
    ],
    ids=["none", "empty", "blank"],
)
def test_acknowledging_needs_no_body(personas: Personas, case_id: int, body: dict[str, Any]) -> None:
    answer = personas.ops.post(f"/api/v1/cases/{case_id}/acknowledge", **body)

    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["state"] == "acknowledged"


def test_an_empty_body_where_fields_are_required_is_a_422_naming_them(
    personas: Personas, case_id: int
) -> None:
    answer = personas.ops.post(f"/api/v1/cases/{case_id}/resolve", data=b"", content_type="application/json")

    assert answer.status_code == 422, answer.get_json()
    assert [f["field"] for f in answer.get_json()["error"]["fields"]] == ["resolution"]


# (b) Authentication before validation.


@pytest.mark.parametrize("path", ["/api/v1/scans", "/api/v1/parcels", "/api/v1/routes/optimize"])
def test_a_malformed_body_without_a_key_is_a_401(personas: Personas, path: str) -> None:
    malformed = personas.anonymous.post(path, data=b'{"events": [', content_type="application/json")
    wrong_type = personas.anonymous.post(path, data=b"events", content_type="text/plain")

    assert malformed.status_code == 401, malformed.get_json()
    assert wrong_type.status_code == 401, wrong_type.get_json()


def test_a_malformed_body_with_a_key_says_where_the_json_breaks(personas: Personas) -> None:
    answer = personas.admin.post("/api/v1/scans", data=b'{"events": [', content_type="application/json")

    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"].startswith("malformed JSON: ")


def test_a_public_endpoint_still_reads_its_body_first(personas: Personas) -> None:
    answer = personas.anonymous.post(
        f"/api/v1/track/{TN}/feedback", data=b'{"kind": ', content_type="application/json"
    )

    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"].startswith("malformed JSON: ")


# (c) Retry-After only on 429 and 503.


def test_retry_after_comes_only_with_a_429(
    personas: Personas, settings: Any, engine: Any, clock: Any
) -> None:
    assert personas.merchant.post("/api/v1/parcels", json=registration(TN)).status_code == 201
    limited_app = create_app(settings.but(ratelimit_read="2/minute", workers=1), engine=engine, clock=clock)
    client = limited_app.test_client()

    hit, miss, limited = (
        client.get(f"/api/v1/track/{tn}", environ_base={"REMOTE_ADDR": "192.0.2.7"})
        for tn in (TN, "TRKNOSUCH01", TN)
    )

    assert (hit.status_code, miss.status_code, limited.status_code) == (200, 404, 429)
    assert "Retry-After" not in hit.headers and "Retry-After" not in miss.headers
    assert hit.headers["X-RateLimit-Limit"] == "2"
    assert 0 < int(limited.headers["Retry-After"]) <= 60


# (d) An empty filter is no filter.


def test_an_empty_filter_is_no_filter(personas: Personas, case_id: int) -> None:
    def ids(query: str) -> list[int]:
        answer = personas.ops.get(f"/api/v1/cases?{query}")
        assert answer.status_code == 200, answer.get_json()
        return [c["case_id"] for c in answer.get_json()["cases"]]

    assert ids("tracking_number=") == ids("courier_id=&facility=&state=") == ids("") == [case_id]
    assert ids(f"tracking_number={TN}") == [case_id]
    assert ids("tracking_number=TRKOTHER001") == []
    assert personas.ops.get("/api/v1/cases?no_such_filter=").status_code == 422


# (e) Scan reasons are an enumeration.


def test_the_reason_codes_are_an_enumeration_in_the_openapi(app: Any) -> None:
    doc = app.test_client().get("/openapi.json").json
    schemas = doc["components"]["schemas"]

    assert schemas["ScanReason"]["enum"] == [r.value for r in ScanReason]
    assert "address_problem" not in schemas["ScanReason"]["enum"]
    assert set(i18n.REASONS) == set(ScanReason)  # every code reads as words on the public page


def _failed(event_id: str, reason: str) -> dict[str, Any]:
    return scan(event_id, TN, "delivery_failed", at(T0, -60), courier_id="C-SH011", reason=reason)


def test_an_unknown_reason_is_rejected_listing_the_known_ones(personas: Personas, engine: Any) -> None:
    assert personas.merchant.post("/api/v1/parcels", json=registration(TN)).status_code == 201
    answer = personas.courier.post("/api/v1/scans", json={"events": [_failed("E-1", "nobody_in")]})

    rejected = answer.get_json()["results"][0]
    assert rejected["result"] == "rejected", rejected
    (error,) = rejected["errors"]
    assert error["field"] == "reason"
    assert all(f"'{code}'" in error["message"] for code in ScanReason)
    with engine.connect() as conn:
        assert conn.scalar(select(ScanEvent.event_id)) is None


def test_the_old_spelling_is_stored_as_the_code(personas: Personas, engine: Any) -> None:
    assert personas.merchant.post("/api/v1/parcels", json=registration(TN)).status_code == 201
    events = [_failed("E-1", "address_problem"), _failed("E-2", "address_issue")]
    answer = personas.courier.post("/api/v1/scans", json={"events": events})

    assert answer.get_json()["accepted"] == 2, answer.get_json()
    with engine.connect() as conn:
        assert list(conn.scalars(select(ScanEvent.reason).order_by(ScanEvent.event_id))) == [
            "address_issue",
            "address_issue",
        ]


def test_stored_scans_read_in_the_codes_of_today() -> None:
    from tracker.tracking.view import _public_reason

    assert _public_reason("address_problem") == _public_reason("address_issue") == "address_issue"
    assert _public_reason("courier lost it in the river") is None
