"""The OpenAPI document: flask-openapi3's, plus the answers the plumbing gives every operation.

Each view documents what *it* answers (its 200 with a response model, its
404 and 409). What the shared plumbing answers, whatever the view, is
documented here once, for every operation it applies to, so no endpoint can
forget one (schemathesis found 400s documented nowhere and 422s documented
with flask-openapi3's own error list, which we never send):

* every error, in the one shape :class:`~tracker.web.schemas.ErrorOut`;
* with a request body (:mod:`tracker.web.jsonio`): 400 for a body that is
  not JSON (the message says where it breaks), 413 past
  ``TRACKER_MAX_BODY_BYTES`` (chunked bodies too), 415 for a body that is
  declared as something else than JSON;
* with parameters or a body: 422 naming each bad field;
* with a key (``security``): 401 without a valid one, 403 for a key that may not;
* everything reads the database: 503 ``database_unavailable`` with
  ``Retry-After`` while it does not answer (:mod:`tracker.web.errors`).

The spec is completed where flask-openapi3 generates it, so ``/openapi.json``
and the docs page's copy (``/docs/openapi.json``) say the same.
"""

from __future__ import annotations

from typing import Any

from flask_openapi3 import OpenAPI

from tracker.web.schemas import ErrorOut

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}

_BODY_ERRORS = {
    "400": "The body is not JSON (the message says where it breaks).",
    "413": "The body is larger than the server takes (TRACKER_MAX_BODY_BYTES).",
    "415": "The body is declared as something else than application/json.",
}
_KEY_ERRORS = {
    "401": "No API key, or not a valid one.",
    "403": "This key may not do this.",
}
_VALIDATION = ("422", "A parameter or a field is not valid: each is named in `error.fields`.")
_UNAVAILABLE = (
    "503",
    "Not now: the database does not answer (`database_unavailable`), or every route-solving"
    " slot is taken (`solver_busy`); try again after `Retry-After` seconds.",
)
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}
}


def document_plumbing(spec: dict[str, Any]) -> None:
    """Add to each operation of ``spec`` the error answers the plumbing gives it (in place)."""
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                for status, description in _BODY_ERRORS.items():
                    _error(responses, status, description)
            if operation.get("security"):
                for status, description in _KEY_ERRORS.items():
                    _error(responses, status, description)
            if operation.get("parameters") or "requestBody" in operation:
                # Ours, never flask-openapi3's list of pydantic errors: the view may
                # document its own 422 (a scan batch's results), which stays.
                if _is_flask_openapi3_default(responses.get(_VALIDATION[0])):
                    del responses[_VALIDATION[0]]
                _error(responses, *_VALIDATION)
            _error(responses, *_UNAVAILABLE)
            # A view's own 503 (solver_busy) comes with Retry-After too (tracker.web.errors).
            responses[_UNAVAILABLE[0]].setdefault("headers", _RETRY_AFTER)


def _error(responses: dict[str, Any], status: str, description: str, **extra: Any) -> None:
    if responses.get(status, {}).get("content"):
        return  # the view documents this answer itself
    responses[status] = {"description": description, "content": _ERROR, **extra}


def _is_flask_openapi3_default(response: dict[str, Any] | None) -> bool:
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("type") == "array"


class TrackerOpenAPI(OpenAPI):
    """flask-openapi3's app whose document also states the plumbing's answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The component flask-openapi3 adds for validation errors: ours, not its list of pydantic's.
        kwargs.setdefault("validation_error_model", ErrorOut)
        super().__init__(*args, **kwargs)

    def generate_spec_json(self) -> None:  # type: ignore[no-untyped-def]
        super().generate_spec_json()
        document_plumbing(self.spec_json)
