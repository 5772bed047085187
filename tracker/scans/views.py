"""The scan API (blueprint ``scans``): scans from the network.

Registering, reading, listing, correcting and cancelling parcels is :mod:`tracker.merchants.views`.

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

from tracker.core.db import run_write
from tracker.core.errors import Conflict, PayloadTooLarge, ValidationFailed
from tracker.core.metrics import DELIVERIES, PROMISE_SLACK, SCANS
from tracker.core.vocabulary import Role
from tracker.keys.principal import check_scan_binding
from tracker.scans.ingest import EventOutcome, store_scans
from tracker.scans.schemas import (
    RejectedEvent,
    ScanEventIn,
    ScanResults,
    ScanSubmission,
)
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
    responses={
        200: ScanResults,
        201: ScanResults,
        409: ErrorOut,
        413: ErrorOut,
        422: ErrorOut,
        **AUTH_ERRORS,
    },
)
def post_scans(body: ScanSubmission):  # type: ignore[no-untyped-def]
    """One event object, or ``{"events": [...]}``; one result per event, in order.

    Accepted events are committed together with the parcels they change;
    an ``event_id`` sent again with the same content answers ``duplicate``,
    with different content ``rejected`` (conflict). A batch answers 200 with
    each event's result; a lone event answers like a resource: 201 accepted,
    200 duplicate, and when rejected the error answer naming its fields (409
    for a conflict, 422 for anything else).
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
    now, source = rt.now(), principal.role.value
    report = run_write(
        rt.unpinged, lambda conn: store_scans(conn, events, source=source, now=now, policy=rt.ingest)
    )
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
        outcome = report.outcomes[0]
        if outcome.result == "rejected":
            raise _refusal(events[0], outcome)
        answer.status_code = 201 if outcome.result == "accepted" else 200
    return answer


def _refusal(event: ScanEventIn | RejectedEvent, outcome: EventOutcome) -> Conflict | ValidationFailed:
    """Why a lone event was rejected, in the one error shape.

    409 only for a conflict: a valid event whose ``event_id`` is stored with
    other content (the one rejection ingest blames on ``event_id``). An event
    that fails validation is a 422 whatever field is to blame, ``event_id``
    included (missing, not text, too long, control characters).
    """
    errors = outcome.errors or []
    if isinstance(event, ScanEventIn) and any(error.field == "event_id" for error in errors):
        return Conflict(f"event {event.event_id} is stored with other content", errors)
    return ValidationFailed("the event is not valid", errors)
