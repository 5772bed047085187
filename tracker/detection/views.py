"""The ops API for detection's reports: scorecards and damage hotspots (views).

Blueprint ``reports``, registered next to ``cases`` (:mod:`tracker.cases.views`)
under the same ``/api/v1`` prefix, the same OpenAPI tag and the same auth:
everything here is for operations staff (role ``ops``; ``admin`` always may).

* ``GET /api/v1/couriers/{courier_id}/scorecard`` and
  ``GET /api/v1/facilities/{facility}/scorecard``
  (:mod:`tracker.detection.scorecards`): one object for the period.
* ``GET /api/v1/hotspots/damage`` (:mod:`tracker.detection.hotspots`): the
  period's figures and its ``segments``, a list in the API's one scheme:
  ``limit`` and an opaque ``cursor``, ``next`` the URL of the next page (or
  null), worst lower bound first; ``kind`` and ``flagged`` filter it
  (``flagged=true``: the hotspots only). ``next`` pins the period the first
  page was computed for, so the pages of one listing agree.

Each over ``?since=&until=`` (default: the 7 days before now). ``since``
and ``until`` follow the one time rule (:data:`tracker.core.inputs.Instant`:
2000-01-01 to 2099, never a Unix time), codes the one text rule. Every answer
goes out through the model the OpenAPI documents (:class:`CourierScorecardOut`,
:class:`FacilityScorecardOut`, :class:`HotspotsOut`).

The views own the connection (read-only: ``engine.connect()``); the store
modules they call only read through it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from flask import jsonify
from flask_openapi3 import APIBlueprint
from flask_openapi3.utils import get_operation_id_for_path
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tracker.cases.views import ERRORS, TAG
from tracker.core.errors import FieldValueError
from tracker.core.inputs import Instant, Word, opaque_token
from tracker.core.timefmt import iso_local
from tracker.core.vocabulary import Role
from tracker.detection import hotspots, scorecards
from tracker.detection.damage import SegmentKind
from tracker.web import cursors
from tracker.web.auth import authenticate_request, caller
from tracker.web.runtime import runtime
from tracker.web.schemas import LocalTime, ReasonOut, StrictQuery


def _operation_id(*, name: str = "", path: str = "", method: str = "") -> str:
    # These endpoints were first published by the cases blueprint: their operationIds stay as they were.
    return get_operation_id_for_path(bp_name="cases", name=name, path=path, method=method)


api = APIBlueprint(
    "reports",
    __name__,
    url_prefix="/api/v1",
    abp_tags=[TAG],
    abp_security=[{"bearer": []}],
    operation_id_callback=_operation_id,
)
api.before_request(authenticate_request)

DEFAULT_PERIOD = timedelta(days=7)


# -- requests ------------------------------------------------------------------------------


class Period(StrictQuery):
    since: Instant | None = Field(None, description="RFC 3339 with an offset; inclusive.")
    until: Instant | None = Field(None, description="RFC 3339 with an offset; exclusive; after since.")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.since and self.until and self.until <= self.since:
            raise FieldValueError("until", "must be after since")
        return self

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        until = self.until or now
        return self.since or until - DEFAULT_PERIOD, until


class HotspotQuery(Period):
    kind: SegmentKind | None = Field(None, description="Only facilities, legs or couriers.")
    flagged: bool | None = Field(None, description="true: only the hotspots; false: only the others.")
    limit: int = Field(100, ge=1, le=500)
    cursor: opaque_token(400) | None = Field(None, description="From the previous page's ``next``.")

    @field_validator("cursor")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None:
            cursors.decode(value, _parse_cursor)
        return value


class CourierPath(BaseModel):
    courier_id: Word


class FacilityPath(BaseModel):
    facility: Word


# -- answers -------------------------------------------------------------------------------


class _Answer(BaseModel):
    # Validated from the store's dicts: a key the model does not know is a bug, not news.
    model_config = ConfigDict(extra="forbid")


class RateOut(_Answer):
    """``count`` of ``of``, with its 95 % Wilson interval (``rate`` null when ``of`` is 0)."""

    count: int
    of: int
    rate: float | None
    wilson_low: float
    wilson_high: float


class ComplaintsOut(RateOut):
    by_kind: dict[str, int] = Field(description="Deliveries complained about, per kind of complaint.")


class RatingsOut(_Answer):
    """Averages of the customers' current ratings (1 to 5; null when none was given)."""

    count: int
    packaging: float | None
    courier: float | None
    speed: float | None


class LegDamageOut(RateOut):
    leg: str = Field(description='"FROM->TO" facility codes ("FROM->?" when the next stop is unknown).')


