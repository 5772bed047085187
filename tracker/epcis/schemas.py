"""Query strings and answers of the EPCIS endpoints, for validation and /openapi.json (pure).

The capture body is an EPCIS document, validated by the official JSON schema
(:mod:`tracker.epcis.document`), not by a model here. The query parameters of
``/epcis/events`` and the fields of the capture job keep the names the EPCIS
2.0 REST binding fixes (``GE_eventTime``, ``perPage``, ``captureID``...);
tracker's own endpoints (readings, locations) and tracker's own fields in a
report use tracker's names.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tracker.core.inputs import Instant, opaque_token, text
from tracker.epcis.query import PER_PAGE_DEFAULT, PER_PAGE_MAX
from tracker.scans.schemas import Code, TrackingNumber
from tracker.web.schemas import FieldErrorOut, LocalTime, StrictQuery

#: A query value: a URI or a pipe-delimited list of them (no control characters).
QueryText = text(4000)
Uri = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$")]


class _StrictQuery(StrictQuery):
    """StrictQuery's rules: an unknown parameter is a 422 naming it (an EPCIS query
    parameter this server does not implement must not be silently ignored: wrong
    answers), and an empty value is no filter."""


class EventsQuery(_StrictQuery):
    """The EPCIS 2.0 REST binding's query parameters (standard names); lists are pipe-delimited."""

    eventType: QueryText | None = Field(None, description="ObjectEvent|AggregationEvent|...")
    GE_eventTime: Instant | None = Field(None, description="eventTime at or after (RFC 3339).")
    LT_eventTime: Instant | None = Field(None, description="eventTime before (RFC 3339).")
    EQ_bizStep: QueryText | None = Field(None, description="CBV words or URIs: shipping|receiving")
    EQ_disposition: QueryText | None = None
    EQ_bizLocation: QueryText | None = None
    MATCH_epc: QueryText | None = Field(None, description="epcList and childEPCs; URN and Digital Link alike")
    MATCH_anyEPC: QueryText | None = Field(None, description="Also parentID, inputEPCList, outputEPCList")
    perPage: int = Field(PER_PAGE_DEFAULT, ge=1, le=PER_PAGE_MAX)
    nextPageToken: opaque_token() | None = Field(None, description="From the previous page's Link header.")


class CapturePath(BaseModel):
    capture_id: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]


class ParcelPath(BaseModel):
    tracking_number: TrackingNumber


class ReadingsQuery(_StrictQuery):
    measurement_type: text(500) | None = Field(
        None, description="Temperature, AbsoluteHumidity... (GS1 words bare) or an extension URI."
    )
    tracking_number: TrackingNumber | None = Field(
        None, description="Readings of events linked to this parcel."
    )
    unlinked: bool = Field(False, description="Only readings of events linked to no parcel.")
    limit: int = Field(100, ge=1, le=500)
    cursor: opaque_token() | None = Field(None, description="From the previous page's ``next``.")


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    location: Uri = Field(description="A read point or business location: SGLN, GS1 Digital Link or any URI.")
    facility: Code


# -- answers ------------------------------------------------------------------------------


class CaptureJobOut(BaseModel):
    """A capture job as the REST binding describes it, with one report per event (``events``)."""

    captureID: str
    createdAt: LocalTime
    finishedAt: LocalTime | None
    running: bool
    success: bool = Field(description="False when an event was rejected.")
    captureErrorBehaviour: Literal["rollback", "proceed"]
    errors: list[FieldErrorOut] = Field(description="Each rejected event's errors (JSON pointers).")
    events: list[dict[str, Any]] = Field(
        description="One per event, in document order: eventID, type, result (captured, duplicate, "
        "declared_erroneous, rejected, rolled_back), parcels, scans, readings, unknown_terms..."
    )


class QueryDocumentOut(BaseModel):
    """An EPCISQueryDocument (EPCIS 2.0 JSON binding)."""

    model_config = ConfigDict(populate_by_name=True)

    context: Any = Field(alias="@context")
    type: Literal["EPCISQueryDocument"]
    schemaVersion: str
    creationDate: LocalTime
    epcisBody: dict[str, Any]


class ReadingOut(BaseModel):
    measurement_type: str
    observed_at: LocalTime
    uom: str | None
    value: float | None
    min_value: float | None
    max_value: float | None
    mean_value: float | None
    other_value: str | None
    device_id: str | None
    temperature_c: float | None = Field(description="For temperatures in a known unit: degrees Celsius.")
    epcis_event_id: str = Field(description="The eventID of the EPCIS event that carried it.")
    erroneous: bool = Field(description="The event was declared erroneous.")
    tracking_numbers: list[str] = Field(description="The parcels its event is linked to; empty when none.")


class ReadingListOut(BaseModel):
    readings: list[ReadingOut]
    next: str | None


class LocationOut(BaseModel):
    location: str = Field(description="As stored: the canonical form (a GS1 Digital Link for GS1 keys).")
    facility: str
    result: Literal["created", "updated"]
