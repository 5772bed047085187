"""The tracking JSON's shapes: request models and the answer of ``GET /api/v1/track/<tn>``.

A pure module (pydantic and plain data; no Flask, no SQLAlchemy). The
models are what :mod:`tracker.tracking.api` validates (and /openapi.json
shows) and what the page forms of :mod:`tracker.tracking.pages` are checked
against; :func:`view_to_dict` is the JSON form of a
:class:`tracker.tracking.view.PublicView`. Comments and descriptions follow the
one text rule, appointment times the one time rule (:mod:`tracker.core.inputs`).
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag, model_validator

from tracker.core.errors import FieldValueError
from tracker.core.inputs import Instant, Note, text
from tracker.core.timefmt import iso_local_or_none
from tracker.core.vocabulary import ComplaintKind, EventType, ParcelStatus
from tracker.tracking.view import PublicView
from tracker.web.schemas import LocalTime


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    verification: str = Field(
        pattern=r"^[0-9]{4}$", description="The last four digits of the recipient's phone."
    )


Comment = Note | None
Description = text(1000, min_length=1, multiline=True)
Score = Annotated[int, Field(ge=1, le=5)]


class NotReceivedIn(_Report):
    kind: Literal["not_received"]
    comment: Comment = None


class DamagedIn(_Report):
    kind: Literal["damaged"]
    description: Description
    photo_sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")


class LateIn(_Report):
    kind: Literal["late"]
    comment: Comment = None


class ComplaintIn(_Report):
    kind: Literal["complaint"]
    about: ComplaintKind = Field(
        description="courier_conduct (a courier handled the parcel), pickup_point_service (a pickup"
        " parcel); late, damaged (needs description) and not_received are the reports of those kinds."
    )
    comment: Comment = None
    description: Description | None = Field(None, description="What is damaged (about: damaged).")

    @model_validator(mode="after")
    def _damage_described(self) -> ComplaintIn:
        if self.about is ComplaintKind.DAMAGED and not self.description:
            raise FieldValueError("description", "say what is damaged")
        return self


class RatingIn(_Report):
    kind: Literal["rating"]
    packaging: Score
    courier: Score
    speed: Score
    comment: Comment = None


_REPORTS = {
    "not_received": NotReceivedIn,
    "damaged": DamagedIn,
    "late": LateIn,
    "rating": RatingIn,
    "complaint": ComplaintIn,
}


def _report_kind(value: Any) -> str | None:
    # Tags start with "~" so that error locations leave them out (as the scan
    # API's do): a bad description is ``description``, not ``damaged.description``.
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    return f"~{kind}" if isinstance(kind, str) and kind in _REPORTS else None


class FeedbackIn(
    RootModel[
        Annotated[
            Annotated[NotReceivedIn, Tag("~not_received")]
            | Annotated[DamagedIn, Tag("~damaged")]
            | Annotated[LateIn, Tag("~late")]
            | Annotated[RatingIn, Tag("~rating")]
            | Annotated[ComplaintIn, Tag("~complaint")],
            Discriminator(
                _report_kind,
                custom_error_type="invalid_kind",
                custom_error_message=f"kind must be one of {', '.join(_REPORTS)}",
            ),
        ]
    ]
):
    """A customer's report or rating, with the verification code."""


class FeedbackOut(BaseModel):
    kind: str
    reference: str
    received_at: LocalTime
    rating_revision: int | None = None
    case_id: int | None = Field(None, description="The case the report opened or joined: ops answers there.")


class AppointmentIn(_Report):
    start: Instant
    end: Instant


# -- the answers, as documented (the JSON is written by view_to_dict and the api module) ------


class TimeWindowOut(BaseModel):
    start: LocalTime
    end: LocalTime


class AppointmentOut(BaseModel):
    appointment: TimeWindowOut


