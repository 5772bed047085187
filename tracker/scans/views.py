"""The scan API (blueprint ``scans``) and the ops view of a parcel (blueprint ``ops``).

``scans``: parcels registered by merchants, scans from the network.

``POST /api/v1/scans`` is the hot path; it validates each event on its own
(:mod:`tracker.scans.schemas`), refuses a batch in which a bound key speaks for
someone else or scans where it does not belong (403, nothing stored: see
:func:`tracker.keys.principal.check_scan_binding`), and hands the rest to
:func:`tracker.scans.ingest.store_scans` inside one transaction.
"""

from __future__ import annotations

import logging
from collections import Counter

from flask import jsonify
from flask_openapi3 import APIBlueprint, Tag

from tracker.core.db import write_transaction
from tracker.core.errors import PayloadTooLarge
from tracker.core.metrics import DELIVERIES, PROMISE_SLACK, SCANS
from tracker.core.vocabulary import Role
from tracker.keys.principal import check_scan_binding
from tracker.scans.ingest import store_scans
from tracker.scans.parcels import parcel_record, register_parcel
from tracker.scans.schemas import ParcelIn, ScanEventIn, ScanResults, ScanSubmission, TrackingPath
from tracker.web.auth import AUTH_ERRORS, authenticate_request, caller
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut

log = logging.getLogger("tracker.scans")

api = APIBlueprint(
    "scans",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="scan API", description="Couriers, facilities and merchants")],
    abp_security=[{"bearer": []}],
)
api.before_request(authenticate_request)


@api.post(
    "/scans",
    summary="Report one scan event or a batch",
    responses={200: ScanResults, 413: ErrorOut, 422: ErrorOut, **AUTH_ERRORS},
)
def post_scans(body: ScanSubmission):  # type: ignore[no-untyped-def]
    """One event object, or ``{"events": [...]}``; one result per event, in order.

    Accepted events are committed together with the parcels they change;
    an ``event_id`` sent again with the same content answers ``duplicate``,
    with different content ``rejected`` (conflict).
    """
    principal = caller(Role.COURIER, Role.FACILITY)
    rt = runtime()
    events, is_batch = body.events()
    if len(events) > rt.settings.batch_limit:
        raise PayloadTooLarge(
            f"a batch holds at most {rt.settings.batch_limit} events; this one has {len(events)}"
        )
    for index, event in enumerate(events):
        if isinstance(event, ScanEventIn):
            check_scan_binding(principal, index, event.event_id, event.courier_id, event.facility)
            # A bound key's scans carry its binding even when the client left it out.
            if principal.courier_code and event.courier_id is None:
                event.courier_id = principal.courier_code
            if principal.facility_code and event.facility is None:
                event.facility = principal.facility_code
    with write_transaction(rt.engine) as conn:
        report = store_scans(conn, events, source=principal.role.value, now=rt.now(), policy=rt.ingest)
    counts = Counter((o.type or "unknown", o.result) for o in report.outcomes)
    for (type_, result), n in counts.items():
        SCANS.labels(type_, principal.role.value, result).inc(n)
    for delivery in report.deliveries:
        outcome = "on_time" if delivery.on_time else "late"
        DELIVERIES.labels(delivery.service_level, delivery.region_class, outcome).inc()
        PROMISE_SLACK.labels(delivery.service_level).observe(delivery.slack_seconds)
    log.info(
        "scans stored",
        extra={
            "fields": {
                "key": principal.key_id,
                "accepted": report.count("accepted"),
                "duplicates": report.count("duplicate"),
                "rejected": report.count("rejected"),
            }
        },
    )
    answer = jsonify(report.to_dict())
    if not is_batch:
        answer.status_code = _single_status(report.outcomes[0].result, report.outcomes[0].errors)
    return answer


def _single_status(result: str, errors: object) -> int:
    # A lone event answers like a REST resource; a batch is always 200.
    if result == "accepted":
        return 201
    if result == "duplicate":
        return 200
    conflict = any(getattr(e, "field", "") == "event_id" for e in errors or [])  # type: ignore[attr-defined]
    return 409 if conflict else 422


@api.post(
    "/parcels",
    summary="Register a parcel",
    responses={201: None, 200: None, 409: ErrorOut, 422: ErrorOut, **AUTH_ERRORS},
)
def post_parcel(body: ParcelIn):  # type: ignore[no-untyped-def]
    """Register (or complete) a parcel; the same registration again is harmless."""
    caller(Role.MERCHANT, Role.FACILITY)
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        registered = register_parcel(conn, body, now=rt.now(), policy=rt.ingest)
    answer = jsonify({"tracking_number": body.tracking_number, "result": registered.outcome})
    answer.status_code = 201 if registered.outcome == "created" else 200
    answer.headers["Location"] = f"/api/v1/parcels/{body.tracking_number}"
    return answer


# The ops view of a parcel: everything about it, unmasked, for operations staff.
ops_api = APIBlueprint(
    "ops",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="ops", description="Operations staff")],
    abp_security=[{"bearer": []}],
)
ops_api.before_request(authenticate_request)


@ops_api.get(
    "/parcels/<tracking_number>",
    summary="A parcel with its events and cases",
    responses={404: ErrorOut, **AUTH_ERRORS},
)
def get_parcel(path: TrackingPath):  # type: ignore[no-untyped-def]
    caller(Role.OPS)
    with runtime().engine.connect() as conn:
        return jsonify(parcel_record(conn, path.tracking_number, zone=runtime().settings.timezone))
