"""A parcel's promise and whether it was kept: glue between parcels and SLA rules.

:mod:`tracker.sla` knows service levels and time; :mod:`tracker.scans.timeline`
knows what the scans say. This module joins them for one parcel, with plain
values only, so ingest, registration and the sweep compute the same thing:

* :func:`promise` — when the parcel must meet its level, once the level's
  clock has started (``outbound`` for most levels, the order time for group
  buying). It is a function of the *earliest* clock-start event, so a late
  earlier ``outbound`` simply recomputes it.
* :func:`met_at` — when the promise was kept (delivered, collected, or
  ready for pickup where the level says so), or None.
* :func:`newly_met` — the delivery to count in metrics when a batch makes a
  parcel meet its promise for the first time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tracker.scans.timeline import ParcelState
from tracker.sla import Place, ServiceLevel, ServiceLevels, promise_for


@dataclass(frozen=True, slots=True)
class Journey:
    """What the promise needs to know of a parcel besides its scans."""

    service_level: str | None
    ordered_at: datetime | None
    origin: Place | None
    destination: Place | None


@dataclass(frozen=True, slots=True)
class Delivery:
    service_level: str
    region_class: str
    on_time: bool
    #: promised_by - met_at: positive is early, negative late.
    slack_seconds: float


def level_of(levels: ServiceLevels, journey: Journey) -> ServiceLevel | None:
    if journey.service_level is None:
        return None
    return levels.get(journey.service_level)


def clock_start(level: ServiceLevel, journey: Journey, state: ParcelState) -> datetime | None:
    start = level.clock_starts_at
    if start == "outbound":
        return state.outbound_at
    if start == "ordered":
        return journey.ordered_at
    # "created" and "picked_up": the parcel's first scan is the nearest fact we keep.
    return state.first_event_at


def not_started(levels: ServiceLevels, service_level: str | None, state: ParcelState) -> bool:
    """True when the level's clock has surely not started: :func:`promise` is then None, whatever the
    journey (as :func:`clock_start` reads it; an unknown level has no promise either).

    Ingest asks this first: most parcels fold several batches before their
    outbound scan starts the clock, and building each one's journey to learn
    that cost about a third of the promise work of a batch.
    """
    level = levels.get(service_level) if service_level is not None else None
    if level is None:
        return True
    # Only an order-time clock reads the journey; every other clock_start reads the scans alone.
    return level.clock_starts_at != "ordered" and clock_start(level, _NO_JOURNEY, state) is None


#: The journey :func:`not_started` hands :func:`clock_start` for clocks that do not read it.
_NO_JOURNEY = Journey(service_level=None, ordered_at=None, origin=None, destination=None)


#: Stands for an unknown end of a journey where the level's promise does not depend on it.
NOWHERE = Place(province="", city="")


def ends(level: ServiceLevel, journey: Journey) -> tuple[Place, Place] | None:
    """The journey's origin and destination as the level's promise needs them; None if it cannot.

    A level whose transit days do not depend on the region class (211,
    group_buy) needs neither end, so a parcel registered without a city still
    gets its promise. One that does needs the destination; an unknown origin
    counts as the destination (registration asks for both, see
    :meth:`tracker.sla.ServiceLevel.requirements`; only parcels registered
    before that rule lack them).
    """
    if not level.uses_region_class:
        return journey.origin or NOWHERE, journey.destination or NOWHERE
    if journey.destination is None:
        return None
    return journey.origin or journey.destination, journey.destination


def promise(levels: ServiceLevels, journey: Journey, state: ParcelState) -> datetime | None:
    level = level_of(levels, journey)
    if level is None:
        return None
    started = clock_start(level, journey, state)
    places = ends(level, journey)
    if started is None or places is None:
        return None
    return promise_for(level, clock_start=started, origin=places[0], destination=places[1])


def met_at(level: ServiceLevel | None, state: ParcelState) -> datetime | None:
    """When the parcel kept (or failed, if late) its promise; None while it has not."""
    candidates = [state.delivered_at]
    if level is not None and level.pickup:
        candidates.append(state.ready_for_pickup_at)
    present = [c for c in candidates if c is not None]
    return min(present, default=None)


def newly_met(
    levels: ServiceLevels,
    journey: Journey,
    before: ParcelState,
    after: ParcelState,
    promised_by: datetime | None,
) -> Delivery | None:
    level = level_of(levels, journey)
    if level is None or promised_by is None:
        return None
    if met_at(level, before) is not None:
        return None
    met = met_at(level, after)
    if met is None:
        return None
    region = "unknown"  # a bounded label: a level that needs no destination may have none
    if journey.destination is not None:
        region = level.region_class(journey.origin or journey.destination, journey.destination).value
    return Delivery(
        service_level=level.name,
        region_class=region,
        on_time=met <= promised_by,
        slack_seconds=(promised_by - met).total_seconds(),
    )
