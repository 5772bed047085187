"""The ops API: everything about a parcel, unmasked, for operations staff."""

from __future__ import annotations

from flask import jsonify
from flask_openapi3 import APIBlueprint, Tag

from tracker.core.vocabulary import Role
from tracker.scans.parcels import parcel_record
from tracker.scans.schemas import TrackingPath
from tracker.web.auth import AUTH_ERRORS, authenticate_request, caller
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut

api = APIBlueprint(
    "ops",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="ops", description="Operations staff")],
    abp_security=[{"bearer": []}],
)
api.before_request(authenticate_request)


@api.get(
    "/parcels/<tracking_number>",
    summary="A parcel with its events and cases",
    responses={404: ErrorOut, **AUTH_ERRORS},
)
def get_parcel(path: TrackingPath):  # type: ignore[no-untyped-def]
    caller(Role.OPS)
    with runtime().engine.connect() as conn:
        return jsonify(parcel_record(conn, path.tracking_number))
