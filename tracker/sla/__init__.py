"""Delivery promises, service levels and time-based rules (free of Flask).

Pure functions over plain values, with ``now`` always passed in and every
datetime timezone-aware (results in UTC). Nothing here touches a session or
reads configuration at import time. Event types and parcel statuses are
those of :mod:`tracker.core.vocabulary`; being StrEnums, plain strings work too.

    regions      Place, RegionClass, region_class(): how far a parcel travels
    config       service_levels.toml → ServiceLevels; ServiceLevelConfigError
    promise      promise_for(): the moment a parcel is due
    eta          stage estimates → ETA window; at_risk(), at_risk_from()
    due          next_due(): when the sweep must next look at a parcel

A scan's path through here: the view loads the parcel and its level, calls
``promise_for`` when the scan starts the level's clock, ``eta_window`` for the
tracking page, then ``at_risk_from`` and ``next_due`` to store the parcel's
next due time in the same transaction.
"""

from tracker.sla.config import (
    Cutoff,
    ServiceLevel,
    ServiceLevelConfigError,
    ServiceLevels,
    holiday_schedule_warning,
    load_service_levels,
    parse_service_levels,
)
from tracker.sla.due import next_due, stale_deadline
from tracker.sla.eta import (
    DEFAULT_STAGE_ESTIMATES,
    EtaWindow,
    StageEstimate,
    at_risk,
    at_risk_from,
    eta_window,
    remaining_stages,
    stage_estimates,
)
from tracker.sla.promise import held_to, promise_for
from tracker.sla.regions import Locality, Place, RegionClass, RemoteAreas, region_class

__all__ = [
    "DEFAULT_STAGE_ESTIMATES",
    "Cutoff",
    "EtaWindow",
    "Locality",
    "Place",
    "RegionClass",
    "RemoteAreas",
    "ServiceLevel",
    "ServiceLevelConfigError",
    "ServiceLevels",
    "StageEstimate",
    "at_risk",
    "at_risk_from",
    "eta_window",
    "held_to",
    "holiday_schedule_warning",
    "load_service_levels",
    "next_due",
    "parse_service_levels",
    "promise_for",
    "region_class",
    "remaining_stages",
    "stage_estimates",
    "stale_deadline",
]