class EtaOut(BaseModel):
    """When the parcel is expected, shaped for people: never to the minute."""

    kind: Literal["day", "window", "appointment"] = Field(
        description="day: in transit, a delivery day (and part of it when known); "
        "window: on a courier's planned route, at most 2 hours on quarter hours; "
        "appointment: the window the customer booked (see plan)."
    )
    date: dt.date = Field(description="The local day of delivery.")
    part: Literal["morning", "afternoon", "evening"] | None = Field(
        description="For kind day: the part of the day when known (morning before 12:00, "
        "afternoon before 18:00, evening until delivery hours end); null: any time of the day."
    )
    start: LocalTime = Field(description="Start of the day's delivery hours, of the part, or of the window.")
    end: LocalTime
    plan: Literal["keeps", "misses", "not_planned"] | None = Field(
        description="For kind appointment: whether the route keeps the booked window; null otherwise."
    )
    planned: TimeWindowOut | None = Field(
        description="For kind appointment: the courier's planned window, when on a route."
    )
    text: str = Field(description="The ETA as a sentence in the customer's language.")


class DelayOut(BaseModel):
    """The parcel may miss (or has missed) its promise."""

    because: Literal["late", "at_risk", "estimate"] = Field(
        description="late: the promise has passed; at_risk: an at-risk case is open; "
        "estimate: the expected day is after the promised day."
    )
    date: dt.date | None = Field(description="The local day now expected; null while there is no estimate.")
    text: str = Field(description="The notice in the customer's language.")


class HeadlineOut(BaseModel):
    code: str = Field(description="A status, or collected / ready_for_pickup.")
    text: str = Field(description="In the customer's language.")


class StepOut(BaseModel):
    key: str
    label: str
    state: Literal["done", "current", "problem", "todo"]
    at: LocalTime | None


class ProgressOut(BaseModel):
    path: str = Field(description="Which steps a parcel of this kind goes through (door or pickup).")
    steps: list[StepOut]


class PickupOut(BaseModel):
    name: str
    address: str | None
    opening_hours: str | None
    held_until: LocalTime | None


class PublicRecipientOut(BaseModel):
    name: str | None = Field(description="Masked.")
    phone: str | None = Field(description="Masked.")


class PublicDestinationOut(BaseModel):
    area: str | None
    address: str | None = Field(description="Only in a verified view.")


class PublicEventOut(BaseModel):
    type: EventType
    at: LocalTime
    place: str | None
    reason: str | None
    text: str


class ReportOut(BaseModel):
    reference: str
    kind: str = Field(description="not_received, damaged, late, rating, appointment or complaint.")
    about: str | None = Field(description="A complaint's kind.")
    at: LocalTime
    case_id: int | None
    case_state: str | None = Field(description="What became of it: open, acknowledged, resolved.")


class AnswerOut(BaseModel):
    case_id: int
    message: str | None
    at: LocalTime


class HoldIn(_Report):
    """After a failed attempt: collect the parcel at one of the station's pickup points instead."""

    facility: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
        description="A pickup point's code, one of next_steps.hold_points of the verified view.",
    )


class HoldPointOut(BaseModel):
    facility: str
    name: str
    address: str | None = None
    opening_hours: str | None = None


class HoldOut(BaseModel):
    hold_at: HoldPointOut


class NextStepsOut(BaseModel):
    """What the customer can do after a failed attempt."""

    choose_window: bool = Field(description="A new delivery window can be chosen (see appointment_windows).")
    hold_points: list[HoldPointOut] = Field(
        description="The station's pickup points the parcel can be held at."
    )


