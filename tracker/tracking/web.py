"""Public tracking: the customer's pages and their JSON twin. No API key.

=============================  ======================================  ===========
pages (``track_pages``)        JSON (``track_api``, in /openapi.json)  limit
=============================  ======================================  ===========
GET  /track                    ·                                       read
GET  /track/<tn>               GET  /api/v1/track/<tn>                 read
POST /track/<tn>/verify        (``X-Verification`` header on the GET)  write
POST /track/<tn>/feedback      POST /api/v1/track/<tn>/feedback        write
POST /track/<tn>/appointment   POST /api/v1/track/<tn>/appointment     write
GET  /track/language/<code>    ·                                       read
=============================  ======================================  ===========

Views own the transactions; the rules live in plain modules:
:mod:`tracker.tracking.view` (the view of a parcel, appointment windows),
:mod:`tracker.tracking.masking`, :mod:`tracker.tracking.verification`, :mod:`tracker.tracking.feedback`,
and :mod:`tracker.i18n` for the words.

* **Verification.** The pages ask for the last four digits of the
  recipient's phone once and keep a signed, HttpOnly, SameSite=Lax cookie
  (``trk_verified``, ``verification_ttl`` long); their forms also carry a
  token bound to that cookie, so another site cannot post them. JSON
  clients send the code each time (``X-Verification`` header, or
  ``verification`` in the body).
* **Caching.** Public (masked) answers carry a strong ``ETag`` (a hash of
  the body, so any visible change, even one that does not touch the
  parcel row, changes it) and ``Last-Modified`` (the parcel's latest
  change or scan arrival), with ``Cache-Control: private, no-cache``: a
  polling client revalidates and gets a 304. Verified answers are
  ``no-store``.
* **Rate limits** (Flask-Limiter, per client address, IPv6 by /64): one
  shared budget for reads and one for writes across both blueprints; the
  counters live in memory or in Redis (``TRACKER_RATELIMIT_STORAGE_URI``).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import Babel
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_openapi3 import APIBlueprint, Tag
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel, ValidationError
from werkzeug.middleware.proxy_fix import ProxyFix

from tracker.core import metrics
from tracker.core.db import write_transaction
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
from tracker.core.models import FeedbackKind
from tracker.scans.schemas import TrackingPath
from tracker.settings import Settings
from tracker.tracking import feedback, i18n, verification
from tracker.tracking import view as tracking
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
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
api = APIBlueprint(
    "track_api",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="tracking", description="Customers: public, masked, rate limited")],
)


@dataclass(frozen=True)
class TrackingConfig:
    """What the tracking blueprints keep per app (``app.extensions["tracking"]``)."""

    secret: bytes
    limiter: Limiter
    limits: verification.Limits
    hold: timedelta
    ttl: timedelta


def init_app(app: Flask) -> None:
    """Babel, the rate limiter and both blueprints, configured from the app's settings."""
    settings: Settings = app.extensions["tracker"].settings
    if settings.proxy_hops:
        # Behind N trusted proxies the client is the N-th address from the right.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    Babel(
        app,
        locale_selector=i18n.select_locale,
        default_locale=i18n.DEFAULT_LOCALE,
        default_timezone=settings.timezone.key,
        default_translation_directories=str(TRANSLATIONS),
    )
    limiter = Limiter(
        _client_network,
        app=app,
        storage_uri=settings.ratelimit_storage_uri,
        strategy="fixed-window",
        headers_enabled=True,
        key_prefix="tracker",
        # Redis down: keep serving, limited per process, rather than fail every page.
        in_memory_fallback_enabled=True,
    )
    for blueprint in (pages, api):
        limiter.shared_limit(settings.ratelimit_read, scope="public-read", methods=["GET", "HEAD"])(blueprint)
        limiter.shared_limit(settings.ratelimit_write, scope="public-write", methods=["POST"])(blueprint)
    app.extensions["tracking"] = TrackingConfig(
        secret=_secret(settings),
        limiter=limiter,
        limits=verification.Limits(
            max_per_number=settings.verification_max_failures,
            max_per_client=settings.verification_max_failures_per_client,
            window=settings.verification_window,
        ),
        hold=settings.pickup_hold,
        ttl=settings.verification_ttl,
    )
    app.register_blueprint(pages)
    app.register_api(api)  # type: ignore[attr-defined]


def _config() -> TrackingConfig:
    return current_app.extensions["tracking"]  # type: ignore[no-any-return]


def _secret(settings: Settings) -> bytes:
    """``TRACKER_SECRET_KEY``, else a random key made once in the instance folder.

    Every gunicorn worker must sign with the same key, so the file is
    written aside and linked into place: the first worker wins, the others
    read what it wrote.
    """
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.instance_path / "secret_key"
    if not path.exists():
        temporary = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another worker got there first: use its key
        finally:
            temporary.unlink()
    return path.read_text().strip().encode()


