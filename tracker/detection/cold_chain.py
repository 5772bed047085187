"""Cold chain: temperature readings of a perishable parcel outside its range.

Scans may carry a ``temperature_c`` reading (a logger read at the scan, or
the facility's cold room); sensors report others apart from any scan
(:class:`~tracker.detection.facts.SensorReading` s on the parcel: EPCIS
sensor events, which derive no scan). For a parcel with a perishable range,
:func:`find_excursion` collects every reading outside the range into one
:class:`Excursion`, the material of one ``temperature_excursion`` case per
parcel, however many readings strayed. Each reading keeps where (facility,
courier, position) and when it was taken, so ops can see whether one cold
room or one van is to blame.

Readings exactly on a bound are inside the range: the range is what the
shipper declared acceptable. ``tolerance_c`` widens the range on both sides
for sensors known to be coarse; it is 0 by default so the declared range is
the rule. Readings that are not finite numbers are sensor faults, skipped.
A sensor reading that gives a span (minimum and maximum) is one reading,
outside the range when either end is; its worst end is the one reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tracker.detection.facts import (
    EventFact,
    EventType,
    GeoPoint,
    ParcelFact,
    Reason,
    SensorReading,
    TemperatureRange,
    chronological,
)

CASE_TYPE = "temperature_excursion"


@dataclass(frozen=True, slots=True)
class Reading:
    #: The scan's event id, or the sensor reading's id.
    event_id: str
    #: The scan's type; None for a sensor reading (``source`` says what took it).
    type: EventType | None
    occurred_at: datetime
    temperature_c: float
    facility: str | None
    courier_id: str | None
    position: GeoPoint | None
    #: Degrees beyond the range: positive above ``max_c``, negative below ``min_c``.
    deviation_c: float
    source: str | None = None

    @property
    def where(self) -> str:
        if self.facility:
            return self.facility
        if self.courier_id:
            return f"courier {self.courier_id}"
        if self.position:
            return f"{self.position.lat:.5f},{self.position.lon:.5f}"
        return "unknown place"

    @property
    def reason(self) -> Reason:
        direction = "above" if self.deviation_c > 0 else "below"
        return Reason(
            f"temperature_{direction}_range",
            f"{self.temperature_c:g} °C at {self.where} ({self.type or self.source}, "
            f"{self.occurred_at.isoformat(timespec='minutes')}), "
            f"{abs(self.deviation_c):g} °C {direction} the range",
        )


@dataclass(frozen=True, slots=True)
class Excursion:
    tracking_number: str
    allowed: TemperatureRange
    #: Every out-of-range reading, in the order they were taken.
    readings: tuple[Reading, ...]
    #: How many readings the parcel had in all, in range or not.
    readings_total: int

    @property
    def first_at(self) -> datetime:
        return self.readings[0].occurred_at

    @property
    def last_at(self) -> datetime:
        return self.readings[-1].occurred_at

    @property
    def worst(self) -> Reading:
        return max(self.readings, key=lambda r: abs(r.deviation_c))

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(r.reason for r in self.readings)


def find_excursion(
    parcel: ParcelFact, events: Iterable[EventFact], *, tolerance_c: float = 0.0
) -> Excursion | None:
    """The parcel's out-of-range readings as one excursion, or None if all were in range."""
    allowed = parcel.perishable
    if allowed is None:
        return None
    low, high = allowed.min_c - tolerance_c, allowed.max_c + tolerance_c
    taken = [
        e
        for e in chronological(events)
        if e.tracking_number == parcel.tracking_number
        and e.temperature_c is not None
        and math.isfinite(e.temperature_c)
    ]
    strayed = [
        # Deviation from the declared range, even when a tolerance widened the test.
        _reading(e, e.temperature_c - (allowed.max_c if e.temperature_c > high else allowed.min_c))
        for e in taken
        if e.temperature_c is not None and not low <= e.temperature_c <= high
    ]
    sensed = [
        (r, [t for t in r.temperatures_c if math.isfinite(t)])
        for r in sorted(parcel.readings, key=lambda r: (r.observed_at, r.reading_id))
    ]
    sensed = [(r, values) for r, values in sensed if values]
    for r, values in sensed:
        worst = max(values, key=lambda t: max(low - t, t - high))
        if not low <= worst <= high:
            strayed.append(_sensed(r, worst, worst - (allowed.max_c if worst > high else allowed.min_c)))
    if not strayed:
        return None
    # Stable: scans keep their chronological order among readings taken at the same time.
    strayed.sort(key=lambda r: r.occurred_at)
    return Excursion(parcel.tracking_number, allowed, tuple(strayed), len(taken) + len(sensed))


def _reading(event: EventFact, deviation_c: float) -> Reading:
    assert event.temperature_c is not None
    return Reading(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        temperature_c=event.temperature_c,
        facility=event.facility,
        courier_id=event.courier_id,
        position=event.position,
        deviation_c=round(deviation_c, 3),
    )


def _sensed(reading: SensorReading, temperature_c: float, deviation_c: float) -> Reading:
    return Reading(
        event_id=reading.reading_id,
        type=None,
        occurred_at=reading.observed_at,
        temperature_c=temperature_c,
        facility=reading.facility,
        courier_id=None,
        position=None,
        deviation_c=round(deviation_c, 3),
        source=reading.source,
    )
