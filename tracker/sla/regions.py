"""Region classes: how far a parcel travels, in the terms promises are sold in.

A place is a province (an ISO 3166-2:CN code such as ``CN-31``) and a city
(a name or an administrative code; whichever the caller uses, it must use it
on both ends). :func:`region_class` compares two places:

    same_city       same province and same city
    same_province   same province, another city
    cross_province  another province
    remote          either end in a remote province or remote city,
                    unless both ends are in the same city

A parcel inside Lhasa is ``same_city``: the remote surcharge and the extra
transit days are about the long line-haul into or out of the area, which a
local delivery never rides. A parcel *from* a remote area is as slow as one
*into* it, so either end counts.
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# ISO 3166-2:CN has used two-letter codes (CN-SH) since 2017; the numeric
# codes (CN-31, the GB/T 2260 prefixes) are still what most systems carry.
PROVINCE_CODE = re.compile(r"^CN-(?:[0-9]{2}|[A-Z]{2})$")


class RegionClass(StrEnum):
    SAME_CITY = "same_city"
    SAME_PROVINCE = "same_province"
    CROSS_PROVINCE = "cross_province"
    REMOTE = "remote"


class Locality(Protocol):
    """Anything with a province and a city: a :class:`Place`, an ORM row, ..."""

    @property
    def province(self) -> str: ...

    @property
    def city(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Place:
    province: str
    city: str


def _key(text: str) -> str:
    # "Shanghai", " shanghai " and "SHANGHAI" are one city; we do no more than
    # that (no pinyin/hanzi folding), so callers must pick one spelling.
    return text.strip().casefold()


@dataclass(frozen=True, slots=True)
class RemoteAreas:
    """The provinces and cities that count as remote (from the TOML file)."""

    provinces: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()

    @classmethod
    def of(cls, provinces: list[str], cities: list[str]) -> "RemoteAreas":
        return cls(
            frozenset(p.strip().upper() for p in provinces),
            frozenset(_key(c) for c in cities),
        )

    def contains(self, place: Locality) -> bool:
        return place.province.strip().upper() in self.provinces or _key(place.city) in self.cities


def region_class(origin: Locality, destination: Locality, *, remote: RemoteAreas) -> RegionClass:
    """Classify the journey from ``origin`` to ``destination`` (see module docstring)."""
    same_province = origin.province.strip().upper() == destination.province.strip().upper()
    if same_province and _key(origin.city) == _key(destination.city):
        return RegionClass.SAME_CITY
    if remote.contains(origin) or remote.contains(destination):
        return RegionClass.REMOTE
    return RegionClass.SAME_PROVINCE if same_province else RegionClass.CROSS_PROVINCE