def _client_network() -> str:
    return verification.client_network(request.remote_addr)


def _words() -> i18n.Words:
    from flask_babel import get_locale

    # Babel spells the chosen locale in full (zh_Hans_CN): back to our code.
    locale = i18n.parse_locale(str(get_locale())) or i18n.DEFAULT_LOCALE
    return i18n.Words(locale, runtime().settings.timezone)


def _checked(tracking_number: str) -> str:
    tn = tracking_number.strip()
    if not TRACKING_NUMBER.match(tn):
        raise BadRequest(
            "a tracking number has 6 to 40 letters, digits and dashes",
            [FieldError("tracking_number", "6 to 40 letters, digits and dashes")],
        )
    return tn


def _verify(tracking_number: str, code: str) -> None:
    """One verification try (see :mod:`tracker.tracking.verification`); raises unless it passed."""
    rt, config = runtime(), _config()
    client = verification.client_id(request.remote_addr, config.secret)
    with write_transaction(rt.engine) as conn:
        attempt = verification.record_attempt(conn, tracking_number, client=client, now=rt.now())
    with write_transaction(rt.engine) as conn:
        verdict = verification.settle_attempt(
            conn, attempt, tracking_number, code, client=client, now=rt.now(), limits=config.limits
        )
    verdict.raise_unless_passed()


def _view(facts: tracking.ParcelFacts, *, verified: bool) -> tracking.PublicView:
    rt, config = runtime(), _config()
    return tracking.public_view(
        facts, now=rt.now(), hold=config.hold, tz=rt.settings.timezone, verified=verified
    )


def _conditional(response: Response, body: bytes, view: tracking.PublicView) -> Response:
    """ETag and Last-Modified on a public answer; a 304 when the client has it."""
    response.vary.update(["Accept-Language", "Cookie"])
    response.headers["Content-Language"] = _words().tag
    if view.verified:
        response.headers["Cache-Control"] = "private, no-store"
        return response
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(hashlib.sha256(body).hexdigest()[:40])
    response.last_modified = view.last_modified
    return response.make_conditional(request)


# JSON -----------------------------------------------------------------------


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    verification: str = Field(
        pattern=r"^[0-9]{4}$", description="The last four digits of the recipient's phone."
    )


Comment = Annotated[str | None, Field(None, max_length=1000)]
Score = Annotated[int, Field(ge=1, le=5)]


class NotReceivedIn(_Report):
    kind: Literal["not_received"]
    comment: Comment = None


class DamagedIn(_Report):
    kind: Literal["damaged"]
    description: str = Field(min_length=1, max_length=1000)
    photo_sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")


class LateIn(_Report):
    kind: Literal["late"]
    comment: Comment = None


class RatingIn(_Report):
    kind: Literal["rating"]
    packaging: Score
    courier: Score
    speed: Score
    comment: Comment = None


class FeedbackIn(
    RootModel[Annotated[NotReceivedIn | DamagedIn | LateIn | RatingIn, Field(discriminator="kind")]]
):
    """A customer's report or rating, with the verification code."""


class FeedbackOut(BaseModel):
    kind: str
    reference: str
    received_at: str
    rating_revision: int | None = None


class AppointmentIn(_Report):
    start: AwareDatetime
    end: AwareDatetime


def _submit(tn: str, report: BaseModel) -> feedback.Receipt:
    """Store one report for ``tn`` in one transaction (the caller has verified)."""
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        facts = tracking.read_parcel(conn, tn)
        if facts is None:  # verified a moment ago: only a vanished row gets here
            raise NotFound(f"no parcel with tracking number {tn}")
        now = rt.now()
        if isinstance(report, NotReceivedIn):
            receipt = feedback.report_not_received(conn, facts, now=now, comment=report.comment)
        elif isinstance(report, DamagedIn):
            receipt = feedback.report_damaged(
                conn, facts, now=now, description=report.description, photo_sha256=report.photo_sha256
            )
        elif isinstance(report, LateIn):
            receipt = feedback.report_late(conn, facts, now=now, comment=report.comment)
        elif isinstance(report, RatingIn):
            receipt = feedback.rate(
                conn,
                facts,
                now=now,
                packaging=report.packaging,
                courier=report.courier,
                speed=report.speed,
                comment=report.comment,
            )
        else:  # pragma: no cover - the union is closed
            raise TypeError(type(report))
    if receipt.kind is FeedbackKind.DAMAGED:
        metrics.DAMAGE_REPORTS.labels("customer").inc()
    return receipt


