"""The tracking JSON's shapes: request models and the answer of ``GET /api/v1/track/<tn>``.

A pure module (pydantic and plain data; no Flask, no SQLAlchemy). The
models are what :mod:`tracker.tracking.api` validates (and /openapi.json
shows) and what the page forms of :mod:`tracker.tracking.pages` are checked
against; :func:`view_to_dict` is the JSON form of a
:class:`tracker.tracking.view.PublicView`. Comments and descriptions follow the
one text rule, appointment times the one time rule (:mod:`tracker.core.inputs`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag

from tracker.core.inputs import Instant, Note, text
from tracker.core.timefmt import iso_local_or_none
from tracker.core.vocabulary import EventType, ParcelStatus
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


class RatingIn(_Report):
    kind: Literal["rating"]
    packaging: Score
    courier: Score
    speed: Score
    comment: Comment = None


_REPORTS = {"not_received": NotReceivedIn, "damaged": DamagedIn, "late": LateIn, "rating": RatingIn}


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
            | Annotated[RatingIn, Tag("~rating")],
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


class AppointmentIn(_Report):
    start: Instant
    end: Instant


# -- the answers, as documented (the JSON is written by view_to_dict and the api module) ------


class WindowOut(BaseModel):
    start: LocalTime
    end: LocalTime


class AppointmentOut(BaseModel):
    appointment: WindowOut


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


class TrackingOut(BaseModel):
    """The customer's view of a parcel, masked; more of it once verified."""

    tracking_number: str
    status: ParcelStatus
    headline: HeadlineOut
    late: bool
    progress: ProgressOut
    promised_by: LocalTime | None
    eta: WindowOut | None
    appointment: WindowOut | None
    pickup: PickupOut | None
    recipient: PublicRecipientOut
    destination: PublicDestinationOut
    events: list[PublicEventOut] = Field(description="Newest first.")
    verified: bool
    time_zone: str = Field(description="The IANA zone the times are written in.")
    appointment_windows: list[WindowOut] | None = Field(
        None, description="Only in a verified view: the delivery windows on offer."
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
        "eta": window(view.eta),
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
    return out
