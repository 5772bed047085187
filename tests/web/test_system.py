"""Health, readiness, the OpenAPI document and the docs page."""

from __future__ import annotations

import re
from typing import Any

from tracker.scans.schemas import ScanEventIn


def test_it_reports_health_and_readiness(app: Any) -> None:
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["database"] in ("sqlite", "postgresql")


def test_it_reports_not_ready_when_the_database_is_gone(settings: Any, clock: Any) -> None:
    from tracker.app import create_app
    from tracker.core.db import make_engine

    broken = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    answer = create_app(settings, engine=broken, clock=clock).test_client().get("/readyz")
    assert answer.status_code == 503 and answer.json["error"]["code"] == "not_ready"


def test_it_documents_the_api_from_the_validating_schemas(app: Any) -> None:
    doc = app.test_client().get("/openapi.json").json

    assert {"/api/v1/scans", "/api/v1/parcels", "/api/v1/parcels/{tracking_number}"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    assert set(ScanEventIn.model_fields) == set(schemas["ScanEventIn"]["properties"])
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_it_serves_the_docs_page_without_any_external_asset(app: Any) -> None:
    client = app.test_client()
    assert client.get("/docs").status_code == 302
    page = client.get("/docs/swagger", follow_redirects=True)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert not re.search(r"""(src|href)=["']https?://""", html)
    for asset in re.findall(r"""(?:src|href)=["']([^"']+\\.(?:js|css))["']""", html):
        assert client.get(asset).status_code == 200, asset


def test_it_answers_unknown_routes_in_the_error_shape(app: Any) -> None:
    answer = app.test_client().get("/api/v1/nothing-here")
    assert answer.status_code == 404
    assert answer.json["error"]["code"] == "not_found"
