"""The tracking pages: the ``track_pages`` blueprint (HTML forms, no script) and its error pages. No API key.

=============================  ======================================  ==================
pages (``track_pages``, here)  JSON (``track_api``, :mod:`.api`)       limit
=============================  ======================================  ==================
GET  /track                    ·                                       read
GET  /track/<tn>               GET  /api/v1/track/<tn>                 read
POST /track/<tn>/verify        (``X-Verification`` header on the GET)  write (JSON: read)
POST /track/<tn>/feedback      POST /api/v1/track/<tn>/feedback        write
POST /track/<tn>/appointment   POST /api/v1/track/<tn>/appointment     write
POST /track/<tn>/hold          POST /api/v1/track/<tn>/hold            write
GET  /track/language/<code>    ·                                       read
=============================  ======================================  ==================

The limits are per client and shared by both columns; each worker's share
when the counters are in memory (:mod:`tracker.tracking.http`). No ``GET``
route writes, except for the verification try that an ``X-Verification``
header on the JSON read is.

Views layer: the views own the transactions, through the request helpers of
:mod:`tracker.tracking.http` (which also registers this blueprint, its rate
limits and Flask-Babel); the forms are checked against
:mod:`tracker.tracking.schemas`, the reads are :mod:`tracker.tracking.store`
and :mod:`tracker.tracking.feedback`, the words :mod:`tracker.tracking.i18n`.

**Verification.** The pages ask for the last four digits of the recipient's
phone once and keep a signed, HttpOnly, SameSite=Lax cookie
(``trk_verified``, ``verification_ttl`` long); their forms also carry a
token bound to that cookie, so another site cannot post them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from pydantic import BaseModel, ValidationError

from tracker.cases.store import customer_answers
from tracker.core.errors import (
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    TrackerError,
    ValidationFailed,
    field_errors,
)
from tracker.core.inputs import check_instant
from tracker.core.models import FeedbackKind
from tracker.core.vocabulary import ComplaintKind, ParcelStatus
from tracker.tracking import feedback, http, i18n, verification
from tracker.tracking.schemas import ComplaintIn, DamagedIn, LateIn, NotReceivedIn, RatingIn
from tracker.tracking.store import read_parcel
from tracker.tracking.view import APPOINTMENT_LENGTH, ParcelFacts, PublicView
from tracker.web.runtime import runtime

VERIFIED_COOKIE = "trk_verified"
TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{5,39}$")
PAGE_SECURITY_HEADERS = {
    # Everything comes from us: no script at all, styles from /static only.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

pages = Blueprint("track_pages", __name__)


def _checked(tracking_number: str) -> str:
    tn = tracking_number.strip()
    if not TRACKING_NUMBER.match(tn):
        raise BadRequest(
            "a tracking number has 6 to 40 letters, digits and dashes",
            [FieldError("tracking_number", "6 to 40 letters, digits and dashes")],
        )
    return tn


@dataclass
class PageState:
    """What a parcel page shows beyond the view: forms, errors, history."""

    error: str | None = None
    #: Which form the error belongs to: verify, not_received, damaged, late, rating, appointment.
    error_form: str | None = None
    thanks: str | None = None
    rating: dict[str, Any] | None = None
    history: list[dict[str, Any]] | None = None
    form: dict[str, str] | None = None
    #: Ops' answers to the customer, newest first (:func:`tracker.cases.store.customer_answers`).
    answers: list[dict[str, Any]] | None = None


def _keep_lang() -> dict[str, str]:
    """``{"lang": tag}`` when this request chose its language by ``?lang=``: every link and form
    of the page carries it on, so a verified page, a thank-you or an error comes back in it."""
    chosen = i18n.parse_locale(request.args.get("lang"))
    return {"lang": i18n.TAGS[chosen]} if chosen else {}


def _url(endpoint: str, **values: Any) -> str:
    """``url_for`` keeping the ``?lang=`` of this request."""
    return url_for(endpoint, **values, **_keep_lang())


def _switch_target() -> str:
    """This page's address without ``lang=``, for the language switch to return to."""
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return request.path + (f"?{urlencode(query)}" if query else "")


#: The language switch's entries, the same for every page.
LANGUAGES = [(code, i18n.NAMES[code], i18n.TAGS[code]) for code in i18n.LOCALES]


