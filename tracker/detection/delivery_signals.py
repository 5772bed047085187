"""The evidence against a handover scan, measured: what each signal sees (pure).

:mod:`tracker.detection.fake_delivery` turns these findings into a score
(weights, threshold, verdict); this module only decides whether each signal
is present and writes its detail. Splitting "what counts as evidence" from
"how much it weighs" lets ops re-weigh without touching the geometry.

:func:`collect_signals` runs, in order::

    location    scan fix vs. the nearest honest handover point (geo.GpsModel)
    proof       signature / photo / one-time code
    sequence    a last-mile step since the parcel last arrived at a facility
    facility    the scan was made where parcels wait, not at a doorstep
    afterwards  later scans showing the parcel still in the network
    customer    not_received reports made after the scan
    courier     impossible travel and bulk signing (courier_signals)

Each yields ``(code, detail)``; the code table with the reasoning behind each
signal and weight is in :mod:`tracker.detection.fake_delivery`. The codes,
the constants and the judged place are in :mod:`tracker.detection.signal_basis`,
the courier's signals in :mod:`tracker.detection.courier_signals`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta

from tracker.core.geo import geodesic_m
from tracker.detection.courier_signals import courier_signals
from tracker.detection.facts import (
    NETWORK_FACILITY_KINDS,
    CourierContext,
    EventFact,
    EventType,
    FacilityFact,
    ParcelFact,
    ReportKind,
    is_at_pickup_point,
)
from tracker.detection.geo import GpsModel, format_distance
from tracker.detection.signal_basis import Code, Place, Signal, SignalSettings, judge_place

#: Scans that put the parcel back in the network's hands.
_IN_NETWORK = frozenset(
    {
        EventType.OUTBOUND,
        EventType.ARRIVED,
        EventType.DEPARTED,
        EventType.OUT_FOR_DELIVERY,
        EventType.DELIVERY_FAILED,
        EventType.READY_FOR_PICKUP,
    }
)


def collect_signals(
    event: EventFact,
    parcel: ParcelFact,
    history: list[EventFact],
    courier: CourierContext | None,
    facilities: Mapping[str, FacilityFact],
    settings: SignalSettings,
) -> list[Signal]:
    """Every signal present for a handover scan.

    ``history`` is the parcel's other scans in order; ``facilities`` maps
    facility codes to their kind and position (any subset; may be empty).
    """
    place = judge_place(event, parcel, facilities, settings.gps)
    found: list[Signal] = [
        *_location_signals(event, parcel, place, settings),
        *_proof_signals(event, parcel),
        *_sequence_signals(event, parcel, history),
        *_facility_signals(event, parcel, place, facilities, settings.gps),
        *_after_delivery_signals(event, parcel, history, settings.post_delivery_grace),
        *_customer_signals(event, parcel),
    ]
    if courier is not None and event.courier_id == courier.courier_id:
        found += courier_signals(event, place, courier, settings)
    return found


def _location_signals(
    event: EventFact, parcel: ParcelFact, place: Place, settings: SignalSettings
) -> Iterator[Signal]:
    if place.fix is None:
        # Pickup-point terminals often have no GPS at all; a courier's phone should.
        if event.type is EventType.DELIVERED and not is_at_pickup_point(event, parcel):
            why = (
                "no position"
                if event.position is None
                else f"accuracy {format_distance(event.accuracy_m or 0)} too coarse"
            )
            yield Code.NO_GPS, f"delivered scan has no usable GPS fix ({why})"
        return
    excess = place.excess_m
    if excess is None or excess <= 0:
        return
    assert place.distance_m is not None and place.tolerance_m is not None
    detail = (
        f"scanned {format_distance(place.distance_m)} from {place.label} with "
        f"±{format_distance(place.fix.accuracy_m)} accuracy; honest scans land within "
        f"{format_distance(place.tolerance_m)}"
    )
    yield (Code.GPS_FAR if excess > settings.far_margin_m else Code.GPS_OFF), detail


def _proof_signals(event: EventFact, parcel: ParcelFact) -> Iterator[Signal]:
    pod = event.pod
    if pod is None or not pod.has_evidence:
        yield Code.NO_POD, "no signature, photo or one-time code was captured"
        return
    expected = (parcel.expected_otp or "").strip()
    if not expected:
        return
    given = (pod.otp or "").strip()
    if given and given != expected:
        yield (
            Code.OTP_MISMATCH,
            "the one-time code entered does not match the parcel's code",
        )
    elif not given:
        # The code is for a person at the door; lockers and pickup-point drops never see it.
        dropped = pod.relation == "locker" or (
            event.type is EventType.DELIVERED and is_at_pickup_point(event, parcel)
        )
        if not dropped:
            who = pod.relation or "the recipient"
            yield (
                Code.OTP_MISSING,
                f"the parcel expects a one-time code; handed to {who} without one",
            )


def _is_last_mile_step(step: EventFact, event: EventFact, parcel: ParcelFact) -> bool:
    if step.type is EventType.OUT_FOR_DELIVERY:
        return True
    at_pickup = is_at_pickup_point(step, parcel)
    if event.type is EventType.COLLECTED or is_at_pickup_point(event, parcel):
        return step.type is EventType.READY_FOR_PICKUP or (
            at_pickup and step.type in {EventType.ARRIVED, EventType.DELIVERED}
        )
    return False


def _sequence_signals(event: EventFact, parcel: ParcelFact, history: list[EventFact]) -> Iterator[Signal]:
    before = [e for e in history if e.occurred_at <= event.occurred_at]
    # Only steps since the parcel last sat in a network facility count: a
    # parcel brought back to the station must go out for delivery again.
    arrivals = [
        i for i, e in enumerate(before) if e.type is EventType.ARRIVED and not is_at_pickup_point(e, parcel)
    ]
    since = before[arrivals[-1] + 1 :] if arrivals else before
    if any(_is_last_mile_step(e, event, parcel) for e in since):
        return
    where = f" since it arrived at {before[arrivals[-1]].facility}" if arrivals else ""
    if event.type is EventType.COLLECTED:
        yield (
            Code.NOT_READY_FOR_PICKUP,
            f"collected, but the parcel never reached the pickup point{where}",
        )
    else:
        yield (
            Code.NO_OUT_FOR_DELIVERY,
            f"delivered without an out_for_delivery scan{where}",
        )


def _facility_signals(
    event: EventFact,
    parcel: ParcelFact,
    place: Place,
    facilities: Mapping[str, FacilityFact],
    gps: GpsModel,
) -> Iterator[Signal]:
    if event.type is EventType.COLLECTED or is_at_pickup_point(event, parcel):
        return
    if place.fix is None:
        if event.facility_kind in NETWORK_FACILITY_KINDS:
            yield (
                Code.AT_FACILITY,
                (
                    f"no usable GPS fix; the scan's only location is {event.facility} "
                    f"({event.facility_kind}), where parcels wait"
                ),
            )
        return
    if place.excess_m is not None and place.excess_m <= 0:
        return  # at the address; a facility next door does not matter
    tolerance = gps.tolerance_m(place.fix)
    nearby = sorted(
        (geodesic_m(place.fix.point, f.position), f.code)
        for f in facilities.values()
        if f.kind in NETWORK_FACILITY_KINDS
    )
    if nearby and nearby[0][0] <= tolerance:
        distance, code = nearby[0]
        yield (
            Code.AT_FACILITY,
            f"scanned {format_distance(distance)} from facility {code}, not at the address",
        )


def _after_delivery_signals(
    event: EventFact, parcel: ParcelFact, history: list[EventFact], grace: timedelta
) -> Iterator[Signal]:
    dropped_at_pickup = event.type is EventType.DELIVERED and is_at_pickup_point(event, parcel)
    later = [
        e
        for e in history
        if e.occurred_at > event.occurred_at + grace
        and e.type in _IN_NETWORK
        # After a drop at a pickup point, its own scans are the normal flow.
        and not (
            dropped_at_pickup and (e.type is EventType.READY_FOR_PICKUP or is_at_pickup_point(e, parcel))
        )
    ]
    if later:
        shown = "; ".join(
            f"{e.type} at {e.facility or e.courier_id or 'unknown'} {_minutes(e.occurred_at)}"
            for e in later[:3]
        )
        more = f" and {len(later) - 3} more" if len(later) > 3 else ""
        yield (
            Code.AFTER_DELIVERY,
            f"scanned in the network after the handover: {shown}{more}",
        )


def _customer_signals(event: EventFact, parcel: ParcelFact) -> Iterator[Signal]:
    # A complaint from before the scan is about lateness, not about this claim.
    reports = [r for r in parcel.reports if r.kind is ReportKind.NOT_RECEIVED and r.at >= event.occurred_at]
    if reports:
        first = min(r.at for r in reports)
        yield (
            Code.NOT_RECEIVED,
            f"the recipient reported not_received ({len(reports)}x, first {_minutes(first)})",
        )


def _minutes(moment: datetime) -> str:
    return moment.isoformat(timespec="minutes")
