"""Every error as one JSON shape: the web side of :mod:`tracker.core.errors`.

Domain code raises :class:`~tracker.core.errors.TrackerError` and its
subclasses, which know nothing of Flask; :func:`register_error_handlers`
turns them, pydantic's validation errors and werkzeug's own HTTP errors
(404 for an unknown path, 405, 413 from ``MAX_CONTENT_LENGTH``) into
``{"error": {"code", "message", "fields": [...]}}`` with the right status.

A database that does not answer (stopped, restarting, unreachable, out of
connections, the pool exhausted) is not a bug of ours: the client gets a 503
``database_unavailable`` with ``Retry-After`` and the log gets one line per
failed request, not a traceback (an outage used to write megabytes of them a
second). :func:`database_unavailable` decides which errors those are; every
other database error (a ``ProgrammingError``, SQLite's "no such table", a
constraint) still goes to Flask's 500 handler and logs its traceback. The
engine's ``pool_pre_ping`` (:func:`tracker.core.db.make_engine`) replaces the
pool's dead connections once the server is back, so nothing needs a restart.

**Pages.** The HTML blueprints (the tracking pages, the console) answer their
own errors as pages, with their blueprint's error handlers. A URL under their
prefix that matches no route (``/ops/cases/abc``, a wrong method) reaches no
blueprint, so each registers its page for those with :func:`page_errors_under`:
a reader who mistypes a console URL gets the console's 404 page, not JSON.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from flask import Flask, Response, jsonify, request
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from tracker.core.errors import (
    BadRequest,
    Conflict,
    DatabaseUnavailable,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    TrackerError,
    Unauthenticated,
    UnsupportedMediaType,
    ValidationFailed,
    field_errors,
)


def _response(error: TrackerError, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error.to_dict())
    response.status_code = error.status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


_HTTP_CODES = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: ValidationFailed,
    429: TooManyRequests,
    503: ServiceUnavailable,
}

log = logging.getLogger("tracker.http")

#: Seconds a client is asked to wait after a 503: a restarting server is back in a few.
RETRY_AFTER_SECONDS = 2

# SQLSTATE classes (PostgreSQL) that say the server, not the statement, failed:
# 08 connection, 28 authorization (a misconfigured or rotated password), 40 a
# serialization failure or deadlock (a retry succeeds), 53 insufficient resources
# (too many connections, disk full), 57 operator intervention (shutdown, "starting
# up", a statement timeout), 58 system error (I/O).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "28", "40", "53", "57", "58"})
_TRANSIENT_SQLSTATES = frozenset({"55P03"})  # lock_not_available (lock_timeout)

# SQLite's primary result codes for a busy, locked, full or unreadable file.
# SQLITE_ERROR (1: no such table, a syntax error) and the rest are our bugs.
_TRANSIENT_SQLITE_CODES = frozenset({5, 6, 7, 8, 10, 13, 14, 15})


def database_unavailable(error: BaseException) -> bool:
    """Is ``error`` the database failing to answer (503), not a bug in a statement (500)?"""
    if isinstance(error, PoolTimeout):  # every pooled connection busy for pool_timeout seconds
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:  # the dialect saw the connection die under the statement
        return True
    if not isinstance(error, OperationalError):
        return False
    driver = error.orig
    if isinstance(driver, sqlite3.Error):
        return (getattr(driver, "sqlite_errorcode", 0) & 0xFF) in _TRANSIENT_SQLITE_CODES
    sqlstate = getattr(driver, "sqlstate", None)
    if sqlstate is None:  # psycopg's own: no connection could be made, or it was lost
        return True
    return sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES or sqlstate in _TRANSIENT_SQLSTATES


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0][:300] if lines else type(cause).__name__


#: ``app.extensions`` key: URL prefix -> the page that answers an error there (see "Pages").
PAGE_ERRORS = "page_errors"


def page_errors_under(app: Flask, prefix: str, page: Callable[[TrackerError], Response]) -> None:
    """Answer errors of URLs under ``prefix`` that match no route with ``page`` (an HTML error page)."""
    app.extensions.setdefault(PAGE_ERRORS, {})[prefix.rstrip("/")] = page


def _page_for_unrouted(app: Flask) -> Callable[[TrackerError], Response] | None:
    if request.url_rule is not None:
        return None  # a routed request: its blueprint's handlers had their turn
    path = request.path
    for prefix, page in app.extensions.get(PAGE_ERRORS, {}).items():
        if path == prefix or path.startswith(prefix + "/"):
            return page  # type: ignore[no-any-return]
    return None


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(TrackerError)
    def _tracker_error(error: TrackerError) -> Response:
        retry = {"Retry-After": str(error.retry_after)} if error.retry_after else None
        return _response(error, retry)

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError) -> Response:
        return _response(ValidationFailed("the request is not valid", field_errors(error)))

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        cls = _HTTP_CODES.get(error.code or 500)
        if cls is None:
            tracker_error = TrackerError(error.description or error.name)
            tracker_error.status = error.code or 500
            tracker_error.code = error.name.lower().replace(" ", "_")
        else:
            tracker_error = cls(error.description or error.name)
        # Keep werkzeug's headers (Allow on a 405, Retry-After on a 429).
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        page = _page_for_unrouted(app)
        if page is not None:
            response = page(tracker_error)
            response.headers.update(headers)
            return response
        return _response(tracker_error, headers)

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def _database_error(error: Exception) -> Response:
        if not database_unavailable(error):
            # A bug, not an outage: Flask's 500 handler logs it with its traceback.
            raise error
        log.warning(
            "database unavailable",
            extra={
                "fields": {
                    "method": request.method,
                    "path": request.path,
                    "error": type(getattr(error, "orig", None) or error).__name__,
                    "detail": _first_line(error),
                }
            },
        )
        answer = DatabaseUnavailable(
            f"the database is not answering; try again in {RETRY_AFTER_SECONDS} seconds"
        )
        return _response(answer, {"Retry-After": str(RETRY_AFTER_SECONDS)})
