"""Small helpers shared by the blueprints: who is calling, error docs."""

from __future__ import annotations

from flask import g, request

from tracker.core.vocabulary import Role
from tracker.keys.principal import Principal, require
from tracker.web.jsonio import parse_json_body
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut

#: Documented error answers of authenticated endpoints.
AUTH_ERRORS = {401: ErrorOut, 403: ErrorOut}


def authenticate_request() -> None:
    """``before_request`` of the authenticated blueprints.

    Runs before the body is parsed or validated, so an unauthenticated client
    learns nothing about the schema and gets its 401 first, even for a
    malformed body; with a valid key that body is then the 400 saying where
    the JSON breaks.
    """
    rt = runtime()
    g.principal = rt.keys.principal(request.headers.get("Authorization"), rt.engine.connect)
    parse_json_body()


def caller(*roles: Role) -> Principal:
    """The authenticated caller, who must hold one of ``roles`` (admin always may)."""
    principal: Principal = g.principal
    require(principal, *roles)
    return principal
