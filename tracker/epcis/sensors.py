"""Sensor data of an EPCIS event as readings (pure).

EPCIS 2.0 carries sensor data in ``sensorElementList``: each element has
optional ``sensorMetadata`` (time, deviceID...) and a ``sensorReport`` list;
each report has a measurement ``type`` (``Temperature``, ``gs1:Temperature``,
``https://gs1.org/voc/Temperature`` or an extension such as ``example:Abc``),
a ``uom`` (UN/CEFACT code: ``CEL``, ``FAH``, ``KEL``...) and a ``value`` or
``minValue``/``maxValue``/``meanValue`` (or a string, boolean, hex or URI
value). :func:`readings` turns every report into one :class:`Reading`, kept
as given (type, values, unit) plus, for temperatures in a known unit, the
value in degrees Celsius, which is what the cold-chain detector reads.

The time of a reading is the report's ``time``, else the element's
``sensorMetadata.time``, ``endTime`` (a report over a span is as of its end),
else the event's ``eventTime``.

:func:`scan_temperature` picks the one temperature a derived scan carries
(a scan has one ``temperature_c``): the reading furthest outside the
parcel's perishable range when the parcel has one, so an excursion the
event recorded reaches :mod:`tracker.detection.cold_chain`; without a range,
the highest reading. Every reading stays queryable whichever is picked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_GS1_VOC = ("https://gs1.org/voc/", "gs1:")

#: Temperature units (UN/CEFACT Rec. 20) -> degrees Celsius.
_TO_CELSIUS = {
    "CEL": lambda v: v,
    "FAH": lambda v: (v - 32.0) * 5.0 / 9.0,
    "KEL": lambda v: v - 273.15,
}


@dataclass(frozen=True)
class Reading:
    measurement_type: str
    observed_at: datetime
    uom: str | None = None
    value: float | None = None
    min_value: float | None = None
    max_value: float | None = None
    mean_value: float | None = None
    #: The string, boolean, hex or URI value, as text, for non-numeric reports.
    other_value: str | None = None
    device_id: str | None = None
    #: For a temperature in a known unit: ``value`` (else the extremes) in °C.
    temperature_c: float | None = None
    temperature_min_c: float | None = None
    temperature_max_c: float | None = None

    @property
    def temperatures_c(self) -> list[float]:
        return [
            t for t in (self.temperature_c, self.temperature_min_c, self.temperature_max_c) if t is not None
        ]


def measurement_type(value: str) -> str:
    """``gs1:Temperature`` and ``https://gs1.org/voc/Temperature`` read as ``Temperature``."""
    for prefix in _GS1_VOC:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def readings(event: dict[str, Any], event_time: datetime, parse_time: Any) -> list[Reading]:
    """Every sensor report of ``event``; ``parse_time`` reads an EPCIS time string (or None)."""
    out = []
    for element in event.get("sensorElementList") or ():
        meta = element.get("sensorMetadata") or {}
        element_time = parse_time(meta.get("time")) or parse_time(meta.get("endTime"))
        for report in element.get("sensorReport") or ():
            kind = measurement_type(str(report.get("type") or report.get("exception") or "unknown"))
            uom = report.get("uom")
            numbers = {k: _number(report.get(k)) for k in ("value", "minValue", "maxValue", "meanValue")}
            other = next(
                (
                    str(report[k]).lower() if isinstance(report[k], bool) else str(report[k])
                    for k in ("stringValue", "booleanValue", "hexBinaryValue", "uriValue")
                    if k in report
                ),
                None,
            )
            celsius = _TO_CELSIUS.get(uom) if kind == "Temperature" else None
            out.append(
                Reading(
                    measurement_type=kind,
                    observed_at=parse_time(report.get("time")) or element_time or event_time,
                    uom=uom,
                    value=numbers["value"],
                    min_value=numbers["minValue"],
                    max_value=numbers["maxValue"],
                    mean_value=numbers["meanValue"],
                    other_value=other,
                    device_id=report.get("deviceID") or meta.get("deviceID"),
                    temperature_c=_convert(
                        celsius, numbers["value"] if numbers["value"] is not None else numbers["meanValue"]
                    ),
                    temperature_min_c=_convert(celsius, numbers["minValue"]),
                    temperature_max_c=_convert(celsius, numbers["maxValue"]),
                )
            )
    return out


def _convert(to_celsius: Any, value: float | None) -> float | None:
    if to_celsius is None or value is None:
        return None
    return round(to_celsius(value), 3)


def scan_temperature(found: list[Reading], allowed: tuple[float, float] | None) -> float | None:
    """The temperature a derived scan carries (see the module doc), or None without one."""
    temperatures = [t for r in found for t in r.temperatures_c]
    if not temperatures:
        return None
    if allowed is None:
        return max(temperatures)
    low, high = allowed

    def outside(t: float) -> tuple[float, float]:
        # Distance outside the range first; inside it, distance from the middle.
        return (max(low - t, t - high, 0.0), abs(t - (low + high) / 2))

    return max(temperatures, key=outside)
