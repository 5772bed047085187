"""The evidence a courier's other scans give against a handover (pure).

Two of the fake-delivery signals (:mod:`tracker.detection.delivery_signals`
collects them all) read the courier's day rather than the parcel:

    impossible_travel / travel_contradicts_claim   a leg out of reach at top speed
    bulk_signing                                   a round handed over from one spot

The geometry (legs, signing batches) is measured by
:mod:`tracker.detection.courier_activity`; this module decides whether each
signal is present and writes its detail, with the codes and constants of
:mod:`tracker.detection.signal_basis`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from tracker.detection.courier_activity import legs_around, signing_batch
from tracker.detection.facts import CourierContext, EventFact, GeoPoint
from tracker.detection.geo import format_distance
from tracker.detection.signal_basis import Code, Place, Signal, SignalSettings


def courier_signals(
    event: EventFact, place: Place, courier: CourierContext, settings: SignalSettings
) -> list[Signal]:
    """The travel and bulk-signing signals of a handover scan, from the courier's scans around it."""
    destinations = dict(courier.destinations)
    if place.point is not None:
        # This parcel's honest point is the nearest one, as the location signal judged it.
        destinations[event.tracking_number] = place.point
    return [
        *_travel_signals(event, courier, destinations, settings),
        *_bulk_signals(event, place, courier, destinations, settings),
    ]


def _travel_signals(
    event: EventFact,
    courier: CourierContext,
    destinations: Mapping[str, GeoPoint],
    settings: SignalSettings,
) -> Iterator[Signal]:
    top = settings.max_speed_kmh.get(courier.vehicle or "", settings.default_max_speed_kmh)
    impossible = [
        leg
        for leg in legs_around(event, courier, settings.gps, destinations)
        if leg.beyond_error_m >= settings.min_jump_m and leg.speed_kmh(settings.min_leg_seconds) > top
    ]
    if not impossible:
        return
    leg = max(impossible, key=lambda leg: leg.speed_kmh(settings.min_leg_seconds))
    this, other = (leg.end, leg.start) if leg.end.event.event_id == event.event_id else (leg.start, leg.end)
    # A scan without a fix is placed at the address it claims; say so.
    claimed = " (placed at its address: no GPS)" if other.claimed else ""
    # Which of the two scans is wrong? When this handover has no fix of its
    # own and the other scan has one, the only position on record is the
    # other scan's: the evidence is not symmetric, it is against this claim.
    code = Code.TRAVEL_CONTRADICTS_CLAIM if this.claimed and not other.claimed else Code.IMPOSSIBLE_TRAVEL
    yield (
        code,
        f"{format_distance(leg.distance_m)}{claimed} from the courier's {other.event.type} scan of "
        f"{other.event.tracking_number} {_gap(abs(leg.seconds))} apart: "
        f"{leg.speed_kmh(settings.min_leg_seconds):.0f} km/h beyond GPS error, "
        f"above the {top:.0f} km/h top speed ({courier.vehicle or 'unknown vehicle'})",
    )


def _gap(seconds: float) -> str:
    """How far apart two scans are: seconds under a minute ("0 min apart" said nothing)."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _bulk_signals(
    event: EventFact,
    place: Place,
    courier: CourierContext,
    destinations: Mapping[str, GeoPoint],
    settings: SignalSettings,
) -> Iterator[Signal]:
    # Only a scan that is itself off its address can be part of a fake round.
    if place.fix is None or (place.excess_m or 0) <= 0:
        return
    batch = signing_batch(
        event,
        place.fix,
        courier,
        settings.gps,
        destinations,
        window=settings.bulk_window,
        spot_radius_m=settings.bulk_spot_radius_m,
    )
    if len(batch.elsewhere) >= settings.bulk_min_parcels and batch.places >= settings.bulk_min_places:
        yield (
            Code.BULK_SIGNING,
            f"{len(batch.signed)} parcels handed over from this spot within "
            f"{settings.bulk_window.total_seconds() / 60:.0f} min of this scan; "
            f"{len(batch.elsewhere)} are addressed elsewhere, in {batch.places} distinct places",
        )
