"""Every error as one JSON shape: the web side of :mod:`tracker.core.errors`.

Domain code raises :class:`~tracker.core.errors.TrackerError` and its
subclasses, which know nothing of Flask; :func:`register_error_handlers`
turns them, pydantic's validation errors and werkzeug's own HTTP errors
(404 for an unknown path, 405, 413 from ``MAX_CONTENT_LENGTH``) into
``{"error": {"code", "message", "fields": [...]}}`` with the right status.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from tracker.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
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
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(TrackerError)
    def _tracker_error(error: TrackerError) -> Response:
        return _response(error)

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
        return _response(tracker_error, headers)
