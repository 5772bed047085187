"""Who is at the console: sign-in, the session cookie, CSRF, the sign-in limit, roles.

* **Sessions** are Flask's signed cookie (``tracker_ops``, path ``/ops``, so
  no other part of the service ever receives it), HttpOnly, SameSite=Lax,
  Secure when the request came over https (behind a proxy: with
  ``TRACKER_PROXY_HOPS`` set, ProxyFix reads ``X-Forwarded-Proto``), and
  lasting ``TRACKER_CONSOLE_SESSION_LIFETIME``. It holds the user's id only;
  the user is read on every request, so a disabled user is out at once.
  Signing in clears whatever the cookie held before (no session fixation).
* **CSRF**: Flask-WTF's ``CSRFProtect``, checked on every POST of the
  console blueprint (the sign-in form's too) and nowhere else: the JSON API
  authenticates with a bearer key a browser never sends by itself, so it
  needs no token. A POST without a valid token is answered 400.
* **Sign-in limit**: ``limits``' fixed windows as the tracking pages use
  them (:class:`tracker.tracking.counters.PublicLimits`, the same storage
  setting), ``TRACKER_CONSOLE_LOGIN_LIMIT`` per client address and,
  separately, per username, so neither one address nor a spread of
  addresses can guess one user's password quickly.
* **Roles**: ``ops`` works everything but revoking API keys, ``admin`` also
  revokes them (:func:`require_admin`).
* **No API keys here**: an ``Authorization`` header is ignored; the JSON API,
  for its part, never reads this cookie (:mod:`tracker.web.auth`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, Response, current_app, g, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_wtf.csrf import CSRFProtect

from tracker.console import users
from tracker.core.errors import Forbidden
from tracker.core.vocabulary import UserRole
from tracker.settings import Settings
from tracker.tracking import counters, http
from tracker.web.runtime import runtime

COOKIE = "tracker_ops"
LOGIN_BY_CLIENT, LOGIN_BY_USER = "console-login-client", "console-login-user"


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, Secure exactly when the request came over https.

    Flask opens and saves the session on every request of the app, and the
    cookie only ever comes back under ``/ops``: a request without it gets an
    empty session without building the signer (itsdangerous makes a new one
    on each call), and an empty session nobody touched is not saved (Flask
    reads seven cookie settings before it finds there is nothing to write).
    Together they were about 4% of a tracking read's time in a profile.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request.is_secure)

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()  # what Flask answers without a cookie, unsigned
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified and not session.accessed:
            return  # Flask's would neither write a cookie nor add Vary: Cookie
        super().save_session(app, session, response)


@dataclass(frozen=True)
class ConsoleConfig:
    csrf: CSRFProtect
    limiter: counters.PublicLimits
    #: Origin of the map tiles (for the Content-Security-Policy), or "" without tiles.
    tile_url: str


class SignInLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("too many sign-in tries")
        self.retry_after = retry_after


def init_app(app: Flask, settings: Settings) -> None:
    # Its own key, derived from the service's secret: a console cookie is never a tracking one.
    app.secret_key = hmac.new(
        http.secret_key(settings), b"tracker console session", hashlib.sha256
    ).hexdigest()
    lifetime = settings.console_session_lifetime
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_PATH="/ops",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=lifetime,
        # Checked by the console blueprint only (check_csrf), not on every POST of the app.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=int(lifetime.total_seconds()),
    )
    app.session_interface = ConsoleSessionInterface()
    limit = settings.console_login_limit
    if settings.ratelimit_storage_uri.startswith("memory://"):
        limit = http.worker_share(limit, settings.workers)
    app.extensions["console"] = ConsoleConfig(
        csrf=CSRFProtect(app),
        limiter=counters.PublicLimits(
            http.limiter_storage_uri(settings.ratelimit_storage_uri),
            {LOGIN_BY_CLIENT: limit, LOGIN_BY_USER: limit},
        ),
        tile_url=settings.map_tile_url,
    )


def config() -> ConsoleConfig:
    return current_app.extensions["console"]  # type: ignore[no-any-return]


def check_csrf() -> None:
    """Raises flask_wtf's ``CSRFError`` (400) unless the form carries this session's token."""
    config().csrf.protect()


def count_sign_in(username: str) -> None:
    """Count one sign-in try against the client's and the username's budgets (before checking it)."""
    limiter = config().limiter
    for scope, key in ((LOGIN_BY_CLIENT, http.client_network()), (LOGIN_BY_USER, username.lower()[:64])):
        verdict = limiter.hit(scope, key)
        if not verdict.allowed:
            raise SignInLimited(max(1, int(verdict.reset_at - time.time())))


def sign_in(username: str, password: str) -> Any | None:
    """The user if the password is right and the user active; the session then holds them alone."""
    with runtime().engine.connect() as conn:
        user = users.check_password(conn, username, password)
    if user is None:
        return None
    session.clear()
    session.permanent = True
    session["uid"] = user.id
    return user


def sign_out() -> None:
    session.clear()


def current_user() -> Any | None:
    """The signed-in, active user of this request (cached in ``g``), else None."""
    if "console_user" in g:
        return g.console_user
    uid = session.get("uid")
    user = None
    if isinstance(uid, int):
        with runtime().engine.connect() as conn:
            user = users.active_user(conn, uid)
        if user is None:
            session.clear()  # disabled or gone: the cookie is worth nothing now
    g.console_user = user
    return user


def actor() -> str:
    return f"user:{current_user().username}"


def require_admin() -> None:
    user = current_user()
    if user is None or UserRole(user.role) is not UserRole.ADMIN:
        raise Forbidden("only an admin may do this")
