"""Exceptions raised by the routing engine.

::

    RoutingError
    ├── RoutingInputError    the problem is malformed; ``fields`` says where
    ├── MatrixSourceError    a distance/time source failed (e.g. OSRM down)
    └── RoutingSolverError   the solver failed or produced a plan the checker refused

``RoutingInputError.fields`` has the shape of the API's error body
(``[{"field": ..., "message": ...}]``) so the service can pass it through.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

__all__ = [
    "FieldError",
    "MatrixSourceError",
    "RoutingError",
    "RoutingInputError",
    "RoutingSolverError",
]


class FieldError(TypedDict):
    field: str
    message: str


class RoutingError(Exception):
    """Base class of every error this package raises on purpose."""


class RoutingInputError(RoutingError, ValueError):
    """The routing problem cannot be solved as given; every problem is listed."""

    def __init__(self, fields: Iterable[FieldError]) -> None:
        self.fields: list[FieldError] = list(fields)
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in self.fields[:5])
        more = len(self.fields) - 5
        if more > 0:
            summary += f"; and {more} more"
        super().__init__(f"invalid routing problem: {summary}")

    @classmethod
    def one(cls, field: str, message: str) -> RoutingInputError:
        return cls([{"field": field, "message": message}])


class MatrixSourceError(RoutingError):
    """A distance/duration source could not answer (network, bad reply, ...)."""


class RoutingSolverError(RoutingError):
    """The solver found no plan, or its plan failed the independent check."""