def _template_gettext(words: i18n.Words) -> Callable[..., Markup]:
    """The templates' ``_``: what Jinja's new-style gettext over Flask-Babel answers, for this request.

    The same catalog (:func:`tracker.tracking.i18n.catalog`, the files Flask-Babel reads) and the
    same escaping (the message is markup, the variables are escaped), without Flask-Babel looking
    the request's catalog up again on each of a page's ~40 calls.
    """

    constant = _CONSTANT_MARKUP.setdefault(words.locale, {})

    def gettext(message: str, **variables: Any) -> Markup:
        if variables:
            return Markup(words.gettext(message)) % variables
        # Most of a page's sentences take no variables: translated and made markup once.
        done = constant.get(message)
        if done is None:
            done = constant[message] = Markup(words.gettext(message)) % variables
        return done

    return gettext


#: Per locale, the templates' sentences without variables, as ``_`` answers them (bounded:
#: the messages are the templates' literals).
_CONSTANT_MARKUP: dict[str, dict[str, Markup]] = {}


def _render(template: str, status: int = 200, **context: Any) -> Response:
    words = http.words()
    html = render_template(
        template,
        _=_template_gettext(words),
        w=words,
        languages=LANGUAGES,
        switch_next=_switch_target(),
        keep=_keep_lang(),
        **context,
    )
    return Response(html, status, headers={**PAGE_SECURITY_HEADERS, **http.language_headers(words)})


@dataclass(frozen=True, slots=True)
class StepLine:
    """One step of the progress line as the page prints it."""

    state: str
    current: bool
    label: str
    state_text: str
    iso: str | None
    when: str


@dataclass(frozen=True, slots=True)
class EventLine:
    """One scan of the timeline as the page prints it."""

    iso: str
    when: str
    text: str
    place: str | None


@dataclass(frozen=True, slots=True)
class Lines:
    steps: tuple[StepLine, ...]
    events: tuple[EventLine, ...]


def _lines(view: PublicView, words: i18n.Words) -> Lines:
    """The page's two loops (progress, timeline) put into words here, not in the template.

    The same sentences the template would ask ``w`` for: a call from a template
    costs Jinja's inspection of the callable on top of the call, and these
    loops made most of a page's ~55 calls (a sixth of its render time).
    """
    return Lines(
        steps=tuple(
            StepLine(
                s.state,
                s.state in ("current", "problem"),
                words.step(s.key),
                words.step_state(s.state),
                words.iso(s.at) if s.at else None,
                words.when(s.at),
            )
            for s in view.steps
        ),
        events=tuple(
            EventLine(words.iso(e.at), words.when(e.at), words.event(e), e.place) for e in view.events
        ),
    )


def _verified_entries() -> dict[str, float]:
    return verification.read_verified(
        request.cookies.get(VERIFIED_COOKIE), http.config().secret, now=runtime().now()
    )


def _parcel_page(tn: str, state: PageState | None = None, status: int = 200) -> Response:
    state = state or PageState()
    facts = http.read(tn)
    if facts is None:
        raise NotFound(f"no parcel with tracking number {tn}")
    verified = facts.tracking_number in _verified_entries()
    if verified:
        # Only the recipient's own page shows these: a public read stays one statement.
        with runtime().engine.connect() as conn:
            state.rating = feedback.current_rating(conn, facts.id)
            state.history = feedback.history(conn, facts.id)
            state.answers = customer_answers(conn, facts.id)
    view = http.view_of(facts, verified=verified)
    token = (
        verification.form_token(http.config().secret, facts.tracking_number, request.cookies[VERIFIED_COOKIE])
        if verified
        else None
    )
    response = _render(
        "tracking/parcel.html",
        status,
        view=view,
        lines=_lines(view, http.words()),
        state=state,
        token=token,
        can_report=_allowed_reports(facts) if verified else frozenset(),
        complaint_kinds=_allowed_complaints(facts) if verified else (),
        hold_points=http.hold_points(facts) if view.next_steps else [],
    )
    if status != 200 or request.method != "GET":
        response.headers["Cache-Control"] = "private, no-store"
        return response
    return http.conditional(response, response.get_data(), view)


def _allowed_reports(facts: ParcelFacts) -> frozenset[str]:
    # Mirrors the rules of tracker.tracking.feedback, to show only forms that can succeed.
    delivered = facts.status.value == "delivered" and facts.delivery_event() is not None
    allowed = {"late"}
    if delivered:
        allowed |= {"not_received", "damaged", "rating"}
    if facts.status.value == "available_for_pickup":
        allowed.add("damaged")
    return frozenset(allowed)


def _allowed_complaints(facts: ParcelFacts) -> tuple[str, ...]:
    # The complaints of their own form (late, damage, not received have theirs), where they fit.
    return tuple(
        kind.value
        for kind in (ComplaintKind.COURIER_CONDUCT, ComplaintKind.PICKUP_POINT_SERVICE)
        if feedback.complaint_refusal(facts, kind) is None
    )


