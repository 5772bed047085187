"""Liveness, readiness, the OpenAPI document and the docs page."""

from __future__ import annotations

from flask import Response, current_app, jsonify, redirect
from flask_openapi3 import APIBlueprint
from sqlalchemy import text

from tracker.core.errors import TrackerError
from tracker.web.runtime import runtime

api = APIBlueprint("system", __name__, doc_ui=False)


@api.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """The process answers."""
    return jsonify({"status": "ok"})


@api.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """The database answers too."""
    try:
        with runtime().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        error = TrackerError(f"database unreachable: {type(exc).__name__}")
        error.status, error.code = 503, "not_ready"
        raise error from None
    return jsonify({"status": "ready", "database": runtime().engine.dialect.name})


@api.get("/metrics")
def metrics():  # type: ignore[no-untyped-def]
    """Prometheus exposition (see tracker.core.metrics)."""
    from tracker.core.metrics import render

    body, content_type = render(runtime().engine)
    return Response(body, content_type=content_type)


@api.get("/openapi.json")
def openapi_json():  # type: ignore[no-untyped-def]
    return jsonify(current_app.api_doc)  # type: ignore[attr-defined]


@api.get("/docs")
def docs():  # type: ignore[no-untyped-def]
    # Swagger UI, served from the flask-openapi3-swagger package (no CDN).
    return redirect("/docs/swagger", code=302)
