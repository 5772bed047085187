"""The tracking page's HTTP plumbing, shared by its two blueprints.

Views layer: the blueprints :mod:`tracker.tracking.api` (JSON, in
/openapi.json) and :mod:`tracker.tracking.pages` (HTML) use what is here,
and nothing here imports them, so :func:`init_app` is handed both.

* :func:`init_app`: ProxyFix (behind ``proxy_hops`` trusted proxies),
  Flask-Babel (locale chosen by :func:`select_locale`, catalogs in
  :data:`tracker.tracking.i18n.TRANSLATIONS`), the rate limiter with its
  two budgets shared by both blueprints, and the per-app
  :class:`TrackingConfig` (``app.extensions["tracking"]``).
* :func:`secret_key`: ``TRACKER_SECRET_KEY``, else a key file in the
  instance folder that every worker shares.
* Request helpers both blueprints call: :func:`words`, :func:`view_of`,
  :func:`conditional` (ETag, Last-Modified, 304), and the three that own a
  transaction: :func:`verify` (one verification try, see
  :mod:`tracker.tracking.verification`), :func:`submit` and :func:`book`
  (a report or an appointment, through :mod:`tracker.tracking.feedback`).

**Caching.** Public (masked) answers carry a strong ``ETag`` (a hash of the
body, so any visible change, even one that does not touch the parcel row,
changes it) and ``Last-Modified`` (the parcel's latest change or scan
arrival), with ``Cache-Control: private, no-cache``: a polling client
revalidates and gets a 304. Verified answers are ``no-store``.

**Rate limits** (per client address, IPv6 by /64:
:class:`tracker.tracking.counters.PublicLimits` over ``limits``' fixed
windows, in a ``before_request`` of both blueprints, :func:`_limit_public_request`):
one shared budget for reads (``GET``, ``HEAD``) and one for writes (``POST``)
across both blueprints, counted before
the view runs, so a miss (404) costs what a hit (200) costs and guessing
tracking numbers is as slow as reading them. The counters live in Redis
(``TRACKER_RATELIMIT_STORAGE_URI=redis://...``: shared by every worker and
host, the budget holds exactly) or in each process's memory
(:class:`tracker.tracking.counters.LocalCounters`: ``limits``' memory storage
without its timer thread per hit); then each of
the ``TRACKER_WORKERS`` workers enforces its share of the budget (the limit
divided by the number of workers, rounded up, at least 1:
:func:`worker_share`), so that the budget holds per address whichever worker
the kernel hands a connection to. A client whose connections all land on one
worker is held to that worker's share. If Redis stops answering, each
worker falls back to its own counters with the full limit until it is back.
Every limited answer carries ``X-RateLimit-Limit``, ``-Remaining`` and
``-Reset`` (:func:`_rate_limit_headers`); ``Retry-After`` only a 429 or a
503, which ask the client to wait (:func:`_retry_after_only_when_waiting`).
A client over its budget gets a 429 (:class:`RateLimited`: the JSON error
shape, or the page's error page) with ``Retry-After``.

**The read path.** A public read is one statement
(:func:`tracker.tracking.store.read_parcel`) on a pooled connection in
autocommit, on a streaming replica when one is configured and healthy
(:func:`read`: no BEGIN and ROLLBACK round trips, no ping at
checkout but one retry on a connection found dead, and the driver keeps the
statement prepared); the ETag is a hash of the body; the request's
:class:`~tracker.tracking.i18n.Words` are made once.

**Writes on the public read path.** A read (``GET`` of a page or of
``/api/v1/track/<tn>``: a hit, a miss, a 304, a 429) writes nothing. The one
``GET`` that writes is a JSON read carrying ``X-Verification``: it is a
verification try, one row in ``verification_attempts``, which must be
written for the wrong-code limits to hold across workers (see
:mod:`tracker.tracking.verification`); it costs from the read budget like
any read.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from babel import Locale
from flask import Blueprint, Flask, Response, current_app, g, request
from flask_babel import Babel
from flask_openapi3 import APIBlueprint
from limits import RateLimitItem, parse_many
from pydantic import BaseModel
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import TooManyRequests
from werkzeug.http import http_date, parse_accept_header, parse_date
from werkzeug.middleware.proxy_fix import ProxyFix

from tracker.core import metrics
from tracker.core.db import write_transaction
from tracker.core.errors import NotFound
from tracker.core.models import FeedbackKind
from tracker.core.vocabulary import ComplaintKind
from tracker.settings import Settings
from tracker.sla.eta_shown import DeliveryHours
from tracker.tracking import counters, feedback, i18n, verification
from tracker.tracking.schemas import ComplaintIn, DamagedIn, LateIn, NotReceivedIn, RatingIn
from tracker.tracking.store import read_parcel
from tracker.tracking.view import ParcelFacts, PickupPoint, PublicView, public_view
from tracker.web.runtime import runtime


@dataclass(frozen=True)
class TrackingConfig:
    """What the tracking blueprints keep per app (``app.extensions["tracking"]``)."""

    secret: bytes
    limiter: counters.PublicLimits
    limits: verification.Limits
    hold: timedelta
    ttl: timedelta
    #: How soon a complaining customer is owed an answer.
    answer: feedback.AnswerPolicy = field(default_factory=feedback.AnswerPolicy)


def init_app(app: Flask, *, pages: Blueprint, api: APIBlueprint) -> None:
    """Babel, the rate limiter and both blueprints, configured from the app's settings."""
    settings: Settings = app.extensions["tracker"].settings
    if settings.proxy_hops:
        # Behind N trusted proxies the client is the N-th address from the right.
        hops = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    Babel(
        app,
        locale_selector=select_locale,
        default_locale=i18n.DEFAULT_LOCALE,
        default_timezone=settings.timezone.key,
        default_translation_directories=str(i18n.TRANSLATIONS),
    )
    read, write = public_budgets(settings)
    limiter = counters.PublicLimits(
        limiter_storage_uri(settings.ratelimit_storage_uri), {READ_SCOPE: read, WRITE_SCOPE: write}
    )
    for blueprint in (pages, api):
        # This app's hooks for the blueprint (the blueprint itself is shared by every app
        # made in this process), the limit first, before the blueprint's own.
        app.before_request_funcs.setdefault(blueprint.name, []).insert(0, _limit_public_request)
        app.after_request_funcs.setdefault(blueprint.name, []).append(_rate_limit_headers)
    # An app hook: it runs after the blueprints' (_rate_limit_headers) on every answer.
    app.after_request(_retry_after_only_when_waiting)
    app.extensions["tracking"] = TrackingConfig(
        secret=secret_key(settings),
        limiter=limiter,
        limits=verification.Limits(
            max_per_number=settings.verification_max_failures,
            max_per_client=settings.verification_max_failures_per_client,
            window=settings.verification_window,
        ),
        hold=settings.pickup_hold,
        ttl=settings.verification_ttl,
        answer=feedback.AnswerPolicy(settings.complaint_answer, settings.complaint_answer_vip),
    )
    app.register_blueprint(pages)
    app.register_api(api)  # type: ignore[attr-defined]