def _book(tn: str, start: datetime, end: datetime) -> feedback.Receipt:
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        facts = tracking.read_parcel(conn, tn)
        if facts is None:
            raise NotFound(f"no parcel with tracking number {tn}")
        return feedback.book_appointment(conn, facts, start, end, now=rt.now(), tz=rt.settings.timezone)


@api.get(
    "/track/<tracking_number>",
    summary="A parcel's public tracking view",
    responses={200: None, 304: None, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut},
)
def get_tracking(path: TrackingPath):  # type: ignore[no-untyped-def]
    """Status, progress, timeline (newest first), promise, ETA and pickup details, masked.

    Send ``If-None-Match`` with the last ``ETag`` to get a 304 while nothing
    changed. With an ``X-Verification`` header (the last four digits of the
    recipient's phone) the answer includes the street address and the
    delivery windows on offer; wrong codes are limited (403, then 429).
    """
    tn = path.tracking_number
    with runtime().engine.connect() as conn:
        facts = tracking.read_parcel(conn, tn)
    if facts is None:
        raise NotFound(f"no parcel with tracking number {tn}")
    # Read by hand, not through a flask-openapi3 header model: that one
    # rebuilds its JSON schema on every request (a tenth of this endpoint's time).
    code = request.headers.get("X-Verification")
    verified = False
    if code is not None:
        _verify(tn, verification.check_code_format(code, "X-Verification"))
        verified = True
    view = _view(facts, verified=verified)
    words = _words()
    body = current_app.json.dumps(tracking.view_to_dict(view, words, tz=words.tz)).encode()
    response = Response(body, mimetype="application/json")
    return _conditional(response, body, view)


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
    """``not_received`` (once delivered), ``damaged``, ``late`` or a ``rating`` (once delivered).

    A wrong code answers 403 whether or not the parcel exists; too many wrong
    codes answer 429 with ``Retry-After``. A second rating updates the first
    (200) and both are kept.
    """
    report = body.root
    _verify(path.tracking_number, report.verification)
    receipt = _submit(path.tracking_number, report)
    answer = jsonify(
        {
            "kind": receipt.kind.value,
            "reference": receipt.reference,
            "received_at": receipt.at.astimezone(runtime().settings.timezone).isoformat(),
            "rating_revision": receipt.revision,
        }
    )
    answer.status_code = 200 if (receipt.revision or 1) > 1 else 201
    return answer


@api.post(
    "/track/<tracking_number>/appointment",
    summary="Choose a delivery window (verified)",
    responses={200: None, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut},
)
def post_appointment(path: TrackingPath, body: AppointmentIn):  # type: ignore[no-untyped-def]
    """One of the ``appointment_windows`` of the verified tracking view."""
    _verify(path.tracking_number, body.verification)
    _book(path.tracking_number, body.start, body.end)
    tz = runtime().settings.timezone
    return jsonify(
        {
            "appointment": {
                "start": body.start.astimezone(tz).isoformat(),
                "end": body.end.astimezone(tz).isoformat(),
            }
        }
    )


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


# Pages ----------------------------------------------------------------------


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


def _switch_target() -> str:
    """This page's address without ``lang=``, for the language switch to return to."""
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    return request.path + (f"?{urlencode(query)}" if query else "")


def _render(template: str, status: int = 200, **context: Any) -> Response:
    words = _words()
    html = render_template(
        template,
        w=words,
        languages=[(code, i18n.NAMES[code], i18n.TAGS[code]) for code in i18n.LOCALES],
        switch_next=_switch_target(),
        **context,
    )
    response = make_response(html, status)
    response.headers.update(PAGE_SECURITY_HEADERS)
    response.vary.update(["Accept-Language", "Cookie"])
    response.headers["Content-Language"] = words.tag
    return response


def _verified_entries() -> dict[str, float]:
    return verification.read_verified(
        request.cookies.get(VERIFIED_COOKIE), _config().secret, now=runtime().now()
    )


def _parcel_page(tn: str, state: PageState | None = None, status: int = 200) -> Response:
    state = state or PageState()
    with runtime().engine.connect() as conn:
        facts = tracking.read_parcel(conn, tn)
        if facts is None:
            raise NotFound(f"no parcel with tracking number {tn}")
        verified = facts.tracking_number in _verified_entries()
        if verified:
            state.rating = feedback.current_rating(conn, facts.id)
            state.history = feedback.history(conn, facts.id)
    view = _view(facts, verified=verified)
    token = (
        verification.form_token(_config().secret, facts.tracking_number, request.cookies[VERIFIED_COOKIE])
        if verified
        else None
    )
    response = _render(
        "tracking/parcel.html",
        status,
        view=view,
        state=state,
        token=token,
        can_report=_allowed_reports(facts) if verified else frozenset(),
    )
    if status != 200 or request.method != "GET":
        response.headers["Cache-Control"] = "private, no-store"
        return response
    return _conditional(response, response.get_data(), view)


