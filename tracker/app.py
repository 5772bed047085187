"""The app factory: one blueprint per audience.

=============  =====================================  ==========================
blueprint      who calls it                           module
=============  =====================================  ==========================
scans          couriers, facilities, merchants        :mod:`tracker.scans.views`
parcels        merchants, couriers, ops: parcels      :mod:`tracker.merchants.views`
cases          ops: cases and their workflow          :mod:`tracker.cases.views`
reports        ops: scorecards, damage hotspots       :mod:`tracker.detection.views`
routes         ops, stations: route plans             :mod:`tracker.routing.views`
epcis          warehouses, sensors: GS1 EPCIS 2.0     :mod:`tracker.epcis.views`
system         load balancers, Prometheus, browsers   :mod:`tracker.web.system`
track_*        customers: pages and JSON, no key      :mod:`tracker.tracking.pages` + ``.api``
console        ops staff in a browser: /ops, signed   :mod:`tracker.console.views`
               in with a password, never a key
=============  =====================================  ==========================

Nothing reads configuration at import time: :func:`create_app` takes a
:class:`~tracker.settings.Settings` (from the environment when omitted).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from flask import Response, g, request
from flask_openapi3 import Info
from pydantic import ValidationError
from sqlalchemy import Engine

from tracker import __version__
from tracker.core import logs, metrics
from tracker.core.db import make_engine
from tracker.core.errors import ValidationFailed, field_errors
from tracker.scans.ingest import IngestPolicy
from tracker.settings import Settings
from tracker.sla import holiday_schedule_warning, load_service_levels
from tracker.web.auth import authenticate_request
from tracker.web.errors import page_errors_under, register_error_handlers
from tracker.web.jsonio import JsonRequest, OrjsonProvider, parse_json_body
from tracker.web.openapi import TrackerOpenAPI
from tracker.web.runtime import Runtime, utc_now

log = logging.getLogger("tracker.http")

#: Blueprints whose POSTs are HTML form submissions, not JSON.
FORM_BLUEPRINTS = frozenset({"track_pages", "console"})

SECURITY_SCHEMES = {"bearer": {"type": "http", "scheme": "bearer", "description": "API key"}}


def _validation_error(error: ValidationError) -> Response:
    # flask-openapi3 hands request validation errors here: give them our shape.
    raise ValidationFailed("the request is not valid", field_errors(error))


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> TrackerOpenAPI:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level, settings.log_format)
    app = TrackerOpenAPI(
        __name__,
        info=Info(title="tracker", version=__version__),
        security_schemes=SECURITY_SCHEMES,
        doc_prefix="/docs",
        doc_url="/openapi.json",
        validation_error_status=422,
        validation_error_callback=_validation_error,
        instance_path=str(settings.instance_path.resolve()),
    )
    app.json = OrjsonProvider(app)
    app.request_class = JsonRequest
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    # Service levels are validated here, at start: a bad file stops the app.
    policy = IngestPolicy(
        clock_skew=settings.clock_skew, levels=load_service_levels(settings.service_levels_path)
    )
    warning = holiday_schedule_warning(policy.levels, clock().astimezone(settings.timezone).date())
    if warning:
        logging.getLogger("tracker.sla").warning(warning)
    app.extensions["tracker"] = Runtime(
        settings=settings,
        engine=engine
        or make_engine(settings.sqlalchemy_url, prepared_statements=settings.database_prepared_statements),
        ingest=policy,
        clock=clock,
    )

    metrics.initialise_labels()
    register_error_handlers(app)
    _register_request_hooks(app)

    from tracker.cases import feedback_views
    from tracker.cases import views as cases
    from tracker.detection import views as reports
    from tracker.epcis import views as epcis
    from tracker.merchants import views as parcels
    from tracker.notify import views as webhooks
    from tracker.routing import views as routes
    from tracker.scans import views as scans
    from tracker.tracking import api as track_api
    from tracker.tracking import http as track_http
    from tracker.tracking import pages as track_pages
    from tracker.web import system

    app.register_api(scans.api)
    app.register_api(parcels.api)
    app.register_api(cases.api)
    app.register_api(feedback_views.api)
    app.register_api(reports.api)
    app.register_api(routes.api)
    app.register_api(system.api)
    app.register_api(epcis.api)
    app.register_api(webhooks.api)
    track_http.init_app(app, pages=track_pages.pages, api=track_api.api)
    # After the tracking blueprints: the console shares their Babel, secret and limiter storage.
    from tracker.console import auth as console_auth
    from tracker.console import views as console

    console_auth.init_app(app, settings)
    app.register_blueprint(console.console)
    # Their URLs that match no route (a mistyped id, a wrong method) get their pages too.
    page_errors_under(app, "/track", track_pages.error_page)
    page_errors_under(app, "/ops", console.error_page)
    if settings.sweep_interval > 0:
        from tracker import scheduler

        scheduler.start(app, settings.sweep_interval)
    return app


def _register_request_hooks(app: TrackerOpenAPI) -> None:
    @app.before_request
    def _parse_json_body() -> None:
        g.started = time.perf_counter()
        if request.blueprint in FORM_BLUEPRINTS or request.routing_exception is not None:
            return  # the tracking page's forms post form data; an unknown URL is a 404 whatever its body
        if authenticate_request in app.before_request_funcs.get(request.blueprint, ()):
            return  # parsed once the caller is known: 401 before 400 (tracker.web.auth)
        parse_json_body()

    @app.after_request
    def _log_request(response: Response) -> Response:
        started = g.get("started")
        if started is None:
            return response
        elapsed = time.perf_counter() - started
        # The endpoint name, not the path: a bounded label set.
        endpoint = request.endpoint or "unmatched"
        method = metrics.method_label(request.method)
        metrics.HTTP_REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        metrics.HTTP_LATENCY.labels(endpoint, method).observe(elapsed)
        # Checked first: the fields cost more to build than the line costs to drop.
        if log.isEnabledFor(logging.INFO) and request.endpoint not in ("system.metrics", "system.healthz"):
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": request.method,
                        "path": request.path,
                        "endpoint": request.endpoint,
                        "status": response.status_code,
                        "ms": round(elapsed * 1000, 2),
                        # Which server answered a routed read (tracker.core.replicas).
                        **({"db": g.read_from} if "read_from" in g else {}),
                    }
                },
            )
        return response
