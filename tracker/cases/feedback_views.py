"""What customers said, for ops: ``GET /api/v1/feedback`` (views).

Reports, complaints and ratings are rows of ``feedback`` (written by the
tracking page, :mod:`tracker.tracking.feedback`); complaints also open
cases, but a ``late`` report's comment or a rating's words are only here.
Newest first, filtered by ``kind``, ``about`` (a complaint's kind),
``tracking_number``, ``low_rating=true`` (ratings of 1 or 2 on any
dimension: those that reached ops as a ``complaint`` case) and the time it
was received (``since`` inclusive, ``until`` exclusive), keyset-paged as the
case list is (``next``: the URL of the following page).

For ops (``admin`` always may), under the cases tag. The customer's words
are shown as they wrote them: this is the ops API, never public.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_openapi3 import APIBlueprint
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import and_, or_, select

from tracker.cases.views import ERRORS, TAG
from tracker.core.inputs import Instant, opaque_token
from tracker.core.models import Case, Feedback, FeedbackKind, Parcel
from tracker.core.timefmt import iso_local
from tracker.core.vocabulary import CaseState, ComplaintKind, CustomerTier, Role
from tracker.scans.schemas import TrackingNumber
from tracker.web import cursors
from tracker.web.auth import authenticate_request, caller
from tracker.web.runtime import runtime
from tracker.web.schemas import LocalTime, StrictQuery

api = APIBlueprint("feedback", __name__, url_prefix="/api/v1", abp_tags=[TAG], abp_security=[{"bearer": []}])
api.before_request(authenticate_request)


class FeedbackQuery(StrictQuery):
    kind: FeedbackKind | None = None
    about: ComplaintKind | None = Field(None, description="Complaints about this only.")
    tracking_number: TrackingNumber | None = None
    low_rating: bool | None = Field(
        None, description="true: ratings with a score of 1 or 2 (each opened or joined a complaint case)."
    )
    since: Instant | None = Field(None, description="Received at or after (RFC 3339).")
    until: Instant | None = Field(None, description="Received before (RFC 3339).")
    limit: int = Field(50, ge=1, le=500)
    cursor: opaque_token() | None = Field(None, description="From the previous page's ``next``.")

    @field_validator("cursor")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            cursors.decode_time_id(value)
        return value


class ScoresOut(BaseModel):
    packaging: int
    courier: int
    speed: int


class FeedbackItemOut(BaseModel):
    reference: str = Field(description="What the customer was told (F00000042).")
    tracking_number: str
    customer_tier: CustomerTier
    kind: FeedbackKind
    about: ComplaintKind | None = Field(description="A complaint's kind (late, damaged, not_received too).")
    received_at: LocalTime
    comment: str | None = Field(description="The customer's words (a damage report's description).")
    scores: ScoresOut | None = Field(description="A rating's scores, 1 to 5.")
    promise_passed: bool | None = Field(description="A late report: had the promise passed?")
    case_id: int | None = Field(description="The case it opened or joined.")
    case_state: CaseState | None


class FeedbackListOut(BaseModel):
    feedback: list[FeedbackItemOut]
    next: str | None = Field(description="The URL of the next page; null on the last.")


#: The reports that are complaints of the same name.
_ABOUT = {
    FeedbackKind.LATE: ComplaintKind.LATE,
    FeedbackKind.DAMAGED: ComplaintKind.DAMAGED,
    FeedbackKind.NOT_RECEIVED: ComplaintKind.NOT_RECEIVED,
}


def _item(row: Any) -> FeedbackItemOut:
    kind = FeedbackKind(row.kind)
    payload = row.payload or {}
    about = payload.get("about") if kind is FeedbackKind.COMPLAINT else _ABOUT.get(kind)
    scored = kind is FeedbackKind.RATING and all(k in payload for k in ("packaging", "courier", "speed"))
    return FeedbackItemOut(
        reference=f"F{row.id:08d}",
        tracking_number=row.tracking_number,
        customer_tier=row.customer_tier,
        kind=kind,
        about=about,
        received_at=iso_local(row.created_at, runtime().settings.timezone),
        comment=payload.get("comment") or payload.get("description"),
        scores=ScoresOut(**{k: payload[k] for k in ("packaging", "courier", "speed")}) if scored else None,
        promise_passed=payload.get("promise_passed") if kind is FeedbackKind.LATE else None,
        case_id=row.case_id,
        case_state=row.state,
    )


@api.get(
    "/feedback",
    summary="What customers reported, complained and rated, newest first",
    responses={200: FeedbackListOut, **ERRORS},
)
def list_feedback(query: FeedbackQuery):  # type: ignore[no-untyped-def]
    """Late reports and rating comments included (they are not all cases); ``next`` pages on."""
    caller(Role.OPS)
    statement = (
        select(
            Feedback.id,
            Feedback.kind,
            Feedback.payload,
            Feedback.created_at,
            Feedback.case_id,
            Parcel.tracking_number,
            Parcel.customer_tier,
            Case.state,
        )
        .join(Parcel, Parcel.id == Feedback.parcel_id)
        .outerjoin(Case, Case.id == Feedback.case_id)
    )
    if query.kind is not None:
        statement = statement.where(Feedback.kind == query.kind)
    if query.about is not None:
        same = [kind for kind, about in _ABOUT.items() if about is query.about]
        complaint = and_(
            Feedback.kind == FeedbackKind.COMPLAINT,
            Feedback.payload["about"].as_string() == query.about.value,
        )
        statement = statement.where(or_(complaint, Feedback.kind.in_(same)) if same else complaint)
    if query.tracking_number is not None:
        statement = statement.where(Parcel.tracking_number == query.tracking_number)
    if query.low_rating is not None:
        # A rating opened or joined a complaint case exactly when a score was low.
        low = Feedback.case_id.is_not(None) if query.low_rating else Feedback.case_id.is_(None)
        statement = statement.where(Feedback.kind == FeedbackKind.RATING, low)
    if query.since is not None:
        statement = statement.where(Feedback.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(Feedback.created_at < query.until)
    if query.cursor is not None:
        statement = statement.where(cursors.older_than(query.cursor, Feedback.created_at, Feedback.id))
    statement = statement.order_by(Feedback.created_at.desc(), Feedback.id.desc()).limit(query.limit + 1)
    with runtime().engine.connect() as conn:
        rows = conn.execute(statement).all()
    page, next_url = cursors.page_and_next(
        rows, query.limit, lambda last: cursors.encode_time_id(last.created_at, last.id)
    )
    return jsonify(FeedbackListOut(feedback=[_item(r) for r in page], next=next_url))
