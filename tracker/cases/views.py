"""The ops API for cases and their workflow (views).

Everything here is for operations staff (role ``ops``; ``admin`` always may).

* ``GET /api/v1/cases``: filter by ``type``, ``state``, ``facility``,
  ``courier_id``, ``tracking_number`` (an empty filter is no filter) and the
  time a case was opened (``since`` inclusive, ``until`` exclusive), newest
  first, with keyset pagination: ``next`` is the URL of the following page
  (an opaque ``cursor`` holding the last case's ``opened_at`` and id), so a
  page never repeats or skips a case when new ones open meanwhile.
* ``GET /api/v1/cases/{case_id}``: the case with its whole history.
* ``POST /api/v1/cases/{case_id}/acknowledge``, ``.../assign``, ``.../answer``
  and ``.../resolve``: steps of the workflow (:mod:`tracker.cases.store`),
  recorded with the actor ``"<role>:<key id>"`` (the ops console records
  ``"user:<username>"``). ``answer`` is a message to the customer, shown on
  the verified tracking page. Nothing deletes a case or hides a complaint.

The scorecards and damage hotspots, under the same tag and auth, are
detection's: :mod:`tracker.detection.views` (blueprint ``reports``), which
builds on this module's :data:`TAG` and :data:`ERRORS` (cases sits below
detection, so the shared pieces live here); queries are
:class:`tracker.web.schemas.StrictQuery` s.

Every answer is built from the model the OpenAPI documents (:class:`CaseOut`,
:class:`CaseListOut`), in the canonical names: ``case_id``, ``courier_id``,
``facility``.

Queries, bodies and cursors follow :mod:`tracker.core.inputs`: no control
characters in filters or notes, times from 2000-01-01 to 2099 (a cursor that
decodes to another time is not one this API gave out), case ids at most a
BIGINT (a larger id is a 422 naming ``case_id``, never a database error).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from flask import jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Connection, case, func, literal, select, tuple_

from tracker.cases import store as cases
from tracker.cases.priority import SEVERITY
from tracker.core.db import write_transaction
from tracker.core.errors import FieldValueError, NotFound
from tracker.core.inputs import (
    CaseNote,
    DatabaseId,
    Instant,
    Message,
    Username,
    Word,
    check_instant,
    opaque_token,
)
from tracker.core.models import Case, Parcel
from tracker.core.timefmt import iso_local, iso_local_or_none
from tracker.core.vocabulary import CaseState, CaseType, CustomerTier, Role
from tracker.keys.store import Principal
from tracker.scans.schemas import TrackingNumber
from tracker.web import cursors
from tracker.web.auth import AUTH_ERRORS, authenticate_request, caller
from tracker.web.runtime import runtime
from tracker.web.schemas import ErrorOut, LocalTime, ReasonOut, StrictQuery

#: The ops tag, shared with detection's scorecards and hotspots (:mod:`tracker.detection.views`).
TAG = Tag(name="cases", description="Operations staff: cases, scorecards, hotspots")
#: The error responses every ops endpoint documents.
ERRORS = {404: ErrorOut, 422: ErrorOut, **AUTH_ERRORS}

api = APIBlueprint(
    "cases",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[TAG],
    abp_security=[{"bearer": []}],
)
api.before_request(authenticate_request)


class CasesQuery(StrictQuery):
    type: CaseType | None = None
    state: CaseState | None = None
    facility: Word | None = None
    courier_id: Word | None = None
    tracking_number: TrackingNumber | None = None
    since: Instant | None = Field(None, description="Opened at or after (RFC 3339).")
    until: Instant | None = Field(None, description="Opened before (RFC 3339).")
    sort: Literal["newest", "priority"] = Field(
        "newest",
        description="newest: newest first. priority: vip customers first, then the type's severity"
        " (lost, customer_dispute, complaint, damage, suspected_fake_delivery, pickup_code_mismatch,"
        " sla_breach,"
        " temperature_excursion, missed_appointment, at_risk, stale), then the earliest answer due"
        " (cases without one after), then oldest first.",
    )
    limit: int = Field(50, ge=1, le=500)
    cursor: opaque_token() | None = Field(None, description="From the previous page's ``next``.")

    @field_validator("cursor")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            cursors.decode(value, _parse_cursor)
        return value

    @model_validator(mode="after")
    def _cursor_of_this_sort(self) -> CasesQuery:
        if self.cursor is not None and _is_priority_cursor(self.cursor) != (self.sort == "priority"):
            raise FieldValueError("cursor", "not a cursor of this sort order")
        return self


class CasePath(BaseModel):
    case_id: DatabaseId = Field(description="At most 2^63 - 1 (a larger id is a 422).")


class AcknowledgeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    note: CaseNote | None = None


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    resolution: Word = Field(json_schema_extra={"enum": sorted(cases.RESOLUTIONS)}, examples=["false_alarm"])
    note: CaseNote | None = None


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    assignee: Username = Field(description="The username of an active ops console user.", examples=["li.na"])
    note: CaseNote | None = None


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    message: Message = Field(
        description="For the customer: shown on the parcel's verified tracking page.",
        examples=["We are checking with the courier and will call you today."],
    )


class CaseEventOut(BaseModel):
    at: LocalTime
    action: str = Field(
        description="opened, updated, closed, acknowledged, assigned, answered (note: the message "
        "to the customer) or resolved."
    )
    actor: str = Field(
        description='"system", "customer", "<role>:<key id>" of an API key, '
        'or "user:<username>" of the ops console.'
    )
    note: str | None
    data: dict[str, Any] | None = Field(
        description="opened/updated: reasons and score; resolved: resolution."
    )


class CaseOut(BaseModel):
    case_id: int
    tracking_number: str
    type: CaseType
    state: CaseState
    reasons: list[ReasonOut]
    score: float | None
    facility: str | None
    courier_id: str | None
    opened_at: LocalTime
    updated_at: LocalTime
    closed_at: LocalTime | None
    resolution: str | None
    assignee: str | None = Field(description="The console user working the case.")
    due_at: LocalTime | None = Field(None, description="When the customer is owed an answer (complaints).")
    customer_tier: CustomerTier = CustomerTier.NORMAL


class CaseHistoryOut(CaseOut):
    history: list[CaseEventOut] = Field(description="Oldest first; nothing is ever removed.")


class CaseListOut(BaseModel):
    cases: list[CaseOut]
    next: str | None = Field(description="The URL of the next page; null on the last.")


def _actor(principal: Principal) -> str:
    return f"{principal.role.value}:{principal.key_id}"


#: Stands for "no answer due" in the priority order: after every real due time.
NO_DUE = datetime(2099, 12, 31, tzinfo=UTC)
_PRIORITY_PREFIX = "p|"


def _priority_keys() -> tuple[Any, Any, Any]:
    tier = case((Parcel.customer_tier == CustomerTier.VIP, 0), else_=1)
    severity = case(*((Case.type == t, rank) for t, rank in SEVERITY.items()), else_=len(SEVERITY))
    due = func.coalesce(Case.due_at, literal(NO_DUE, Case.due_at.type))
    return tier, severity, due


def _encode_newest_cursor(row: Any) -> str:
    return cursors.encode_time_id(row.opened_at, row.id)


def _encode_priority_cursor(row: Any) -> str:
    due = (row.due_at or NO_DUE).isoformat()
    tier = 0 if row.customer_tier == CustomerTier.VIP else 1
    severity = SEVERITY.get(row.type, len(SEVERITY))
    return cursors.encode(f"{_PRIORITY_PREFIX}{tier}|{severity}|{due}|{row.opened_at.isoformat()}|{row.id}")


def _is_priority_cursor(cursor: str) -> bool:
    try:
        return cursors.text_of(cursor).startswith(_PRIORITY_PREFIX)
    except ValueError:
        return False


def _decode_priority_cursor(cursor: str) -> tuple[int, int, datetime, datetime, int]:
    tier, severity, due, opened, case_id = cursors.text_of(cursor).removeprefix(_PRIORITY_PREFIX).split("|")
    return int(tier), int(severity), datetime.fromisoformat(due), datetime.fromisoformat(opened), int(case_id)


def _parse_cursor(text: str) -> tuple[datetime, int]:
    # Either order's cursor ends in the case's opened_at and id; a priority one checks its ranks too.
    if text.startswith(_PRIORITY_PREFIX):
        tier, severity, due, opened, case_id = text.removeprefix(_PRIORITY_PREFIX).split("|")
        if tier not in ("0", "1") or not 0 <= int(severity) <= len(SEVERITY):
            raise ValueError("no rank")
        check_instant(datetime.fromisoformat(due))
        text = f"{opened}|{case_id}"
    return cursors.parse_time_id(text)


def _case(row: Any) -> CaseOut:
    zone = runtime().settings.timezone
    return CaseOut(
        case_id=row.id,
        tracking_number=row.tracking_number,
        type=row.type,
        state=row.state,
        reasons=cases.local_reasons(row.reasons, zone),
        score=row.score,
        facility=row.facility_code,
        courier_id=row.courier_code,
        opened_at=iso_local(row.opened_at, zone),
        updated_at=iso_local(row.updated_at, zone),
        closed_at=iso_local_or_none(row.closed_at, zone),
        resolution=row.resolution,
        assignee=row.assignee,
        due_at=iso_local_or_none(row.due_at, zone),
        customer_tier=row.customer_tier,
    )


_CASE_COLUMNS = (
    Case.id,
    Parcel.tracking_number,
    Case.type,
    Case.state,
    Case.reasons,
    Case.score,
    Case.facility_code,
    Case.courier_code,
    Case.opened_at,
    Case.updated_at,
    Case.closed_at,
    Case.resolution,
    Case.assignee,
    Case.due_at,
    Parcel.customer_tier,
)


def _one_case(conn: Connection, case_id: int) -> CaseHistoryOut:
    row = conn.execute(
        select(*_CASE_COLUMNS).join(Parcel, Parcel.id == Case.parcel_id).where(Case.id == case_id)
    ).first()
    if row is None:
        raise NotFound(f"no case {case_id}")
    history = cases.history(conn, case_id, zone=runtime().settings.timezone)
    return CaseHistoryOut(**dict(_case(row)), history=history)


@api.get(
    "/cases", summary="Cases, newest first, filtered and paginated", responses={200: CaseListOut, **ERRORS}
)
def list_cases(query: CasesQuery):  # type: ignore[no-untyped-def]
    caller(Role.OPS)
    statement = select(*_CASE_COLUMNS).join(Parcel, Parcel.id == Case.parcel_id)
    filters = {
        Case.type: query.type,
        Case.state: query.state,
        Case.facility_code: query.facility,
        Case.courier_code: query.courier_id,
        Parcel.tracking_number: query.tracking_number,
    }
    for column, value in filters.items():
        if value is not None:
            statement = statement.where(column == value)
    if query.since is not None:
        statement = statement.where(Case.opened_at >= query.since)
    if query.until is not None:
        statement = statement.where(Case.opened_at < query.until)
    if query.sort == "priority":
        tier, severity, due = _priority_keys()
        if query.cursor is not None:
            a_tier, a_severity, a_due, a_opened, a_id = _decode_priority_cursor(query.cursor)
            statement = statement.where(
                tuple_(tier, severity, due, Case.opened_at, Case.id)
                > tuple_(
                    literal(a_tier),
                    literal(a_severity),
                    literal(a_due, Case.due_at.type),
                    literal(a_opened, Case.opened_at.type),
                    literal(a_id),
                )
            )
        statement = statement.order_by(tier, severity, due, Case.opened_at, Case.id).limit(query.limit + 1)
    else:
        if query.cursor is not None:
            statement = statement.where(cursors.older_than(query.cursor, Case.opened_at, Case.id))
        statement = statement.order_by(Case.opened_at.desc(), Case.id.desc()).limit(query.limit + 1)
    # A list may lag a moment: a replica's when one is healthy (one case, below, reads the primary).
    with runtime().reads.connect() as conn:
        rows = conn.execute(statement).all()
    page, next_url = cursors.page_and_next(
        rows,
        query.limit,
        _encode_priority_cursor if query.sort == "priority" else _encode_newest_cursor,
    )
    return jsonify(CaseListOut(cases=[_case(r) for r in page], next=next_url))


@api.get(
    "/cases/<int:case_id>", summary="A case with its whole history", responses={200: CaseHistoryOut, **ERRORS}
)
def get_case(path: CasePath):  # type: ignore[no-untyped-def]
    caller(Role.OPS)
    with runtime().engine.connect() as conn:
        return jsonify(_one_case(conn, path.case_id))


def _body(model: type[BaseModel]) -> Any:
    # An empty body is allowed where every field is optional (acknowledge).
    raw = request.get_json(silent=True)
    return model.model_validate({} if raw is None else raw)


@api.post(
    "/cases/<int:case_id>/acknowledge",
    summary="Acknowledge an open case",
    responses={200: CaseHistoryOut, 409: ErrorOut, **ERRORS},
)
def acknowledge_case(path: CasePath):  # type: ignore[no-untyped-def]
    """Someone is looking at it. Only an open case can be acknowledged (409 otherwise)."""
    principal = caller(Role.OPS)
    body = _body(AcknowledgeIn)
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        cases.acknowledge(conn, path.case_id, now=rt.now(), actor=_actor(principal), note=body.note)
        return jsonify(_one_case(conn, path.case_id))


@api.post(
    "/cases/<int:case_id>/resolve",
    summary="Resolve a case with a resolution and a note",
    responses={200: CaseHistoryOut, 409: ErrorOut, **ERRORS},
)
def resolve_case(path: CasePath, body: ResolveIn):  # type: ignore[no-untyped-def]
    """``resolution`` is one of the documented values; a resolved case cannot be resolved again (409)."""
    principal = caller(Role.OPS)
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        cases.resolve(
            conn, path.case_id, body.resolution, now=rt.now(), actor=_actor(principal), note=body.note
        )
        return jsonify(_one_case(conn, path.case_id))


@api.post(
    "/cases/<int:case_id>/assign",
    summary="Give a case to an ops user of the console",
    responses={200: CaseHistoryOut, 409: ErrorOut, **ERRORS},
)
def assign_case(path: CasePath, body: AssignIn):  # type: ignore[no-untyped-def]
    """``assignee`` is an active console user (422 otherwise); a resolved case is not assigned (409)."""
    principal = caller(Role.OPS)
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        cases.assign(
            conn, path.case_id, assignee=body.assignee, now=rt.now(), actor=_actor(principal), note=body.note
        )
        return jsonify(_one_case(conn, path.case_id))


@api.post(
    "/cases/<int:case_id>/answer",
    summary="Answer the customer of a case",
    responses={200: CaseHistoryOut, **ERRORS},
)
def answer_case(path: CasePath, body: AnswerIn):  # type: ignore[no-untyped-def]
    """The message is for the customer: the verified tracking page shows the latest answer.

    Recorded in the history as ``answered`` with the message as its note; any
    case may be answered, a resolved one too.
    """
    principal = caller(Role.OPS)
    rt = runtime()
    with write_transaction(rt.engine) as conn:
        cases.answer_case(conn, path.case_id, message=body.message, actor=_actor(principal), now=rt.now())
        return jsonify(_one_case(conn, path.case_id))
