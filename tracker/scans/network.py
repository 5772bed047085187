"""The network as a file describes it: facilities and couriers.

The network changes rarely and is owned by ops, so it is loaded from a file
(``tracker network load``) or from the simulator (the demo), not through the
scan API. These are the plain records both produce;
:func:`tracker.scans.directory.load_network` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FacilitySpec:
    code: str
    name: str
    kind: str
    region: str
    city: str
    lat: float
    lon: float
    address: str | None = None
    opening_hours: str | None = None
    parent_code: str | None = None


@dataclass(frozen=True)
class CourierSpec:
    code: str
    name: str
    station_code: str
    vehicle: str = "ebike"
