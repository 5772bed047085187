"""The EPCIS 2.0 endpoints (blueprint ``epcis``): capture, capture jobs, event queries, readings.

=================================================  =====================  =============================
endpoint                                           who                    what
=================================================  =====================  =============================
``POST /api/v1/epcis/capture``                     facility, admin        capture a document: 200 with
                                                                          the per-event report (small
                                                                          documents), else 202
``GET /api/v1/epcis/capture/{capture_id}``         ops, admin, its        the job and its report
                                                   facility
``GET /api/v1/epcis/events``                       ops, admin             EPCIS query, query document
``GET /api/v1/parcels/{tracking_number}/epcis``    ops, admin             one parcel's events
``GET /api/v1/epcis/readings``                     ops, admin             sensor readings
``POST /api/v1/epcis/locations``                   admin                  location -> facility mapping
=================================================  =====================  =============================

Field and parameter names of the capture job and the query are the EPCIS 2.0
standard's (``captureID``, ``GE_eventTime``, ``perPage``...), as its REST
binding fixes them; the readings and locations endpoints are tracker's own
and use tracker's names (``limit``, ``cursor``, ``next``).

A document that fails the EPCIS 2.0 schema is refused whole, 422, each error
named by its JSON pointer (the binding's 400 ValidationException, in
tracker's one error shape). A facility key may capture only events whose
business location (else read point) is its facility, as an SGLN/GLN equal to
its code or a configured mapping: otherwise 403 for the whole document,
nothing stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag

from tracker.core.db import write_transaction
from tracker.core.errors import FieldError, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from tracker.core.timefmt import iso_local, iso_local_or_none
from tracker.core.vocabulary import Role
from tracker.epcis import capture, store
from tracker.epcis.document import list_path, parse_events, validate
from tracker.epcis.identifiers import location_key
from tracker.epcis.query import EventFilter, decode_token, encode_token, event_out, query_document, split
from tracker.epcis.schemas import (
    CaptureJobOut,
    CapturePath,
    EventsQuery,
    LocationIn,
    LocationOut,
    ParcelPath,
    QueryDocumentOut,
    ReadingListOut,
    ReadingOut,
    ReadingsQuery,
)
from tracker.keys.principal import Principal
from tracker.web import cursors
from tracker.web.auth import AUTH_ERRORS, authenticate_request, caller
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut

api = APIBlueprint(
    "epcis",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[
        Tag(name="EPCIS 2.0", description="GS1 EPCIS capture and query (warehouses, sensors, carriers)")
    ],
    abp_security=[{"bearer": []}],
)
api.before_request(authenticate_request)

GS1_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
_THREAD = "tracker.epcis.capture_thread"


@api.after_request
def _gs1_headers(response: Response) -> Response:
    for name, value in GS1_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _thread() -> capture.CaptureThread:
    # One per app (and so per worker process), made on first use.
    thread = current_app.extensions.get(_THREAD)
    if thread is None:
        thread = current_app.extensions[_THREAD] = capture.CaptureThread()
    return thread  # type: ignore[no-any-return]


@api.post(
    "/epcis/capture",
    summary="Capture an EPCIS 2.0 document",
    responses={200: CaptureJobOut, 202: None, 413: ErrorOut, 415: ErrorOut, 422: ErrorOut, **AUTH_ERRORS},
)
def post_capture():  # type: ignore[no-untyped-def]
    """An ``EPCISDocument`` (or ``EPCISQueryDocument``), JSON-LD or JSON.

    Validated whole against the official EPCIS 2.0 JSON schema (422 with the
    JSON pointer of every error). ``GS1-Capture-Error-Behaviour``:
    ``rollback`` (default: a rejected event undoes the document) or
    ``proceed``. Documents of at most 100 events are captured at once (200,
    the job with one report per event); larger ones answer 202 with
    ``Location: /api/v1/epcis/capture/{capture_id}``.
    """
    principal = caller(Role.FACILITY)
    rt = runtime()
    document: Any = request.get_json(force=True)
    behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "rollback").strip().lower()
    if behaviour not in capture.ERROR_BEHAVIOURS:
        raise ValidationFailed(
            "unknown GS1-Capture-Error-Behaviour",
            [FieldError("GS1-Capture-Error-Behaviour", "must be rollback or proceed")],
        )
    errors = validate(document)
    if errors:
        raise ValidationFailed("the document is not a valid EPCIS 2.0 document", errors)
    events = parse_events(document)
    limit = rt.settings.batch_limit
    if len(events) > limit:
        answer = jsonify(
            PayloadTooLarge(
                f"a capture takes at most {limit} events; this document has {len(events)}"
            ).to_dict()
        )
        answer.status_code = 413
        answer.headers["GS1-EPCIS-Capture-Limit"] = str(limit)
        return answer
    now = rt.now()
    with write_transaction(rt.engine) as conn:
        _check_locations(conn, principal, events, list_path(document))
        capture_id = capture.open_capture(
            conn,
            document,
            event_count=len(events),
            requested_by=f"{principal.role.value}:{principal.key_id}",
            facility=principal.facility_code,
            behaviour=behaviour,
            now=now,
        )
        stale = capture.orphaned(conn, now)
    for job in stale:
        _thread().submit(rt.engine, job, policy=rt.ingest, clock=rt.now)
    location = f"/api/v1/epcis/capture/{capture_id}"
    if len(events) > capture.SYNC_EVENTS:
        _thread().submit(rt.engine, capture_id, policy=rt.ingest, clock=rt.now)
        answer = Response(status=202)
        answer.headers["Location"] = location
        return answer
    capture.run_capture(rt.engine, capture_id, policy=rt.ingest, now=now)
    with rt.engine.connect() as conn:
        answer = jsonify(_job(conn, capture_id))
    answer.headers["Location"] = location
    return answer


def _check_locations(conn: Any, principal: Principal, events: list[Any], where: str) -> None:
    """A facility key captures only at its facility (the whole document is refused otherwise)."""
    if principal.role is not Role.FACILITY:
        return
    places = store.facilities_of(conn, (e.location for e in events))
    wrong = []
    for index, event in enumerate(events):
        field = f"{where}/{index}/{'bizLocation' if event.biz_location else 'readPoint'}"
        if event.location is None:
            wrong.append(FieldError(f"{where}/{index}/bizLocation", "a facility key names its facility here"))
        elif places.get(event.location) != principal.facility_code:
            mapped = places.get(event.location)
            what = f"is facility {mapped}" if mapped else "maps to no facility"
            wrong.append(
                FieldError(
                    field, f"{event.location} {what}; this key captures at {principal.facility_code} only"
                )
            )
    if wrong:
        raise Forbidden(f"a {principal.describe()} captures only events at its facility", wrong[:100])


def _job(conn: Any, capture_id: str) -> dict[str, Any]:
    row = capture.capture_row(conn, capture_id)
    if row is None:
        raise NotFound(f"no capture {capture_id}")
    zone = runtime().settings.timezone
    report = row.report or []
    errors = [e for entry in report for e in entry.get("errors", [])]
    return CaptureJobOut(
        captureID=row.capture_id,
        createdAt=iso_local(row.created_at, zone),
        finishedAt=iso_local_or_none(row.finished_at, zone),
        running=row.state == "running",
        success=row.state != "failed",
        captureErrorBehaviour=row.error_behaviour,
        errors=errors,
        events=report,
    ).model_dump()


@api.get(
    "/epcis/capture/<capture_id>",
    summary="A capture job and what became of each event",
    responses={200: CaptureJobOut, 404: ErrorOut, **AUTH_ERRORS},
)
def get_capture(path: CapturePath):  # type: ignore[no-untyped-def]
    principal = caller(Role.OPS, Role.FACILITY)
    with runtime().engine.connect() as conn:
        row = capture.capture_row(conn, path.capture_id)
        # Another facility's job is as absent as an unknown one.
        if row is None or (principal.role is Role.FACILITY and row.facility_code != principal.facility_code):
            raise NotFound(f"no capture {path.capture_id}")
        return jsonify(_job(conn, path.capture_id))


@api.get(
    "/epcis/events",
    summary="Query EPCIS events (REST binding parameters)",
    responses={200: QueryDocumentOut, 422: ErrorOut, **AUTH_ERRORS},
)
def get_events(query: EventsQuery):  # type: ignore[no-untyped-def]
    """An EPCISQueryDocument of the matching events in (eventTime, capture) order.

    ``perPage`` (default 30, at most 500) events a page; while more remain,
    ``Link: <url>; rel="next"`` gives the next page (with ``nextPageToken``).
    """
    caller(Role.OPS)
    rt = runtime()
    after = None
    if query.nextPageToken:
        try:
            after = decode_token(query.nextPageToken)
        except ValueError as exc:
            raise ValidationFailed("bad page token", [FieldError("nextPageToken", str(exc))]) from None
    flt = EventFilter(
        event_types=split(query.eventType),
        ge_event_time=query.GE_eventTime,
        lt_event_time=query.LT_eventTime,
        biz_steps=split(query.EQ_bizStep),
        dispositions=split(query.EQ_disposition),
        biz_locations=split(query.EQ_bizLocation),
        match_epc=split(query.MATCH_epc),
        match_any_epc=split(query.MATCH_anyEPC),
        after=after,
    )
    with rt.engine.connect() as conn:
        rows = store.find_events(conn, flt, query.perPage + 1)
    page, more = rows[: query.perPage], len(rows) > query.perPage
    zone = rt.settings.timezone
    answer = jsonify(query_document((event_out(r, zone) for r in page), now=rt.now(), zone=zone))
    if more:
        params = {k: v for k, v in request.args.items() if k != "nextPageToken"}
        params["nextPageToken"] = encode_token(page[-1].event_time, page[-1].id)
        answer.headers["Link"] = f'<{request.path}?{urlencode(params)}>; rel="next"'
    return answer


@api.get(
    "/parcels/<tracking_number>/epcis",
    summary="The EPCIS events of one parcel",
    responses={200: QueryDocumentOut, 404: ErrorOut, **AUTH_ERRORS},
)
def get_parcel_events(path: ParcelPath):  # type: ignore[no-untyped-def]
    """Every event linked to the parcel (its SSCC, or a pallet it was on); erroneous ones too."""
    caller(Role.OPS)
    rt = runtime()
    with rt.engine.connect() as conn:
        parcel_id = store.parcel_id_of(conn, path.tracking_number)
        if parcel_id is None:
            raise NotFound(f"no parcel {path.tracking_number}")
        rows = store.parcel_events(conn, parcel_id, limit=5000)
    zone = rt.settings.timezone
    return jsonify(query_document((event_out(r, zone) for r in rows), now=rt.now(), zone=zone))


def _token_of(reading: Any) -> str:
    return encode_token(reading.observed_at, reading.id)


@api.get(
    "/epcis/readings",
    summary="Sensor readings of captured events, linked to a parcel or not",
    responses={200: ReadingListOut, 404: ErrorOut, 422: ErrorOut, **AUTH_ERRORS},
)
def get_readings(query: ReadingsQuery):  # type: ignore[no-untyped-def]
    caller(Role.OPS)
    rt = runtime()
    after = None
    if query.cursor:
        try:
            after = decode_token(query.cursor)
        except ValueError as exc:
            raise ValidationFailed("bad cursor", [FieldError("cursor", str(exc))]) from None
    zone = rt.settings.timezone
    with rt.engine.connect() as conn:
        parcel_id = None
        if query.tracking_number:
            parcel_id = store.parcel_id_of(conn, query.tracking_number)
            if parcel_id is None:
                raise NotFound(f"no parcel {query.tracking_number}")
        rows = store.find_readings(
            conn,
            measurement_type=query.measurement_type,
            parcel_id=parcel_id,
            unlinked=query.unlinked,
            after=after,
            limit=query.limit + 1,
        )
        page, next_url = cursors.page_and_next(rows, query.limit, _token_of)
        parcels = store.tracking_numbers_of(conn, [r.event_pk for r in page])
    readings = [
        ReadingOut(
            measurement_type=r.measurement_type,
            observed_at=iso_local(r.observed_at, zone),
            uom=r.uom,
            value=r.value,
            min_value=r.min_value,
            max_value=r.max_value,
            mean_value=r.mean_value,
            other_value=r.other_value,
            device_id=r.device_id,
            temperature_c=r.temperature_c,
            epcis_event_id=r.event_id,
            erroneous=r.error_declared_at is not None,
            tracking_numbers=parcels.get(r.event_pk, []),
        )
        for r in page
    ]
    return jsonify(ReadingListOut(readings=readings, next=next_url))


@api.post(
    "/epcis/locations",
    summary="Map an EPCIS read point or business location to a facility",
    responses={200: LocationOut, 201: LocationOut, 422: ErrorOut, **AUTH_ERRORS},
)
def post_location(body: LocationIn):  # type: ignore[no-untyped-def]
    caller(Role.ADMIN)
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        if not rt.ingest.directory.facilities(conn, {body.facility}):
            raise ValidationFailed(
                "unknown facility", [FieldError("facility", f"unknown facility code {body.facility!r}")]
            )
        created = store.map_location(conn, body.location, body.facility, rt.now())
    answer = jsonify(
        LocationOut(
            location=location_key(body.location),
            facility=body.facility,
            result="created" if created else "updated",
        )
    )
    answer.status_code = 201 if created else 200
    return answer