@pages.get("/track")
def search():  # type: ignore[no-untyped-def]
    raw = request.args.get("tn")
    if raw is None:
        return _render("tracking/search.html")
    tn = "".join(raw.split())  # people paste "TRK 0700 0001"
    if not TRACKING_NUMBER.match(tn):
        return _render(
            "tracking/search.html",
            400,
            tn=raw,
            error=_("A tracking number has 6 to 40 letters, digits and dashes, like TRK0700000001."),
        )
    return redirect(_url("track_pages.parcel", tracking_number=tn), code=303)


@pages.get("/track/<tracking_number>")
def parcel(tracking_number: str):  # type: ignore[no-untyped-def]
    tn = _checked(tracking_number)
    thanks = request.args.get("thanks")
    known = {k.value for k in FeedbackKind} | {"hold"}
    return _parcel_page(tn, PageState(thanks=thanks if thanks in known else None))


@pages.post("/track/<tracking_number>/verify")
def verify(tracking_number: str):  # type: ignore[no-untyped-def]
    tn = _checked(tracking_number)
    code = request.form.get("code", "").strip()
    try:
        verification.check_code_format(code, "code")
    except ValidationFailed:
        state = PageState(
            error=_("Enter the last four digits of the recipient's phone."), error_form="verify"
        )
        return _parcel_page(tn, state, 422)
    with runtime().engine.connect() as conn:
        facts = read_parcel(conn, tn)
    if facts is None:
        raise NotFound(f"no parcel with tracking number {tn}")
    try:
        http.verify(tn, code)
    except verification.VerificationFailed as failed:
        error = _("Those digits do not match the recipient's phone. Please check and try again.")
        if failed.tries_left is not None:
            error += " " + _(
                "%(count)d more wrong tries lock verification for an hour.", count=failed.tries_left
            )
        state = PageState(error=error, error_form="verify")
        return _parcel_page(tn, state, 403)
    except verification.VerificationLocked as locked:
        state = PageState(
            error=_(
                "Too many wrong tries. Please try again in %(minutes)d minutes.", minutes=_minutes(locked)
            ),
            error_form="verify",
        )
        response = _parcel_page(tn, state, 429)
        response.headers["Retry-After"] = str(locked.retry_after)
        return response
    config, now = http.config(), runtime().now()
    entries = _verified_entries()
    entries[facts.tracking_number] = (now + config.ttl).timestamp()
    # Back to what the customer came for: the pickup code while the parcel waits for them.
    waiting = facts.pickup_code is not None and facts.status is ParcelStatus.AVAILABLE_FOR_PICKUP
    anchor = "#pickup-code" if waiting else "#verified"
    response = redirect(_url("track_pages.parcel", tracking_number=facts.tracking_number) + anchor, 303)
    response.set_cookie(
        VERIFIED_COOKIE,
        verification.sign_verified(entries.items(), config.secret),
        max_age=int(config.ttl.total_seconds()),
        path="/track",
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return response


def _minutes(locked: verification.VerificationLocked) -> int:
    return max(1, -(-locked.retry_after // 60))


def _verified_facts(tn: str) -> ParcelFacts:
    """The parcel of a page form, which must come from a verified page of ours."""
    with runtime().engine.connect() as conn:
        facts = read_parcel(conn, tn)
    if facts is None:
        raise NotFound(f"no parcel with tracking number {tn}")
    cookie = request.cookies.get(VERIFIED_COOKIE)
    if facts.tracking_number not in _verified_entries() or not verification.token_matches(
        http.config().secret, facts.tracking_number, cookie, request.form.get("token")
    ):
        raise Forbidden("verify with the last four digits of the recipient's phone first")
    return facts


_FORM_MODELS: dict[str, type[BaseModel]] = {
    "not_received": NotReceivedIn,
    "damaged": DamagedIn,
    "late": LateIn,
    "rating": RatingIn,
    "complaint": ComplaintIn,
}


@pages.post("/track/<tracking_number>/feedback")
def page_feedback(tracking_number: str):  # type: ignore[no-untyped-def]
    tn = _checked(tracking_number)
    facts = _verified_facts(tn)
    kind = request.form.get("kind", "")
    model = _FORM_MODELS.get(kind)
    if model is None:
        raise BadRequest(f"unknown kind of feedback {kind!r}")
    fields = {k: v for k, v in request.form.items() if k not in ("token",) and v != ""}
    if kind == "complaint" and "comment" in fields:
        fields.setdefault("description", fields["comment"])  # a damage complaint describes in its comment
    try:
        # The cookie stands for the code: the model still wants one, it is not checked again.
        report = model.model_validate({**fields, "verification": "0000"})
    except ValidationError as exc:
        errors = field_errors(exc)
        state = PageState(
            error=_("Please check the form: %(fields)s", fields=", ".join(e.field for e in errors)),
            error_form=kind,
            form=fields,
        )
        return _parcel_page(facts.tracking_number, state, 422)
    try:
        http.submit(facts.tracking_number, report)
    except Conflict as exc:
        state = PageState(error=_conflict_message(kind, exc), error_form=kind, form=fields)
        return _parcel_page(facts.tracking_number, state, 409)
    target = _url("track_pages.parcel", tracking_number=facts.tracking_number, thanks=kind)
    return redirect(target + "#feedback", 303)


def _conflict_message(kind: str, _error: Conflict) -> str:
    if kind == "complaint":
        return _("This complaint does not fit this parcel.")
    if kind in ("not_received", "rating"):
        return _("This is possible once the parcel shows delivered.")
    if kind == "damaged":
        return _("Damage can be reported once the parcel has reached you.")
    return _("That window is no longer available. Please choose another.")


@pages.post("/track/<tracking_number>/appointment")
def page_appointment(tracking_number: str):  # type: ignore[no-untyped-def]
    tn = _checked(tracking_number)
    facts = _verified_facts(tn)
    try:
        # The one time rule: aware, 2000 to 2099 (9999-12-31 + 2 h would overflow).
        start = check_instant(datetime.fromisoformat(request.form.get("window", "")))
    except ValueError:
        state = PageState(error=_("Please choose one of the delivery windows."), error_form="appointment")
        return _parcel_page(facts.tracking_number, state, 422)
    try:
        http.book(facts.tracking_number, start, start + APPOINTMENT_LENGTH)
    except Conflict as exc:
        state = PageState(error=_conflict_message("appointment", exc), error_form="appointment")
        return _parcel_page(facts.tracking_number, state, 409)
    target = _url("track_pages.parcel", tracking_number=facts.tracking_number, thanks="appointment")
    return redirect(target + "#appointment", 303)


@pages.post("/track/<tracking_number>/hold")
def page_hold(tracking_number: str):  # type: ignore[no-untyped-def]
    tn = _checked(tracking_number)
    facts = _verified_facts(tn)
    try:
        http.hold(facts.tracking_number, request.form.get("facility", ""))
    except Conflict:
        state = PageState(error=_("Please choose one of the pickup points."), error_form="hold")
        return _parcel_page(facts.tracking_number, state, 409)
    target = _url("track_pages.parcel", tracking_number=facts.tracking_number, thanks="hold")
    return redirect(target + "#next-steps", 303)


@pages.get("/track/language/<code>")
def language(code: str):  # type: ignore[no-untyped-def]
    """The visible switch: remember the language in a cookie, go back."""
    target = request.args.get("next", "")
    # Only our own pages: never an open redirect.
    if not target.startswith("/track") or target.startswith("//") or "\\" in target:
        target = url_for("track_pages.search")
    return http.remember_language(redirect(target, 303), code)


#: What :func:`error_page` leaves out of a number it gives back: control characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@pages.errorhandler(TrackerError)
def error_page(error: TrackerError) -> Response:
    """An error as a tracking page (also for ``/track`` URLs that match no route: tracker.web.errors)."""
    if isinstance(error, NotFound):
        return _render(
            "tracking/not_found.html",
            404,
            tn=request.view_args.get("tracking_number", "") if request.view_args else "",
        )
    if isinstance(error, BadRequest) and request.view_args and "tracking_number" in request.view_args:
        return _render(
            "tracking/search.html",
            400,
            # Given back to edit, without the control characters (a NUL) that made it wrong.
            tn=_CONTROL.sub("", request.view_args["tracking_number"]),
            error=_("A tracking number has 6 to 40 letters, digits and dashes, like TRK0700000001."),
        )
    if isinstance(error, Forbidden):
        return _render(
            "tracking/error.html",
            403,
            title=_("Please verify first"),
            message=_(
                "For your privacy, this needs the last four digits of the recipient's phone. "
                "Open the parcel's page and enter them again."
            ),
            back=request.view_args.get("tracking_number") if request.view_args else None,
        )
    return _render(
        "tracking/error.html", error.status, title=_("Something went wrong"), message=error.message, back=None
    )


@pages.errorhandler(http.RateLimited)
def _page_rate_limited(error: http.RateLimited) -> Response:
    response = _render(
        "tracking/error.html",
        429,
        title=_("Too many requests"),
        message=_("Please wait a minute and try again."),
        back=None,
    )
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response