def limiter_storage_uri(configured: str) -> str:
    """``memory://`` is served by :class:`tracker.tracking.counters.LocalCounters` (no timer thread)."""
    if configured.startswith("memory://"):
        return f"{counters.SCHEME}://"
    return configured


#: The two budgets, shared by pages and JSON; a method not here (OPTIONS) is not counted.
READ_SCOPE, WRITE_SCOPE = "public-read", "public-write"
SCOPES = {"GET": READ_SCOPE, "HEAD": READ_SCOPE, "POST": WRITE_SCOPE}


class RateLimited(TooManyRequests):
    """A client over its budget: 429, the limit in the message (``"120 per 1 minute"``)."""

    def __init__(self, limit: RateLimitItem) -> None:
        super().__init__(description=str(limit))
        self.limit = limit


def _limit_public_request() -> None:
    """Count this request against its budget (before the view: a miss costs what a hit costs)."""
    scope = SCOPES.get(request.method)
    client = client_network() if scope else None
    if not client:
        return
    verdict = config().limiter.hit(scope, client)  # type: ignore[arg-type]
    g.rate_limit = verdict
    if not verdict.allowed:
        raise RateLimited(verdict.limit)


def _rate_limit_headers(response: Response) -> Response:
    """``X-RateLimit-*`` on every counted answer, and ``Retry-After`` (kept on a 429 or a 503 only).

    ``Retry-After`` says when the window ends, or later if the answer already asked for
    longer (a locked verification's hour).
    """
    verdict: counters.Verdict | None = g.get("rate_limit")
    if verdict is None:
        return response
    headers = response.headers
    headers.add("X-RateLimit-Limit", str(verdict.limit.amount))
    headers.add("X-RateLimit-Remaining", str(verdict.remaining))
    headers.add("X-RateLimit-Reset", str(verdict.reset_at))
    if response.status_code not in WAIT_STATUSES:
        return response  # no Retry-After to write: _retry_after_only_when_waiting would drop it
    now = time.time()
    until = verdict.reset_at
    asked = headers.get("Retry-After")
    if asked is not None:
        until = max(until, int(now + int(asked)) if asked.isdigit() else _date_seconds(asked, until))
    headers.set("Retry-After", str(int(until - now)))
    return response