class TrackingOut(BaseModel):
    """The customer's view of a parcel, masked; more of it once verified."""

    tracking_number: str
    status: ParcelStatus
    headline: HeadlineOut
    late: bool
    progress: ProgressOut
    promised_by: LocalTime | None
    eta: EtaOut | None
    delay: DelayOut | None = Field(
        description="Set when the customer must be told the promise may be missed."
    )
    appointment: TimeWindowOut | None
    pickup: PickupOut | None
    recipient: PublicRecipientOut
    destination: PublicDestinationOut
    events: list[PublicEventOut] = Field(description="Newest first.")
    verified: bool
    time_zone: str = Field(description="The IANA zone the times are written in.")
    appointment_windows: list[TimeWindowOut] | None = Field(
        None, description="Only in a verified view: the delivery windows on offer."
    )
    reports: list[ReportOut] | None = Field(
        None, description="Only in a verified view: what the customer reported, newest first."
    )
    answers: list[AnswerOut] | None = Field(
        None, description="Only in a verified view: ops' answers to the customer, newest first."
    )
    pickup_code: str | None = Field(
        None,
        description="Only in a verified view, while the parcel waits at its pickup point: the pickup"
        " code (取件码) to give when collecting it.",
    )
    hold_at: HoldPointOut | None = Field(
        None, description="Only in a verified view: the pickup point the customer asked to collect it at."
    )
    next_steps: NextStepsOut | None = Field(
        None,
        description="Only in a verified view after a failed delivery attempt: choose a new window"
        " (POST .../appointment) or a pickup point to hold it at (POST .../hold).",
    )


def view_to_dict(view: PublicView, words: Any, *, tz: ZoneInfo) -> dict[str, Any]:
    """The JSON answer: codes for machines beside ``words``' text for people.

    ``words`` is :class:`tracker.tracking.i18n.Words` (or anything with its methods);
    times are RFC 3339 in the customer's time zone ``tz``.
    """

    def iso(value: datetime | None) -> str | None:
        return iso_local_or_none(value, tz)

    def window(pair: tuple[datetime, datetime] | None) -> dict[str, str | None] | None:
        return {"start": iso(pair[0]), "end": iso(pair[1])} if pair else None

    out: dict[str, Any] = {
        "tracking_number": view.tracking_number,
        "status": view.status.value,
        "headline": {"code": view.headline, "text": words.headline(view)},
        "late": view.late,
        "progress": {
            "path": view.path,
            "steps": [
                {"key": s.key, "label": words.step(s.key), "state": s.state, "at": iso(s.at)}
                for s in view.steps
            ],
        },
        "promised_by": iso(view.promised_by),
        "eta": (
            {
                "kind": view.eta.kind,
                "date": view.eta.day.isoformat(),
                "part": view.eta.part,
                "start": iso(view.eta.start),
                "end": iso(view.eta.end),
                "plan": view.eta.plan,
                "planned": window(view.eta.planned),
                "text": words.eta(view),
            }
            if view.eta
            else None
        ),
        "delay": (
            {
                "because": view.delay.because,
                "date": view.delay.expected.isoformat() if view.delay.expected else None,
                "text": words.delay(view),
            }
            if view.delay
            else None
        ),
        "appointment": window(view.appointment),
        "pickup": (
            {
                "name": view.pickup.name,
                "address": view.pickup.address,
                "opening_hours": view.pickup.opening_hours,
                "held_until": iso(view.pickup.held_until),
            }
            if view.pickup
            else None
        ),
        "recipient": {"name": view.recipient_name, "phone": view.recipient_phone},
        "destination": {"area": view.area, "address": view.address},
        "events": [
            {
                "type": e.type.value,
                "at": iso(e.at),
                "place": e.place,
                "reason": e.reason,
                "text": words.event(e),
            }
            for e in view.events
        ],
        "verified": view.verified,
        "time_zone": tz.key,
    }
    if view.verified:
        out["appointment_windows"] = [window(w) for w in view.appointment_windows]
        out["pickup_code"] = view.pickup_code
        out["hold_at"] = hold_point(view.hold_at) if view.hold_at else None
    return out


def hold_point(point: Any) -> dict[str, str | None]:
    """A :class:`tracker.tracking.view.PickupPoint` as JSON."""
    return {
        "facility": point.code,
        "name": point.name,
        "address": point.address,
        "opening_hours": point.opening_hours,
    }
