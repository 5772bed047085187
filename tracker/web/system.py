"""Liveness, readiness, metrics, the OpenAPI document and the docs page.

``/metrics`` is open unless the operator closes it, because Prometheus must
reach it without an API key; it can be closed two ways, alone or together
(Prometheus does both):

* ``TRACKER_METRICS_TOKEN``: the scrape must send ``Authorization: Bearer
  <token>`` (401 otherwise; compared in constant time);
* ``TRACKER_METRICS_ALLOW``: the client address (after ``TRACKER_PROXY_HOPS``
  trusted proxies) must lie in one of these networks (403 otherwise).

Its database gauges are read at most once per ``TRACKER_METRICS_CACHE`` per
process (:class:`tracker.core.metrics.GaugeCache`), so a burst of scrapes
costs the database one set of counts.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Response, current_app, jsonify, redirect, request
from flask_openapi3 import APIBlueprint
from sqlalchemy import text

from tracker.core.errors import Forbidden, TrackerError, Unauthenticated
from tracker.core.metrics import GaugeCache, render
from tracker.settings import IPNetwork, Settings
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
    rt = runtime()
    check_scraper(rt.settings, request.remote_addr, request.headers.get("Authorization"))
    cache = current_app.extensions.setdefault(
        "metrics_gauges", GaugeCache(rt.settings.metrics_cache.total_seconds())
    )
    body, content_type = render(rt.engine, cache=cache)
    return Response(body, content_type=content_type)


def check_scraper(settings: Settings, address: str | None, authorization: str | None) -> None:
    """Refuse a scrape from outside ``metrics_allow`` (403) or without ``metrics_token`` (401)."""
    if settings.metrics_allow and not _address_in(address, settings.metrics_allow):
        raise Forbidden(f"/metrics is not served to {address}: see TRACKER_METRICS_ALLOW")
    if settings.metrics_token:
        scheme, _, given = (authorization or "").partition(" ")
        right = hmac.compare_digest(given.strip().encode(), settings.metrics_token.encode())
        if scheme.lower() != "bearer" or not right:
            raise Unauthenticated("/metrics needs 'Authorization: Bearer <TRACKER_METRICS_TOKEN>'")


def _address_in(address: str | None, networks: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


@api.get("/openapi.json")
def openapi_json():  # type: ignore[no-untyped-def]
    return jsonify(current_app.api_doc)  # type: ignore[attr-defined]


@api.get("/docs")
def docs():  # type: ignore[no-untyped-def]
    # Swagger UI, served from the flask-openapi3-swagger package (no CDN).
    return redirect("/docs/swagger", code=302)