class _Scorecard(_Answer):
    since: LocalTime
    until: LocalTime
    parcels_handled: int
    deliveries: int
    on_time: RateOut = Field(
        description="Deliveries of parcels with a promise, handed over by then"
        " (or by the end of a later window the customer chose)."
    )
    failed_attempts: RateOut = Field(description="delivery_failed scans, of attempts.")
    suspected_fake_deliveries: RateOut
    confirmed_fake_deliveries: RateOut
    complaints: ComplaintsOut
    ratings: RatingsOut
    damage: RateOut = Field(description="Parcels damaged while this one held them, of those it held.")


class CourierScorecardOut(_Scorecard):
    courier_id: str


class FacilityScorecardOut(_Scorecard):
    facility: str
    damage_on_legs_out: list[LegDamageOut]


class SegmentRateOut(_Answer):
    kind: SegmentKind
    ref: str = Field(description='A facility code, a leg "FROM->TO", or a courier id.')
    handled: int
    damaged: int
    rate: float
    wilson_low: float
    wilson_high: float
    network_rate: float = Field(description="The pooled rate of every segment of the same kind.")
    flagged: bool = Field(description="A hotspot: its interval lies above the network's rate.")
    reason: ReasonOut


class HotspotsOut(_Answer):
    since: LocalTime
    until: LocalTime
    parcels: int = Field(description="Parcels whose first scan lies in the period.")
    confidence: float
    min_damaged: int
    min_handled: int
    network_rate: dict[str, float] = Field(description="Per kind of segment.")
    segments: list[SegmentRateOut] = Field(description="Worst lower bound first.")
    next: str | None = Field(description="The URL of the next page; null on the last.")


# -- endpoints -----------------------------------------------------------------------------


@api.get(
    "/couriers/<courier_id>/scorecard",
    summary="A courier's scorecard over a period",
    responses={200: CourierScorecardOut, **ERRORS},
)
def courier_scorecard(path: CourierPath, query: Period):  # type: ignore[no-untyped-def]
    card = _scorecard(scorecards.courier_scorecard, path.courier_id, query)
    return jsonify(CourierScorecardOut.model_validate(card))


@api.get(
    "/facilities/<facility>/scorecard",
    summary="A facility's scorecard over a period",
    responses={200: FacilityScorecardOut, **ERRORS},
)
def facility_scorecard(path: FacilityPath, query: Period):  # type: ignore[no-untyped-def]
    card = _scorecard(scorecards.facility_scorecard, path.facility, query)
    return jsonify(FacilityScorecardOut.model_validate(card))


def _scorecard(read: Callable[..., dict[str, Any]], code: str, query: Period) -> dict[str, Any]:
    """One scorecard over the query's period (ops only), its times in the local zone."""
    caller(Role.OPS)
    rt = runtime()
    since, until = query.bounds(rt.now())
    with rt.reads.connect() as conn:  # a report may lag a moment: a replica's when one is healthy
        return read(conn, code, since=since, until=until, zone=rt.settings.timezone)


@api.get(
    "/hotspots/damage",
    summary="Damage rates per facility, leg and courier",
    responses={200: HotspotsOut, **ERRORS},
)
def damage_hotspots(query: HotspotQuery):  # type: ignore[no-untyped-def]
    """Every segment's damage rate with its Wilson interval, worst first; ``flagged=true``: the hotspots."""
    caller(Role.OPS)
    rt = runtime()
    since, until = query.bounds(rt.now())
    with rt.reads.connect() as conn:  # a report may lag a moment: a replica's when one is healthy
        report = hotspots.damage_hotspots(
            conn, since=since, until=until, kind=query.kind, zone=rt.settings.timezone
        )
    rates = [r for r in report.pop("rates") if query.flagged is None or r.flagged is query.flagged]
    if query.cursor is not None:
        after = cursors.decode(query.cursor, _parse_cursor)
        rates = [r for r in rates if _sort_key(r) > after]
    # The period of this page, pinned in next: a default ``until`` (now) moves between requests.
    page, next_url = cursors.page_and_next(
        rates,
        query.limit,
        lambda last: _encode_cursor(_sort_key(last)),
        since=iso_local(since, rt.settings.timezone),
        until=iso_local(until, rt.settings.timezone),
    )
    segments = [hotspots.rate_dict(r) for r in page]
    return jsonify(HotspotsOut.model_validate({**report, "segments": segments, "next": next_url}))


# The listing's order (tracker.detection.damage.damage_rates): worst lower bound first,
# then by segment; a cursor is the last segment's place in it.
_Key = tuple[float, str, str]


def _sort_key(rate: Any) -> _Key:
    return (-rate.low, str(rate.segment.kind), rate.segment.ref)


def _encode_cursor(key: _Key) -> str:
    return cursors.encode(orjson.dumps(list(key)).decode())


def _parse_cursor(text: str) -> _Key:
    low, kind, ref = orjson.loads(text)
    if not (isinstance(low, float | int) and isinstance(kind, str) and isinstance(ref, str)):
        raise ValueError("no sort key")
    return float(low), kind, ref
