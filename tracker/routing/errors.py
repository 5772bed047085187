"""Exceptions raised by the routing engine, within :mod:`tracker.core.errors`'s hierarchy (pure).

::

    TrackerError                       (tracker.core.errors)
    └── RoutingError                   500 routing_failed should one ever reach a client
        ├── RoutingInputError          also a ValidationFailed (422) and a ValueError;
        │                              ``fields`` says where, in the engine's paths
        ├── MatrixSourceError          a distance/time source failed (e.g. OSRM down)
        └── RoutingSolverError         the solver failed or produced a plan the checker refused

``RoutingInputError.fields`` holds :class:`tracker.core.errors.FieldError`
items whose paths are the engine's (``stops[3].window.end``); the service
translates them into the API's dotted paths (``stops.3.window.end``, see
:func:`tracker.routing.planning.invalid_problem`) before a client sees them.
"""

from __future__ import annotations

from collections.abc import Iterable

from tracker.core.errors import FieldError, TrackerError, ValidationFailed

__all__ = [
    "MatrixSourceError",
    "RoutingError",
    "RoutingInputError",
    "RoutingSolverError",
]


class RoutingError(TrackerError):
    """Base class of every error this package raises on purpose."""

    code = "routing_failed"


class RoutingInputError(RoutingError, ValidationFailed, ValueError):
    """The routing problem cannot be solved as given; every problem is listed."""

    # RoutingError comes first in the MRO: name the 422 explicitly.
    status, code = ValidationFailed.status, ValidationFailed.code

    def __init__(self, fields: Iterable[FieldError]) -> None:
        listed = list(fields)
        summary = "; ".join(f"{f.field}: {f.message}" for f in listed[:5])
        more = len(listed) - 5
        if more > 0:
            summary += f"; and {more} more"
        super().__init__(f"invalid routing problem: {summary}", listed)

    @classmethod
    def one(cls, field: str, message: str) -> RoutingInputError:
        return cls([FieldError(field, message)])


class MatrixSourceError(RoutingError):
    """A distance/duration source could not answer (network, bad reply, ...)."""


class RoutingSolverError(RoutingError):
    """The solver found no plan, or its plan failed the independent check."""
