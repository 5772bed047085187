"""The tracking JSON: the ``track_api`` blueprint (``/api/v1/track/...``, in /openapi.json). No API key.

Views layer: the views own the transactions, through the request helpers of
:mod:`tracker.tracking.http` (which also registers this blueprint and its
rate limits); the request models are :mod:`tracker.tracking.schemas`, the
reads :mod:`tracker.tracking.store`. JSON clients send the verification code
on every call (``X-Verification`` header, or ``verification`` in the body);
the pages' twin of each route is in :mod:`tracker.tracking.pages`.
"""

from __future__ import annotations

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag

from tracker.cases.store import customer_answers
from tracker.core.errors import NotFound
from tracker.core.timefmt import iso_local
from tracker.scans.schemas import TrackingPath
from tracker.tracking import feedback, http, verification
from tracker.tracking.schemas import (
    AppointmentIn,
    AppointmentOut,
    FeedbackIn,
    FeedbackOut,
    HoldIn,
    HoldOut,
    TrackingOut,
    hold_point,
    view_to_dict,
)
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut

api = APIBlueprint(
    "track_api",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="tracking", description="Customers: public, masked, rate limited")],
)


@api.get(
    "/track/<tracking_number>",
    summary="A parcel's public tracking view",
    responses={200: TrackingOut, 304: None, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut},
)
def get_tracking(path: TrackingPath):  # type: ignore[no-untyped-def]
    """Status, progress, timeline (newest first), promise, ETA and pickup details, masked.

    Send ``If-None-Match`` with the last ``ETag`` to get a 304 while nothing
    changed. With an ``X-Verification`` header (the last four digits of the
    recipient's phone) the answer includes the street address and the
    delivery windows on offer, the pickup code while the parcel waits at its
    pickup point, and after a failed attempt the next steps (a new window or
    a pickup point to hold it at); wrong codes are limited (403, then 429).
    """
    tn = path.tracking_number
    facts = http.read(tn)
    if facts is None:
        raise NotFound(f"no parcel with tracking number {tn}")
    # Read by hand, not through a flask-openapi3 header model: that one
    # rebuilds its JSON schema on every request (a tenth of this endpoint's time).
    code = request.headers.get("X-Verification")
    verified = False
    if code is not None:
        http.verify(tn, verification.check_code_format(code, "X-Verification"))
        verified = True
    view = http.view_of(facts, verified=verified)
    words = http.words()
    answer = view_to_dict(view, words, tz=words.tz)
    if verified:
        # Only the recipient's own view: what became of their reports (a public read stays one statement).
        with runtime().engine.connect() as conn:
            reports, answers = feedback.history(conn, facts.id), customer_answers(conn, facts.id)
        answer["reports"] = [{**r, "at": iso_local(r["at"], words.tz)} for r in reports]
        answer["answers"] = [{**a, "at": iso_local(a["at"], words.tz)} for a in answers]
        if view.next_steps:
            answer["next_steps"] = {
                "choose_window": bool(view.appointment_windows),
                "hold_points": [hold_point(p) for p in http.hold_points(facts)],
            }
    body = current_app.json.dumps(answer).encode()
    response = Response(body, mimetype="application/json", headers=http.language_headers(words))
    return http.conditional(response, body, view)


@api.post(
    "/track/<tracking_number>/feedback",
    summary="Report a problem or rate the delivery (verified)",
    responses={
        200: FeedbackOut,
        201: FeedbackOut,
        403: ErrorOut,
        409: ErrorOut,
        422: ErrorOut,
        429: ErrorOut,
    },
)
def post_feedback(path: TrackingPath, body: FeedbackIn):  # type: ignore[no-untyped-def]
    """``not_received`` (once delivered), ``damaged``, ``late``, a ``complaint``, a ``rating`` (delivered).

    Each complaint opens or joins a case that owes the customer an answer
    (``case_id`` in the answer; 24 h, vip 4 h by default); ``late`` and a
    rating of 1 or 2 on any dimension reach ops as a ``complaint`` case too.
    A complaint ``about`` courier_conduct needs a courier to have handled the
    parcel, about pickup_point_service a pickup parcel (409 otherwise).

    A wrong code answers 403 whether or not the parcel exists; too many wrong
    codes answer 429 with ``Retry-After``. A second rating updates the first
    (200) and both are kept.
    """
    report = body.root
    http.verify(path.tracking_number, report.verification)
    receipt = http.submit(path.tracking_number, report)
    answer = jsonify(
        {
            "kind": receipt.kind.value,
            "reference": receipt.reference,
            "received_at": iso_local(receipt.at, runtime().settings.timezone),
            "rating_revision": receipt.revision,
            "case_id": receipt.case_id,
        }
    )
    answer.status_code = 200 if (receipt.revision or 1) > 1 else 201
    return answer


@api.post(
    "/track/<tracking_number>/appointment",
    summary="Choose a delivery window (verified)",
    responses={200: AppointmentOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def post_appointment(path: TrackingPath, body: AppointmentIn):  # type: ignore[no-untyped-def]
    """One of the ``appointment_windows`` of the verified tracking view."""
    http.verify(path.tracking_number, body.verification)
    http.book(path.tracking_number, body.start, body.end)
    tz = runtime().settings.timezone
    return jsonify(
        {
            "appointment": {
                "start": iso_local(body.start, tz),
                "end": iso_local(body.end, tz),
            }
        }
    )


@api.post(
    "/track/<tracking_number>/hold",
    summary="After a failed attempt, collect at a pickup point instead (verified)",
    responses={200: HoldOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def post_hold(path: TrackingPath, body: HoldIn):  # type: ignore[no-untyped-def]
    """One of ``next_steps.hold_points`` of the verified tracking view.

    The parcel is then no doorstep stop of the station's next plan, and a chosen
    window is dropped (choosing a window again sends it to the door). 409 when
    the parcel has had no failed attempt or the point is not one on offer.
    """
    http.verify(path.tracking_number, body.verification)
    chosen = http.hold(path.tracking_number, body.facility)
    return jsonify({"hold_at": hold_point(chosen)})


@api.errorhandler(verification.VerificationLocked)
def _locked_json(error: verification.VerificationLocked) -> Response:
    answer = jsonify(error.to_dict())
    answer.status_code = error.status
    answer.headers["Retry-After"] = str(error.retry_after)
    return answer


@api.after_request
def _api_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response
