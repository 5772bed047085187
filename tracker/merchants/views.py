"""The parcel API beyond registration (blueprint ``parcels``): list, read, correct, cancel, export.

=========================================  ===============================  ==============================
endpoint                                   who                              what
=========================================  ===============================  ==============================
``POST /api/v1/parcels``                   merchant, facility, admin        register (or complete) a parcel
``GET /api/v1/parcels``                    merchant, courier, ops, admin    a page, newest first, filtered
``GET /api/v1/parcels.csv``                merchant, courier, ops, admin    the same filters, every row, CSV
``GET /api/v1/parcels/{tracking_number}``  merchant, courier, ops, admin    the parcel's record
``PATCH /api/v1/parcels/{...}``            merchant (admin)                 correct the registration
``POST /api/v1/parcels/{...}/cancel``      merchant (admin)                 cancel it
=========================================  ===============================  ==============================

What each caller reaches is :mod:`tracker.merchants.access` (rules) and
:mod:`tracker.merchants.parcels` (queries); registration itself, and who
owns a registered parcel, is :func:`tracker.scans.parcels.register_parcel`.
A parcel the caller may not reach is a 404 with the body an unknown
tracking number gets, on every read and write.

Pages follow the canonical shape: ``?limit=&cursor=`` answering
``{"parcels": [...], "next": url|null}``, keyset on the parcel's id
(newest first), so following ``next`` never repeats or skips a parcel
when new ones are registered meanwhile.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any

from flask import Response, jsonify, stream_with_context
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tracker.core.db import write_transaction
from tracker.core.inputs import BIGINT_MAX, Instant, Number, PlanDate, opaque_token
from tracker.core.vocabulary import CustomerTier, ParcelStatus, Role
from tracker.merchants import parcels
from tracker.merchants.access import check_bound, csv_cell
from tracker.scans.parcels import register_parcel
from tracker.scans.schemas import (
    Code,
    Destination,
    DestinationOut,
    ParcelIn,
    ParcelRecordOut,
    ParcelRegisteredOut,
    Perishable,
    Recipient,
    RecipientOut,
    ServiceLevel,
    TrackingPath,
    Window,
    WindowOut,
)
from tracker.web import cursors
from tracker.web.auth import AUTH_ERRORS, authenticate_request, caller
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut, LocalTime, StrictQuery

api = APIBlueprint(
    "parcels",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[Tag(name="parcels", description="Merchants, couriers and ops: reading and changing parcels")],
    abp_security=[{"bearer": []}],
)
api.before_request(authenticate_request)

#: Who may read parcels (each within its scope); admin always may.
READERS = (Role.MERCHANT, Role.COURIER, Role.OPS)

Prefix = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9-]+$",
        description="The start of a tracking number (letters, digits and dashes).",
    ),
]


class ParcelFilters(StrictQuery):
    status: ParcelStatus | None = Field(None, description="What the scans say.")
    cancelled: bool | None = Field(None, description="true: cancelled parcels only; false: the others.")
    service_level: ServiceLevel | None = None
    registered_from: PlanDate | None = Field(
        None,
        description="Registered on or after this local day (a parcel known only from scans: first seen).",
    )
    registered_to: PlanDate | None = Field(None, description="Registered on or before this local day.")
    search: Prefix | None = None

    def filters(self) -> parcels.Filters:
        return parcels.Filters(
            status=self.status,
            cancelled=self.cancelled,
            service_level=self.service_level,
            registered_from=self.registered_from,
            registered_to=self.registered_to,
            search=self.search,
        )


class ParcelsQuery(ParcelFilters):
    limit: int = Field(50, ge=1, le=500)
    cursor: opaque_token() | None = Field(None, description="From the previous page's ``next``.")

    @field_validator("cursor")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            cursors.decode(value, _parse_cursor)
        return value


def _encode_cursor(parcel_id: int) -> str:
    return cursors.encode(f"p|{parcel_id}")


def _parse_cursor(text: str) -> int:
    kind, _, number = text.partition("|")
    if kind != "p" or not number.isdigit() or not 1 <= int(number) <= BIGINT_MAX:
        raise ValueError("no parcel id")
    return int(number)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParcelSummaryOut(_Answer):
    """A parcel in a list: its registration and where it stands (a courier key sees the recipient masked)."""

    tracking_number: str
    merchant: str | None = Field(description="The merchant that registered it; null while none has.")
    registered: bool
    status: ParcelStatus
    cancelled_at: LocalTime | None
    service_level: str | None
    customer_tier: CustomerTier
    registered_at: LocalTime | None
    first_seen_at: LocalTime
    ordered_at: LocalTime | None
    origin_facility: str | None
    destination: DestinationOut
    recipient: RecipientOut = Field(
        description="Courier keys: the name masked; the phone in full only on the courier's route today."
    )
    pickup_point: str | None
    weight_kg: float | None
    appointment: WindowOut | None
    promised_by: LocalTime | None
    eta: WindowOut | None
    last_event_at: LocalTime | None
    last_facility: str | None
    delivered_at: LocalTime | None


class ParcelListOut(_Answer):
    parcels: list[ParcelSummaryOut] = Field(description="Newest first.")
    next: str | None = Field(description="The URL of the next page; null on the last.")


#: Fields of the patch that may be left out but not sent as null (see ParcelPatchIn).
_NOT_NULL = ("service_level", "destination")


def _no_null_defaults(schema: dict[str, Any]) -> None:
    # Their schemas state no default of null, which a client (or a fuzzer) might send.
    for name in _NOT_NULL:
        schema["properties"][name].pop("default", None)


class ParcelPatchIn(BaseModel):
    """A JSON merge patch (RFC 7396) of the registration: sent fields replace, objects merge, null removes.

    The tracking number and the SSCC cannot change. The whole corrected
    registration must pass the registration's rules; the promise is computed
    again from it.
    """

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, allow_inf_nan=False, json_schema_extra=_no_null_defaults
    )

    # Not nullable: null removes a field from a merge patch, and a registration needs
    # both (left out, they stay as they are).
    service_level: ServiceLevel = None  # type: ignore[assignment]
    ordered_at: Instant | None = None
    origin_facility: Code | None = None
    destination: Destination = None  # type: ignore[assignment]
    recipient: Recipient | None = None
    # Not nullable: a tier is always one of the two (left out, it stays as it is).
    customer_tier: CustomerTier = CustomerTier.NORMAL
    appointment: Window | None = None
    pickup_point: Code | None = None
    perishable: Perishable | None = None
    weight_kg: Number | None = Field(None, gt=0, le=1000)
    delivery_otp: str | None = Field(None, pattern=r"^[0-9]{4,8}$")


_ERRORS = {404: ErrorOut, 422: ErrorOut, **AUTH_ERRORS}
_CHANGE_ERRORS = {
    **_ERRORS,
    409: ErrorOut,
}


@api.post(
    "/parcels",
    summary="Register a parcel",
    responses={
        201: ParcelRegisteredOut,
        200: ParcelRegisteredOut,
        409: ErrorOut,
        422: ErrorOut,
        **AUTH_ERRORS,
    },
)
def post_parcel(body: ParcelIn):  # type: ignore[no-untyped-def]
    """Register (or complete) a parcel; the same registration again is harmless.

    A merchant key's parcel is its merchant's; a tracking number another
    merchant registered is a 409 that names nobody (see :mod:`tracker.scans.parcels`).
    """
    principal = caller(Role.MERCHANT, Role.FACILITY)
    check_bound(principal)
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        registered = register_parcel(
            conn, body, now=rt.now(), policy=rt.ingest, merchant=principal.merchant_code
        )
    answer = jsonify(ParcelRegisteredOut(tracking_number=body.tracking_number, result=registered.outcome))
    answer.status_code = 201 if registered.outcome == "created" else 200
    answer.headers["Location"] = f"/api/v1/parcels/{body.tracking_number}"
    return answer


def _scope() -> parcels.Scope:
    rt = runtime()
    principal = caller(*READERS)
    check_bound(principal)
    return parcels.Scope.of(principal, now=rt.now(), zone=rt.settings.timezone)


@api.get(
    "/parcels",
    summary="Parcels the caller may see, newest first, filtered and paginated",
    responses={200: ParcelListOut, **_ERRORS},
)
def list_parcels(query: ParcelsQuery):  # type: ignore[no-untyped-def]
    """A merchant: its own parcels; a courier: those on its route today or it scanned today; ops: all."""
    scope = _scope()
    zone = runtime().settings.timezone
    after = cursors.decode(query.cursor, _parse_cursor) if query.cursor else None
    with runtime().engine.connect() as conn:
        page, last_id = parcels.list_page(
            conn, scope, query.filters(), limit=query.limit, after_id=after, zone=zone
        )
    next_url = None if last_id is None else cursors.next_page_url(_encode_cursor(last_id))
    return jsonify(ParcelListOut.model_validate({"parcels": page, "next": next_url}))


#: The export's columns, in order (the first row of the file).
CSV_COLUMNS = (
    "tracking_number",
    "merchant",
    "status",
    "cancelled_at",
    "service_level",
    "customer_tier",
    "registered_at",
    "ordered_at",
    "origin_facility",
    "region",
    "city",
    "district",
    "postcode",
    "address",
    "lat",
    "lon",
    "recipient_name",
    "recipient_phone",
    "pickup_point",
    "weight_kg",
    "promised_by",
    "eta_start",
    "eta_end",
    "last_event_at",
    "delivered_at",
)


def _csv_values(p: dict[str, Any]) -> list[Any]:
    dest, eta = p["destination"], p["eta"] or {}
    values = {
        **p,
        **dest,
        "recipient_name": p["recipient"]["name"],
        "recipient_phone": p["recipient"]["phone"],
        "eta_start": eta.get("start"),
        "eta_end": eta.get("end"),
    }
    return [csv_cell(values[c]) for c in CSV_COLUMNS]


@api.get(
    "/parcels.csv",
    summary="The parcels of the filters as CSV, every row, streamed",
    responses={
        200: {
            "description": "UTF-8 CSV (with a byte-order mark, for Excel), a header row, then one row"
            " per parcel, newest first. Text that a spreadsheet would read as a formula"
            " (starting with = + - @) starts with a ' instead.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **_ERRORS,
    },
)
def export_parcels(query: ParcelFilters):  # type: ignore[no-untyped-def]
    """The same parcels and filters as ``GET /api/v1/parcels``, all at once."""
    scope = _scope()
    rt = runtime()
    filters, zone = query.filters(), rt.settings.timezone

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # Excel reads UTF-8 (张三丰) only with the mark
        writer.writerow(CSV_COLUMNS)
        with rt.engine.connect() as conn:
            for count, parcel in enumerate(parcels.export_rows(conn, scope, filters, zone=zone), 1):
                writer.writerow(_csv_values(parcel))
                if count % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    day = rt.now().astimezone(zone).date()
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="parcels-{day.isoformat()}.csv"'},
    )


def _record(tracking_number: str, scope: parcels.Scope) -> Any:
    with runtime().engine.connect() as conn:
        record = parcels.read(conn, scope, tracking_number, zone=runtime().settings.timezone)
    return jsonify(ParcelRecordOut.model_validate(record))


@api.get(
    "/parcels/<tracking_number>",
    summary="A parcel with its events (and, for ops, its cases)",
    responses={200: ParcelRecordOut, **_ERRORS},
)
def get_parcel(path: TrackingPath):  # type: ignore[no-untyped-def]
    """Ops and admin: everything, unmasked. A merchant: its own parcel, without ops' cases.
    A courier: a parcel on its route today or scanned by it today, the recipient masked
    (the phone in full on its route) and its own scans only. Anything else: 404."""
    return _record(path.tracking_number, _scope())


@api.patch(
    "/parcels/<tracking_number>",
    summary="Correct a parcel's registration while it is still in the warehouse",
    responses={200: ParcelRecordOut, **_CHANGE_ERRORS},
)
def patch_parcel(path: TrackingPath, body: ParcelPatchIn):  # type: ignore[no-untyped-def]
    """A merge patch of the registration (recipient, destination, service level, weight...).

    409 ``parcel_left_warehouse`` once an ``outbound`` or ``departed`` scan (or a later
    one) is stored; 409 ``parcel_cancelled`` for a cancelled parcel. A changed service
    level or destination moves the promise.
    """
    principal = caller(Role.MERCHANT)
    check_bound(principal)
    rt = runtime()
    scope = parcels.Scope.of(principal, now=rt.now(), zone=rt.settings.timezone)
    patch = body.model_dump(mode="json", exclude_unset=True)
    with write_transaction(rt.engine) as conn:
        parcels.correct(conn, scope, path.tracking_number, patch, now=rt.now(), policy=rt.ingest)
    return _record(path.tracking_number, scope)


@api.post(
    "/parcels/<tracking_number>/cancel",
    summary="Cancel a parcel that has not left the warehouse",
    responses={200: ParcelRecordOut, **_CHANGE_ERRORS},
)
def cancel_parcel(path: TrackingPath):  # type: ignore[no-untyped-def]
    """The sweep stops watching it, its stale/at-risk/breach cases close, routing leaves it out.

    Cancelling again answers the same record (200); 409 ``parcel_left_warehouse``
    once it has left.
    """
    principal = caller(Role.MERCHANT)
    check_bound(principal)
    rt = runtime()
    scope = parcels.Scope.of(principal, now=rt.now(), zone=rt.settings.timezone)
    with write_transaction(rt.engine) as conn:
        parcels.cancel(conn, scope, path.tracking_number, now=rt.now())
    return _record(path.tracking_number, scope)
