"""The network as a file describes it: facilities and couriers.

The network changes rarely and is owned by ops, so it is loaded from a file
(``tracker network load``) or from the simulator (the demo), not through the
scan API. These are the plain records both produce
(:func:`parse_network` checks a file's, naming each wrong field);
:func:`tracker.scans.directory.load_network` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tracker.core.errors import ValidationFailed, field_errors
from tracker.core.vocabulary import FacilityKind


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


Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class _FacilityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: FacilityKind
    region: Annotated[str, Field(min_length=1, max_length=8, examples=["CN-31"])]
    city: Annotated[str, Field(min_length=1, max_length=64)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    address: Annotated[str, Field(max_length=300)] | None = None
    opening_hours: Annotated[str, Field(max_length=100)] | None = None
    parent_code: Code | None = None


class _CourierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name: Annotated[str, Field(min_length=1, max_length=100)]
    station_code: Code
    vehicle: Annotated[str, Field(min_length=1, max_length=16)] = "ebike"


class _NetworkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    facilities: list[_FacilityIn] = []
    couriers: list[_CourierIn] = []


def parse_network(data: Any) -> tuple[list[FacilitySpec], list[CourierSpec]]:
    """The facilities and couriers of a network file's JSON, or every mistake in it.

    Raises :class:`~tracker.core.errors.ValidationFailed` naming each field
    (``facilities.3.lat``). Whether a courier's station exists is the
    database's to say (it may be loaded already).
    """
    try:
        network = _NetworkIn.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed("the network file is not valid", field_errors(exc)) from None
    facilities = [FacilitySpec(**f.model_dump(mode="json")) for f in network.facilities]
    couriers = [CourierSpec(**c.model_dump()) for c in network.couriers]
    return facilities, couriers
