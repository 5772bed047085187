"""Errors a client can be told about, and the one JSON shape they all take (Flask-free).

The hierarchy::

    TrackerError                 (500 internal_error)
    ├── BadRequest               (400 bad_request: unparseable body)
    ├── Unauthenticated          (401 unauthenticated: no key, unknown key)
    ├── Forbidden                (403 forbidden: the key may not do this)
    │   └── VerificationFailed   (403: wrong phone digits; tracker.tracking.verification)
    ├── NotFound                 (404 not_found)
    ├── Conflict                 (409 conflict: differs from what is stored)
    ├── PayloadTooLarge          (413 payload_too_large)
    ├── UnsupportedMediaType     (415 unsupported_media_type: not JSON)
    ├── ValidationFailed         (422 validation_failed: names each field)
    ├── TooManyRequests          (429 too_many_requests)
    │   └── VerificationLocked   (429: too many wrong digits; tracker.tracking.verification)
    └── ServiceUnavailable       (503 service_unavailable: try again after ``Retry-After``)
        ├── DatabaseUnavailable  (503 database_unavailable: the database does not answer; tracker.web.errors)
        └── SolverBusy           (503 solver_busy: every route-solving slot is taken; tracker.routing.slots)

Every error answers ``{"error": {"code", "message", "fields": [...]}}``
where ``fields`` lists ``{"field", "message"}`` (empty when no field is to
blame). Domain modules raise these without knowing about HTTP (the status
is a class attribute, not a response); :mod:`tracker.web.errors` turns them,
pydantic's validation errors and Flask's own HTTP errors into that shape, and
the commands print them as one line (:func:`tracker.core.commandline.fail`).

:class:`FieldError` is the one record of "this field, this reason" across the
code base: request validation, domain checks and routing input all use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class TrackerError(Exception):
    status = 500
    code = "internal_error"
    #: Seconds to wait before trying again (sent as ``Retry-After``), where that helps.
    retry_after: int | None = None

    def __init__(self, message: str, fields: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross back from the solving processes (tracker.routing.slots)
        # by pickle, which would call a subclass's own __init__ with the
        # message alone; rebuild the instance and its attributes as they are.
        return (_rebuilt, (type(self), self.args), self.__dict__.copy())

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": [f.to_dict() for f in self.fields],
            }
        }


def _rebuilt(cls: type[TrackerError], args: tuple[Any, ...]) -> TrackerError:
    error = Exception.__new__(cls)
    error.args = args
    return error


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


class ServiceUnavailable(TrackerError):
    status, code = 503, "service_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"


class SolverBusy(ServiceUnavailable):
    """Every route-solving slot of this process is taken; try again shortly."""

    code = "solver_busy"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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
    # don't care. Our discriminator tags start with "~" (see tracker.scans.schemas).
    return isinstance(part, str) and part.startswith(("function-", "tagged-union", "~"))


def _message(err: Any) -> str:
    msg = str(err["msg"])
    # "Value error, occurred_at needs..." -> "occurred_at needs..."
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