def _allowed_reports(facts: tracking.ParcelFacts) -> frozenset[str]:
    # Mirrors the rules of tracker.tracking.feedback, to show only forms that can succeed.
    delivered = facts.status.value == "delivered" and facts.delivery_event() is not None
    allowed = {"late"}
    if delivered:
        allowed |= {"not_received", "damaged", "rating"}
    if facts.status.value == "available_for_pickup":
        allowed.add("damaged")
    return frozenset(allowed)


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
    extra = {"lang": request.args["lang"]} if request.args.get("lang") else {}
    return redirect(url_for("track_pages.parcel", tracking_number=tn, **extra), code=303)


@pages.get("/track/<tracking_number>")
def parcel(tracking_number: str):  # type: ignore[no-untyped-def]
    tn = _checked(tracking_number)
    thanks = request.args.get("thanks")
    known = {k.value for k in FeedbackKind}
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
        facts = tracking.read_parcel(conn, tn)
    if facts is None:
        raise NotFound(f"no parcel with tracking number {tn}")
    try:
        _verify(tn, code)
    except verification.VerificationFailed:
        state = PageState(
            error=_("Those digits do not match the recipient's phone. Please check and try again."),
            error_form="verify",
        )
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
    config, now = _config(), runtime().now()
    entries = _verified_entries()
    entries[facts.tracking_number] = (now + config.ttl).timestamp()
    response = redirect(
        url_for("track_pages.parcel", tracking_number=facts.tracking_number) + "#verified", 303
    )
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


def _verified_facts(tn: str) -> tracking.ParcelFacts:
    """The parcel of a page form, which must come from a verified page of ours."""
    with runtime().engine.connect() as conn:
        facts = tracking.read_parcel(conn, tn)
    if facts is None:
        raise NotFound(f"no parcel with tracking number {tn}")
    cookie = request.cookies.get(VERIFIED_COOKIE)
    if facts.tracking_number not in _verified_entries() or not verification.token_matches(
        _config().secret, facts.tracking_number, cookie, request.form.get("token")
    ):
        raise Forbidden("verify with the last four digits of the recipient's phone first")
    return facts


_FORM_MODELS: dict[str, type[BaseModel]] = {
    "not_received": NotReceivedIn,
    "damaged": DamagedIn,
    "late": LateIn,
    "rating": RatingIn,
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
        _submit(facts.tracking_number, report)
    except Conflict as exc:
        state = PageState(error=_conflict_message(kind, exc), error_form=kind, form=fields)
        return _parcel_page(facts.tracking_number, state, 409)
    target = url_for("track_pages.parcel", tracking_number=facts.tracking_number, thanks=kind)
    return redirect(target + "#feedback", 303)


def _conflict_message(kind: str, _error: Conflict) -> str:
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
        start = datetime.fromisoformat(request.form.get("window", ""))
        if start.tzinfo is None:
            raise ValueError("naive")
    except ValueError:
        state = PageState(error=_("Please choose one of the delivery windows."), error_form="appointment")
        return _parcel_page(facts.tracking_number, state, 422)
    try:
        _book(facts.tracking_number, start, start + tracking.APPOINTMENT_LENGTH)
    except Conflict as exc:
        state = PageState(error=_conflict_message("appointment", exc), error_form="appointment")
        return _parcel_page(facts.tracking_number, state, 409)
    target = url_for("track_pages.parcel", tracking_number=facts.tracking_number, thanks="appointment")
    return redirect(target + "#appointment", 303)


@pages.get("/track/language/<code>")
def language(code: str):  # type: ignore[no-untyped-def]
    """The visible switch: remember the language in a cookie, go back."""
    target = request.args.get("next", "")
    # Only our own pages: never an open redirect.
    if not target.startswith("/track") or target.startswith("//") or "\\" in target:
        target = url_for("track_pages.search")
    response = redirect(target, 303)
    chosen = i18n.parse_locale(code)
    if chosen:
        response.set_cookie(
            i18n.COOKIE,
            chosen,
            max_age=365 * 24 * 3600,
            secure=request.is_secure,
            samesite="Lax",
            httponly=True,
        )
    return response


@pages.errorhandler(TrackerError)
def _page_error(error: TrackerError) -> Response:
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
            tn=request.view_args["tracking_number"],
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


@pages.errorhandler(RateLimitExceeded)
def _page_rate_limited(error: RateLimitExceeded) -> Response:
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