def _date_seconds(value: str, default: int) -> int:
    when = parse_date(value)
    return int(when.timestamp()) if when is not None else default


#: The answers that ask a client to come back later, and say when.
WAIT_STATUSES = frozenset({429, 503})


def _retry_after_only_when_waiting(response: Response) -> Response:
    if response.status_code not in WAIT_STATUSES:
        response.headers.pop("Retry-After", None)
    return response


def public_budgets(settings: Settings) -> tuple[str, str]:
    """The read and write limits this process enforces (see "Rate limits" above)."""
    if settings.ratelimit_storage_uri.startswith("memory://"):
        return (
            worker_share(settings.ratelimit_read, settings.workers),
            worker_share(settings.ratelimit_write, settings.workers),
        )
    return settings.ratelimit_read, settings.ratelimit_write


def worker_share(limit: str, workers: int) -> str:
    """One of ``workers`` processes' share of ``limit``: each amount divided, rounded up, at least 1.

    ``worker_share("120/minute;1000/hour", 2) == "60/1 minute;500/1 hour"``.
    """
    return ";".join(
        f"{max(1, math.ceil(item.amount / workers))}/{item.multiples} {item.GRANULARITY.name}"
        for item in parse_many(limit)
    )


def read(tracking_number: str) -> ParcelFacts | None:
    """The public read of one parcel (:func:`tracker.tracking.store.read_parcel`): one statement.

    Through the app's :class:`~tracker.core.replicas.ReadRouter`: a streaming
    replica when one is healthy and close enough behind, else the primary, on
    a connection this thread keeps for such reads (on PostgreSQL); nothing
    pings it before the read (a round trip on every read), so a connection
    the server dropped since its last use (a restart, a failover) is found
    dead by the read itself, which is then tried once more (on the primary).
    A database still away fails that try too, which the web answers 503
    (:mod:`tracker.web.errors`). Where the read went is in the request's log
    line (``db``).
    """
    facts, g.read_from = runtime().reads.run(lambda reader: read_parcel(reader, tracking_number))
    return facts


def config() -> TrackingConfig:
    return current_app.extensions["tracking"]  # type: ignore[no-any-return]


def secret_key(settings: Settings) -> bytes:
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


def client_network() -> str:
    """The rate limiter's key: the client's address (IPv6 by /64)."""
    return _network_of(request.remote_addr)


#: Parsing an address on every request shows in a profile; clients come back.
_network_of = lru_cache(maxsize=4096)(verification.client_network)


