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

**Rate limits** (Flask-Limiter, per client address, IPv6 by /64): one shared
budget for reads and one for writes across both blueprints, counted before
the view runs, so a miss (404) costs what a hit (200) costs and guessing
tracking numbers is as slow as reading them. The counters live in Redis
(``TRACKER_RATELIMIT_STORAGE_URI=redis://...``: shared by every worker and
host, the budget holds exactly) or in each process's memory; then each of
the ``TRACKER_WORKERS`` workers enforces its share of the budget (the limit
divided by the number of workers, rounded up, at least 1:
:func:`worker_share`), so that the budget holds per address whichever worker
the kernel hands a connection to. A client whose connections all land on one
worker is held to that worker's share. If Redis stops answering, each
worker falls back to its own counters with the full limit until it is back.
Every limited answer carries ``X-RateLimit-Limit``, ``-Remaining`` and
``-Reset``; ``Retry-After`` only a 429 or a 503, which ask the client to wait
(Flask-Limiter would put it on every answer: :func:`_retry_after_only_when_waiting`).

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
from dataclasses import dataclass
from datetime import datetime, timedelta

from babel import Locale
from flask import Blueprint, Flask, Response, current_app, request
from flask_babel import Babel, get_locale
from flask_limiter import Limiter
from flask_openapi3 import APIBlueprint
from limits import parse_many
from pydantic import BaseModel
from werkzeug.middleware.proxy_fix import ProxyFix

from tracker.core import metrics
from tracker.core.db import write_transaction
from tracker.core.errors import NotFound
from tracker.core.models import FeedbackKind
from tracker.settings import Settings
from tracker.tracking import feedback, i18n, verification
from tracker.tracking.schemas import DamagedIn, LateIn, NotReceivedIn, RatingIn
from tracker.tracking.store import read_parcel
from tracker.tracking.view import ParcelFacts, PublicView, public_view
from tracker.web.runtime import runtime


@dataclass(frozen=True)
class TrackingConfig:
    """What the tracking blueprints keep per app (``app.extensions["tracking"]``)."""

    secret: bytes
    limiter: Limiter
    limits: verification.Limits
    hold: timedelta
    ttl: timedelta


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
    # Registered before the limiter's own hook, so it runs after it (Flask runs
    # an app's after_request hooks last-registered first).
    app.after_request(_retry_after_only_when_waiting)
    limiter = Limiter(
        client_network,
        app=app,
        storage_uri=settings.ratelimit_storage_uri,
        strategy="fixed-window",
        headers_enabled=True,
        key_prefix="tracker",
        # Redis down: keep serving, limited per process, rather than fail every page.
        in_memory_fallback_enabled=True,
    )
    read, write = public_budgets(settings)
    for blueprint in (pages, api):
        limiter.shared_limit(read, scope="public-read", methods=["GET", "HEAD"])(blueprint)
        limiter.shared_limit(write, scope="public-write", methods=["POST"])(blueprint)
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
    )
    app.register_blueprint(pages)
    app.register_api(api)  # type: ignore[attr-defined]


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
    return verification.client_network(request.remote_addr)


def select_locale() -> Locale:
    """Flask-Babel's locale selector: :func:`tracker.tracking.i18n.choose_locale` over this request."""
    code = i18n.choose_locale(
        request.args.get("lang"), request.cookies.get(i18n.COOKIE), list(request.accept_languages)
    )
    # A Locale, not its name: Flask-Babel would parse the name again on every request.
    return i18n.LOCALE_OBJECTS[code]


def words() -> i18n.Words:
    # Babel spells the chosen locale in full (zh_Hans_CN): back to our code.
    locale = i18n.parse_locale(str(get_locale())) or i18n.DEFAULT_LOCALE
    return i18n.Words(locale, runtime().settings.timezone)


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
    return public_view(facts, now=rt.now(), hold=cfg.hold, tz=rt.settings.timezone, verified=verified)


def conditional(response: Response, body: bytes, view: PublicView) -> Response:
    """ETag and Last-Modified on a public answer; a 304 when the client has it."""
    response.vary.update(["Accept-Language", "Cookie"])
    response.headers["Content-Language"] = words().tag
    if view.verified:
        response.headers["Cache-Control"] = "private, no-store"
        return response
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(hashlib.sha256(body).hexdigest()[:40])
    response.last_modified = view.last_modified
    return response.make_conditional(request)


def submit(tn: str, report: BaseModel) -> feedback.Receipt:
    """Store one report for ``tn`` in one transaction (the caller has verified)."""
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        facts = read_parcel(conn, tn)
        if facts is None:  # verified a moment ago: only a vanished row gets here
            raise NotFound(f"no parcel with tracking number {tn}")
        now = rt.now()
        if isinstance(report, NotReceivedIn):
            receipt = feedback.report_not_received(
                conn, facts, now=now, comment=report.comment, zone=rt.settings.timezone
            )
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


def book(tn: str, start: datetime, end: datetime) -> feedback.Receipt:
    """Choose the delivery window ``start``-``end`` for ``tn`` (the caller has verified)."""
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        facts = read_parcel(conn, tn)
        if facts is None:
            raise NotFound(f"no parcel with tracking number {tn}")
        return feedback.book_appointment(conn, facts, start, end, now=rt.now(), tz=rt.settings.timezone)
