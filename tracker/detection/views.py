"""The ops API for detection's reports: scorecards and damage hotspots (views).

Blueprint ``reports``, registered next to ``cases`` (:mod:`tracker.cases.views`)
under the same ``/api/v1`` prefix, the same OpenAPI tag and the same auth:
everything here is for operations staff (role ``ops``; ``admin`` always may).

* ``GET /api/v1/couriers/{code}/scorecard``, ``GET /api/v1/facilities/{code}/scorecard``
  (:mod:`tracker.detection.scorecards`) and ``GET /api/v1/hotspots/damage``
  (:mod:`tracker.detection.hotspots`), each over ``?since=&until=`` (default:
  the 7 days before now). ``since`` and ``until`` follow the one time rule
  (:data:`tracker.core.inputs.Instant`: 2000-01-01 to 2099, never a Unix time),
  codes the one text rule.

The views own the connection (read-only: ``engine.connect()``); the store
modules they call only read through it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import jsonify
from flask_openapi3 import APIBlueprint
from flask_openapi3.utils import get_operation_id_for_path
from pydantic import BaseModel, Field, model_validator

from tracker.cases.views import ERRORS, TAG, StrictQuery
from tracker.core.errors import FieldValueError
from tracker.core.inputs import Instant, Word
from tracker.core.vocabulary import Role
from tracker.detection import hotspots, scorecards
from tracker.detection.damage import SegmentKind
from tracker.web.auth import authenticate_request, caller
from tracker.web.runtime import runtime


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


class Period(StrictQuery):
    since: Instant | None = Field(None, description="RFC 3339 with an offset; inclusive.")
    until: Instant | None = Field(None, description="RFC 3339 with an offset; exclusive.")

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


class CourierPath(BaseModel):
    code: Word


class FacilityPath(BaseModel):
    code: Word


@api.get("/couriers/<code>/scorecard", summary="A courier's scorecard over a period", responses=ERRORS)
def courier_scorecard(path: CourierPath, query: Period):  # type: ignore[no-untyped-def]
    caller(Role.OPS)
    rt = runtime()
    since, until = query.bounds(rt.now())
    with rt.engine.connect() as conn:
        return jsonify(
            scorecards.courier_scorecard(conn, path.code, since=since, until=until, zone=rt.settings.timezone)
        )


@api.get("/facilities/<code>/scorecard", summary="A facility's scorecard over a period", responses=ERRORS)
def facility_scorecard(path: FacilityPath, query: Period):  # type: ignore[no-untyped-def]
    caller(Role.OPS)
    rt = runtime()
    since, until = query.bounds(rt.now())
    with rt.engine.connect() as conn:
        return jsonify(
            scorecards.facility_scorecard(
                conn, path.code, since=since, until=until, zone=rt.settings.timezone
            )
        )


@api.get("/hotspots/damage", summary="Damage rates per facility, leg and courier", responses=ERRORS)
def damage_hotspots(query: HotspotQuery):  # type: ignore[no-untyped-def]
    """Every segment's damage rate with its Wilson interval; ``hotspots`` lists the flagged ones."""
    caller(Role.OPS)
    rt = runtime()
    since, until = query.bounds(rt.now())
    with rt.engine.connect() as conn:
        return jsonify(
            hotspots.damage_hotspots(
                conn, since=since, until=until, kind=query.kind, zone=rt.settings.timezone
            )
        )