def select_locale() -> Locale:
    """Flask-Babel's locale selector: :func:`tracker.tracking.i18n.choose_locale` over this request."""
    # Parsing the query, the cookies and Accept-Language shows in a profile of a read:
    # skip what was not sent, and remember what each Accept-Language header chooses.
    environ = request.environ
    query = request.args.get("lang") if environ.get("QUERY_STRING") else None
    cookie = request.cookies.get(i18n.COOKIE) if environ.get("HTTP_COOKIE") else None
    accepted = _accepted(environ.get("HTTP_ACCEPT_LANGUAGE"))
    code = i18n.parse_locale(query) or i18n.parse_locale(cookie) or accepted
    g.tracking_locale = code  # for words(): our code, not Babel's spelling of it (zh_Hans_CN)
    # A Locale, not its name: Flask-Babel would parse the name again on every request.
    return i18n.LOCALE_OBJECTS[code]


def remember_language(response: Response, code: str) -> Response:
    """Keep a chosen language in the cookie the tracking pages and the console share.

    An unknown ``code`` changes nothing: the redirect still goes where it was sent.
    """
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


@lru_cache(maxsize=1024)
def _accepted(header: str | None) -> str:
    """The locale an ``Accept-Language`` header chooses (:func:`tracker.tracking.i18n.choose_locale`)."""
    return i18n.choose_locale(None, None, list(parse_accept_header(header, LanguageAccept)))


def words() -> i18n.Words:
    """This request's :class:`~tracker.tracking.i18n.Words`: the locale Flask-Babel chose (or will).

    Kept on the request: a page asks for them more than once. The first call
    chooses through :func:`select_locale` itself and leaves the choice where
    Flask-Babel keeps it (``babel_locale`` on the request), so its own
    ``get_locale`` (behind ``gettext`` in the views' Python) takes it from
    there; going through ``get_locale`` cost a tracking read about 2% in a
    profile. Were that attribute renamed, Flask-Babel would only choose
    again, the same way.
    """
    # On the request, not in g: an app context (a test's, a command's) may outlive one request.
    made: i18n.Words | None = getattr(request, "tracking_words", None)
    if made is None:
        if getattr(request, "babel_locale", None) is None:
            request.babel_locale = select_locale()
        made = request.tracking_words = _words(
            g.get("tracking_locale", i18n.DEFAULT_LOCALE), runtime().settings.timezone
        )
    return made


#: Words hold no request state: one per locale and zone.
_words = lru_cache(maxsize=16)(i18n.Words)


def verify(tracking_number: str, code: str) -> None:
    """One verification try (see :mod:`tracker.tracking.verification`); raises unless it passed."""
    rt, cfg = runtime(), config()
    client = verification.client_id(request.remote_addr, cfg.secret)
    with write_transaction(rt.engine) as conn:
        attempt = verification.record_attempt(conn, tracking_number, client=client, now=rt.now())
    with write_transaction(rt.engine) as conn:
        verdict = verification.settle_attempt(
            conn, attempt, tracking_number, code, client=client, now=rt.now(), limits=cfg.limits
        )
    verdict.raise_unless_passed()


def view_of(facts: ParcelFacts, *, verified: bool) -> PublicView:
    """The customer's view of ``facts`` now, with this app's pickup hold and time zone."""
    rt, cfg = runtime(), config()
    return public_view(
        facts,
        now=rt.now(),
        hold=cfg.hold,
        tz=rt.settings.timezone,
        verified=verified,
        hours=DeliveryHours(*rt.settings.delivery_hours),
    )


#: Public answers depend on the language, chosen by Accept-Language or the ``lang`` cookie.
VARY = "Accept-Language, Cookie"
#: The request headers that can turn an answer into a 304, a 412 or a range (werkzeug's
#: ``make_conditional``, which costs a tenth of a tracking read, only runs when one is sent).
CONDITIONAL_HEADERS = frozenset(
    {"HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE"}
    | {"HTTP_RANGE"}
)


def language_headers(words: i18n.Words) -> dict[str, str]:
    """``Vary`` and ``Content-Language`` of a new public answer in ``words``' language.

    Given to the response as it is made: setting headers one by one on a made
    response searches its list each time (a tracking read set five).
    """
    return {"Vary": VARY, "Content-Language": words.tag}


