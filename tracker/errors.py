"""Errors a client can be told about, and the one JSON shape they all take.

The hierarchy::

    TrackerError                 (500 internal_error)
    ├── BadRequest               (400 bad_request: unparseable body)
    ├── Unauthenticated          (401 unauthenticated: no key, unknown key)
    ├── Forbidden                (403 forbidden: the key may not do this)
    │   └── VerificationFailed   (403: wrong phone digits; tracker.verification)
    ├── NotFound                 (404 not_found)
    ├── Conflict                 (409 conflict: differs from what is stored)
    ├── PayloadTooLarge          (413 payload_too_large)
    ├── UnsupportedMediaType     (415 unsupported_media_type: not JSON)
    ├── ValidationFailed         (422 validation_failed: names each field)
    └── TooManyRequests          (429 too_many_requests)
        └── VerificationLocked   (429: too many wrong digits; tracker.verification)

Every error answers ``{"error": {"code", "message", "fields": [...]}}``
where ``fields`` lists ``{"field", "message"}`` (empty when no field is to
blame). Domain modules raise these; :func:`register_error_handlers` turns
them, and Flask's own HTTP errors, into that shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class TrackerError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, fields: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": [f.to_dict() for f in self.fields],
            }
        }


class BadRequest(TrackerError):
    status, code = 400, "bad_request"


class Unauthenticated(TrackerError):
    status, code = 401, "unauthenticated"


class Forbidden(TrackerError):
    status, code = 403, "forbidden"


class NotFound(TrackerError):
    status, code = 404, "not_found"


class Conflict(TrackerError):
    status, code = 409, "conflict"


class PayloadTooLarge(TrackerError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(TrackerError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(TrackerError):
    status, code = 422, "validation_failed"


class TooManyRequests(TrackerError):
    status, code = 429, "too_many_requests"


class FieldValueError(ValueError):
    """Raised by a cross-field validator to blame one field of its model."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic's errors as ``field``/``message`` pairs (``destination.lat``)."""
    out = []
    for err in exc.errors(include_url=False):
        parts = [str(part) for part in err["loc"] if not _is_union_tag(part)]
        cause = err.get("ctx", {}).get("error")
        message = _message(err)
        if isinstance(cause, FieldValueError):
            parts.append(cause.field)
            message = cause.message
        loc = ".".join(parts)
        field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "body")
        out.append(FieldError(field, message))
    return out


def _is_union_tag(part: Any) -> bool:
    # Pydantic puts the tried union member's name or tag in ``loc``; clients
    # don't care. Our discriminator tags start with "~" (see tracker.schemas).
    return isinstance(part, str) and part.startswith(("function-", "tagged-union", "~"))


def _message(err: Any) -> str:
    msg = str(err["msg"])
    # "Value error, occurred_at needs..." -> "occurred_at needs..."
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


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
