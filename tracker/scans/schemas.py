"""Request and response schemas of the scan API (pydantic).

The same models validate requests and generate ``/openapi.json`` (through
flask-openapi3), so the documentation cannot drift from the checks.

A batch of scans is validated *per event*: :data:`TolerantScanEvent` catches
an event's validation error and turns it into a :class:`RejectedEvent`, so a
bad event among a thousand good ones is reported by its index and field while
the others are stored. The JSON schema of a tolerant event is the schema of
:class:`ScanEventIn`: clients see the real contract.

Every text, time and number here follows the one rule of :mod:`tracker.core.inputs`
(no control characters, documented lengths; times from 2000-01-01, in UTC, never
overflowing; finite numbers), so nothing one event holds can fail its batch in
the database: it is that event's rejection, naming its field.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from tracker.core.errors import FieldError, FieldValueError, field_errors
from tracker.core.inputs import Address, Instant, Name, Note, Number, Phrase, Word, text
from tracker.core.vocabulary import (
    CaseState,
    CaseType,
    CustomerTier,
    EventType,
    ParcelStatus,
    ScanReason,
    canonical_reason,
)
from tracker.web.schemas import FieldErrorOut, LocalTime, ReasonOut

TrackingNumber = Annotated[
    str,
    Field(
        min_length=6,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$",
        description="Letters, digits and dashes, 6 to 40 characters.",
    ),
]
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
# JSON numbers only: "31.2" and true are a 422 naming the field (tracker.core.inputs.Number).
Latitude = Annotated[Number, Field(ge=-90, le=90)]
Longitude = Annotated[Number, Field(ge=-180, le=180)]
# Fields whose database column is narrower than their kind, or which must not be empty.
EventId = text(100, min_length=1)
ServiceLevel = text(32, min_length=1)
Otp = text(12)
#: One of the documented codes; an old spelling (``address_problem``) is read as its code.
ReasonCode = Annotated[ScanReason, BeforeValidator(canonical_reason)]


class _Strict(BaseModel):
    # Unknown fields are errors: a typo ("accuracy" for "accuracy_m") must not
    # silently drop data a detector needs. NaN and infinities are no numbers.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class ProofOfDelivery(_Strict):
    signed_by: Name | None = None
    #: Who took the parcel: self, family, colleague, reception, locker, neighbour...
    relation: Word | None = None
    photo_sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    otp: Otp | None = None


class Damage(_Strict):
    severity: Literal["minor", "major", "destroyed"]
    description: Note | None = None


class ScanEventIn(_Strict):
    """One thing that happened to a parcel, reported by a facility or courier."""

    event_id: EventId = Field(
        description="Unique per event, chosen by the client; a retry sends the same id.",
    )
    tracking_number: TrackingNumber
    type: EventType
    occurred_at: Instant = Field(
        description="RFC 3339 with an offset; from 2000-01-01 to now plus the configured clock skew."
    )
    facility: Code | None = None
    courier_id: Code | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    accuracy_m: Number | None = Field(None, ge=0, le=100_000)
    temperature_c: Number | None = Field(None, ge=-80, le=80)
    pod: ProofOfDelivery | None = None
    damage: Damage | None = None
    reason: ReasonCode | None = Field(
        None,
        description="Why a delivery_failed or exception scan happened (old address_problem: address_issue).",
    )
    note: Note | None = None
    pickup_code: str | None = Field(
        None,
        pattern=r"^[0-9]{6}$",
        description="On a collected scan: the pickup code (取件码) the customer gave. A wrong code is"
        " stored and opens a pickup_code_mismatch case; none is allowed (older scanners) and recorded.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> ScanEventIn:
        # One Python hook per event (not one per field): this runs 500 times a batch.
        if (self.lat is None) != (self.lon is None):
            missing = "lon" if self.lon is None else "lat"
            raise FieldValueError(missing, "lat and lon come together")
        if self.type is EventType.DAMAGED and self.damage is None:
            raise FieldValueError("damage", "a damaged scan needs a damage object")
        if self.type in (EventType.DELIVERY_FAILED, EventType.EXCEPTION) and not self.reason:
            raise FieldValueError("reason", f"a {self.type.value} scan needs a reason")
        if self.pickup_code is not None and self.type is not EventType.COLLECTED:
            raise FieldValueError("pickup_code", "only a collected scan carries a pickup code")
        return self

    def content_hash(self) -> str:
        """SHA-256 of the canonical content: equal for a replay, not for a conflict."""
        canonical = orjson.dumps(self.model_dump(mode="json", exclude_none=True), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()


_EVENT_LIST = TypeAdapter(list[ScanEventIn])


def content_hashes(events: list[ScanEventIn]) -> list[str]:
    """:meth:`ScanEventIn.content_hash` of each event, the same strings, for a whole batch.

    One serialiser call for the list instead of one ``model_dump`` per event:
    a 500-event batch hashes in a third of the time.
    """
    dumped = _EVENT_LIST.dump_python(events, mode="json", exclude_none=True)
    return [hashlib.sha256(orjson.dumps(d, option=orjson.OPT_SORT_KEYS)).hexdigest() for d in dumped]


class RejectedEvent:
    """An event of a batch that failed validation, with the fields to blame."""

    def __init__(self, raw: Any, errors: list[FieldError]) -> None:
        self.raw = raw
        self.errors = errors

    @property
    def event_id(self) -> str | None:
        value = self.raw.get("event_id") if isinstance(self.raw, dict) else None
        return value if isinstance(value, str) else None


def _tolerate(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        return RejectedEvent(value, field_errors(exc))


TolerantScanEvent = Annotated[ScanEventIn, WrapValidator(_tolerate)]
_one_event = TypeAdapter(TolerantScanEvent)


def _tolerate_each(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # Fast path: the whole list at once in pydantic-core. Only a batch with a
    # bad event pays for validating its events one by one.
    try:
        return handler(value)
    except ValidationError:
        if not isinstance(value, list) or not value:
            raise
        return [_one_event.validate_python(item) for item in value]


class ScanBatchIn(_Strict):
    events: Annotated[list[ScanEventIn], WrapValidator(_tolerate_each)] = Field(min_length=1)


def _submission_kind(value: Any) -> str:
    # Tags start with "~" so that error locations can leave them out.
    return "~batch" if isinstance(value, dict) and "events" in value else "~event"


class ScanSubmission(
    RootModel[
        Annotated[
            Annotated[ScanBatchIn, Tag("~batch")] | Annotated[TolerantScanEvent, Tag("~event")],
            Discriminator(_submission_kind),
        ]
    ]
):
    """One event object, or ``{"events": [...]}`` (up to the configured limit)."""

    def events(self) -> tuple[list[ScanEventIn | RejectedEvent], bool]:
        """The events, and whether the client sent a batch."""
        if isinstance(self.root, ScanBatchIn):
            return list(self.root.events), True
        return [self.root], False


class EventResult(BaseModel):
    event_id: str | None = Field(description="As sent; null when the event had none that was text.")
    result: Literal["accepted", "duplicate", "rejected"]
    errors: list[FieldErrorOut] | None = Field(None, description="Only for a rejected event: why.")


class ScanResults(BaseModel):
    """One result per event, in the order sent.

    A batch answers 200 whatever its events' results; a lone event answers like a
    resource: 201 accepted, 200 duplicate, and when rejected the error answer
    (409 a conflict: its ``event_id`` is stored with other content; 422 a bad field).
    """

    accepted: int
    duplicates: int
    rejected: int
    results: list[EventResult]


class Destination(_Strict):
    lat: Latitude | None = None
    lon: Longitude | None = None
    region: str | None = Field(
        None, pattern=r"^CN-[0-9A-Z]{2}$", description="ISO 3166-2:CN province, e.g. CN-31."
    )
    city: Phrase | None = None
    district: Phrase | None = None
    postcode: str | None = Field(None, pattern=r"^[0-9]{6}$")
    address: Address | None = None

    @model_validator(mode="after")
    def _both_coordinates(self) -> Destination:
        if (self.lat is None) != (self.lon is None):
            raise FieldValueError("lon" if self.lon is None else "lat", "lat and lon come together")
        return self


_EMAIL_PART = r"[^@\s\x00-\x1f\x7f-\x9f\ufeff]"
#: One pattern says it all (no control characters, no space, one @, a dot after it): the OpenAPI
#: then documents exactly what is refused.
Email = Annotated[
    str,
    Field(
        max_length=254,
        # No white space of any kind (the ideographic space too): the text is stripped before
        # this is checked, so an address the pattern took with a space at its end would fail it.
        # \s alone means one set to Python and another to JSON Schema (ECMA-262: U+0085 is not
        # white space there, U+FEFF is), so both are refused by name and the two agree.
        pattern=rf"^{_EMAIL_PART}+@{_EMAIL_PART}+\.{_EMAIL_PART}+$",
        examples=["zhang@example.com"],
    ),
]


class Recipient(_Strict):
    name: Name | None = None
    # Ends with a digit: stripped before the check, "12345 " would be five digits, too few.
    phone: str | None = Field(None, pattern=r"^\+?[0-9][0-9 -]{4,29}[0-9]$")
    #: Customer emails (tracker.notify) go here; optional.
    email: Email | None = None
    #: The language of customer messages; zh-CN when not given.
    language: Literal["zh-CN", "en"] | None = None


class Window(_Strict):
    start: Instant
    end: Instant

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end <= self.start:
            raise FieldValueError("end", "the window ends before it starts")
        return self


class Perishable(_Strict):
    min_c: Number = Field(ge=-80, le=80)
    max_c: Number = Field(ge=-80, le=80, description="Above min_c.")

    @model_validator(mode="after")
    def _ordered(self) -> Perishable:
        if self.max_c <= self.min_c:
            raise FieldValueError("max_c", "must be above min_c")
        return self


class ParcelIn(_Strict):
    """A merchant's registration of a parcel."""

    tracking_number: TrackingNumber
    service_level: ServiceLevel = Field(examples=["211"])
    ordered_at: Instant | None = None
    origin_facility: Code | None = None
    destination: Destination
    recipient: Recipient = Field(default_factory=Recipient)
    customer_tier: CustomerTier = CustomerTier.NORMAL
    appointment: Window | None = None
    pickup_point: Code | None = None
    perishable: Perishable | None = None
    weight_kg: Number | None = Field(None, gt=0, le=1000)
    delivery_otp: str | None = Field(None, pattern=r"^[0-9]{4,8}$")
    sscc: str | None = Field(
        None,
        pattern=r"^[0-9]{18}$",
        description="The parcel's GS1 SSCC (18 digits): EPCIS events that name it reach this parcel.",
    )

    def registration_hash(self) -> str:
        canonical = orjson.dumps(self.model_dump(mode="json", exclude_none=True), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(canonical).hexdigest()


class TrackingPath(BaseModel):
    tracking_number: TrackingNumber


# -- answers ------------------------------------------------------------------------------


class ParcelRegisteredOut(BaseModel):
    tracking_number: str
    result: Literal["created", "completed", "unchanged"] = Field(
        description="created (201); completed: known from scans, now registered (200);"
        " unchanged: a replay (200)."
    )


class _Answer(BaseModel):
    # Built from the store's dicts in the views: a key the model does not know is a bug, not news.
    model_config = ConfigDict(extra="forbid")


class DestinationOut(_Answer):
    lat: float | None
    lon: float | None
    region: str | None
    city: str | None
    district: str | None
    postcode: str | None
    address: str | None


class RecipientOut(_Answer):
    name: str | None
    phone: str | None


class WindowOut(_Answer):
    start: LocalTime
    end: LocalTime


class PerishableOut(_Answer):
    min_c: float
    max_c: float


class EventRecordOut(_Answer):
    """A stored scan; fields the scan did not carry are left out."""

    event_id: str
    type: EventType
    occurred_at: LocalTime
    received_at: LocalTime
    source: str = Field(description="The role of the key that sent it (courier, facility...).")
    facility: str | None = None
    courier_id: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    temperature_c: float | None = None
    pod: dict[str, Any] | None = None
    damage: dict[str, Any] | None = None
    reason: str | None = None
    note: str | None = None
    voided_at: LocalTime | None = Field(
        None,
        description="When an EPCIS error declaration voided the event this scan was derived from: "
        "kept and shown, but no longer part of the parcel's state, timeline or detection.",
    )


class ParcelCaseOut(_Answer):
    case_id: int
    type: CaseType
    state: CaseState
    reasons: list[ReasonOut]
    opened_at: LocalTime
    closed_at: LocalTime | None


class ParcelRecordOut(_Answer):
    """Everything about a parcel, unmasked (ops): its registration, state, events and cases."""

    tracking_number: str
    merchant: str | None = Field(
        description="The code of the merchant that registered it; null while no merchant has."
    )
    registered: bool = Field(description="False while the parcel is known from scans only.")
    status: ParcelStatus = Field(description="What the scans say (a cancellation does not change it).")
    cancelled_at: LocalTime | None = Field(
        description="When its merchant cancelled it (before it left the warehouse); null if it was not."
    )
    service_level: str | None
    ordered_at: LocalTime | None
    origin_facility: str | None
    destination: DestinationOut
    recipient: RecipientOut
    customer_tier: CustomerTier
    appointment: WindowOut | None
    pickup_point: str | None
    perishable: PerishableOut | None
    weight_kg: float | None
    last_event_at: LocalTime | None
    last_facility: str | None
    outbound_at: LocalTime | None
    delivered_at: LocalTime | None
    promised_by: LocalTime | None
    eta: WindowOut | None
    events: list[EventRecordOut] = Field(
        description="In the order they happened; a courier key sees its own scans only."
    )
    cases: list[ParcelCaseOut] | None = Field(
        description="Oldest first; for ops and admin keys only (null for merchant and courier keys)."
    )