def conditional(response: Response, body: bytes, view: PublicView) -> Response:
    """Caching headers on a public answer (made with :func:`language_headers`); a 304 when the client has it.

    ETag and Last-Modified on the public view; a verified view is never stored.
    """
    headers = response.headers
    if view.verified:
        headers.add("Cache-Control", "private, no-store")
        return response
    # What set_etag and last_modified write, without their parsing round trip; added, not
    # set: a new answer has none of the three.
    headers.add("Cache-Control", "private, no-cache")
    headers.add("ETag", f'"{hashlib.sha256(body).hexdigest()[:40]}"')
    headers.add("Last-Modified", http_date(view.last_modified))
    if CONDITIONAL_HEADERS.isdisjoint(request.environ):
        return response  # nothing to compare: werkzeug's checks would all say 200
    return response.make_conditional(request)


def submit(tn: str, report: BaseModel) -> feedback.Receipt:
    """Store one report for ``tn`` in one transaction (the caller has verified)."""
    rt, answer = runtime(), config().answer
    zone = rt.settings.timezone
    if isinstance(report, ComplaintIn):
        # Complaints about lateness, damage or a missing parcel are those reports: one case each.
        routed: dict[ComplaintKind, BaseModel] = {
            ComplaintKind.LATE: LateIn(kind="late", verification=report.verification, comment=report.comment),
            ComplaintKind.NOT_RECEIVED: NotReceivedIn(
                kind="not_received", verification=report.verification, comment=report.comment
            ),
        }
        if report.about is ComplaintKind.DAMAGED:
            routed[ComplaintKind.DAMAGED] = DamagedIn(
                kind="damaged", verification=report.verification, description=report.description or ""
            )
        report = routed.get(report.about, report)
    with write_transaction(rt.engine) as conn:
        facts = read_parcel(conn, tn)
        if facts is None:  # verified a moment ago: only a vanished row gets here
            raise NotFound(f"no parcel with tracking number {tn}")
        now = rt.now()
        if isinstance(report, NotReceivedIn):
            receipt = feedback.report_not_received(
                conn, facts, now=now, comment=report.comment, zone=zone, answer=answer
            )
        elif isinstance(report, DamagedIn):
            receipt = feedback.report_damaged(
                conn,
                facts,
                now=now,
                description=report.description,
                photo_sha256=report.photo_sha256,
                answer=answer,
            )
        elif isinstance(report, LateIn):
            receipt = feedback.report_late(
                conn, facts, now=now, comment=report.comment, answer=answer, zone=zone
            )
        elif isinstance(report, ComplaintIn):
            receipt = feedback.complain(
                conn, facts, now=now, about=report.about, comment=report.comment, answer=answer, zone=zone
            )
        elif isinstance(report, RatingIn):
            receipt = feedback.rate(
                conn,
                facts,
                now=now,
                packaging=report.packaging,
                courier=report.courier,
                speed=report.speed,
                comment=report.comment,
                answer=answer,
            )
        else:  # pragma: no cover - the union is closed
            raise TypeError(type(report))
    if receipt.kind is FeedbackKind.DAMAGED:
        metrics.DAMAGE_REPORTS.labels("customer").inc()
    if receipt.complaint is not None:
        metrics.COMPLAINTS.labels(receipt.complaint.value).inc()
    return receipt


def book(tn: str, start: datetime, end: datetime) -> feedback.Receipt:
    """Choose the delivery window ``start``-``end`` for ``tn`` (the caller has verified)."""
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        facts = read_parcel(conn, tn)
        if facts is None:
            raise NotFound(f"no parcel with tracking number {tn}")
        return feedback.book_appointment(conn, facts, start, end, now=rt.now(), tz=rt.settings.timezone)


def hold(tn: str, facility: str) -> PickupPoint:
    """Ask for ``tn`` to be held at the pickup point ``facility`` (the caller has verified)."""
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        facts = read_parcel(conn, tn)
        if facts is None:
            raise NotFound(f"no parcel with tracking number {tn}")
        return feedback.hold_at_pickup_point(conn, facts, facility, now=rt.now())


def hold_points(facts: ParcelFacts) -> list[PickupPoint]:
    """The pickup points a verified customer may choose after a failed attempt (empty otherwise)."""
    with runtime().engine.connect() as conn:
        return feedback.hold_points(conn, facts)
