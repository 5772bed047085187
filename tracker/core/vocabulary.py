"""The words tracker speaks: event types, parcel statuses, roles, cases.

These enums are stored by value in the database and appear as-is in the API,
so a value never changes once released (add new ones instead).
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    CREATED = "created"
    PICKED_UP = "picked_up"
    OUTBOUND = "outbound"
    ARRIVED = "arrived"
    DEPARTED = "departed"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERY_FAILED = "delivery_failed"
    DELIVERED = "delivered"
    READY_FOR_PICKUP = "ready_for_pickup"
    COLLECTED = "collected"
    DAMAGED = "damaged"
    EXCEPTION = "exception"
    RETURNED = "returned"


class ParcelStatus(StrEnum):
    INFO_RECEIVED = "info_received"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    FAILED_ATTEMPT = "failed_attempt"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNED = "returned"


#: Statuses after which a parcel needs no more watching for staleness or promises.
FINAL_STATUSES = frozenset({ParcelStatus.DELIVERED, ParcelStatus.RETURNED})

#: The two vocabularies by stored value, for the hot reads (ingest's fold, the tracking
#: read): a dict lookup, where calling the enum (``EventType(value)``) runs Enum's Python
#: ``__call__``. The columns are CHECK-constrained to these values, so a KeyError is a
#: schema out of step with the code.
EVENT_TYPES = {t.value: t for t in EventType}
STATUSES = {s.value: s for s in ParcelStatus}


class FacilityKind(StrEnum):
    WAREHOUSE = "warehouse"
    SORTING_CENTER = "sorting_center"
    GRID_WAREHOUSE = "grid_warehouse"
    DELIVERY_STATION = "delivery_station"
    PICKUP_POINT = "pickup_point"


class Role(StrEnum):
    COURIER = "courier"
    FACILITY = "facility"
    MERCHANT = "merchant"
    OPS = "ops"
    ADMIN = "admin"


class CaseType(StrEnum):
    STALE = "stale"
    SUSPECTED_FAKE_DELIVERY = "suspected_fake_delivery"
    DAMAGE = "damage"
    SLA_BREACH = "sla_breach"
    AT_RISK = "at_risk"
    TEMPERATURE_EXCURSION = "temperature_excursion"
    CUSTOMER_DISPUTE = "customer_dispute"
    #: A scan reported the parcel lost (an ``exception`` with reason ``lost``).
    LOST = "lost"
    #: A customer's complaint (投诉): the kind is in the reasons; ops owes an answer by ``due_at``.
    COMPLAINT = "complaint"
    #: Delivered outside the window the customer chose.
    MISSED_APPOINTMENT = "missed_appointment"
    #: A ``collected`` scan carried a pickup code that is not the parcel's.
    PICKUP_CODE_MISMATCH = "pickup_code_mismatch"


class ComplaintKind(StrEnum):
    """What a customer's complaint (投诉) is about: a bounded set (a metric label)."""

    COURIER_CONDUCT = "courier_conduct"
    PICKUP_POINT_SERVICE = "pickup_point_service"
    LATE = "late"
    DAMAGED = "damaged"
    NOT_RECEIVED = "not_received"


class CaseState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class CustomerTier(StrEnum):
    NORMAL = "normal"
    VIP = "vip"


class ScanReason(StrEnum):
    """Why a ``delivery_failed`` or ``exception`` scan happened: the codes a scan's ``reason`` takes."""

    NO_ONE_HOME = "no_one_home"
    ADDRESS_ISSUE = "address_issue"
    REFUSED = "refused"
    HELD = "held"
    LOST = "lost"
    CUSTOMS = "customs"
    WEATHER = "weather"
    DAMAGED = "damaged"


#: Old spellings still accepted on input (and found in stored scans), read as their code.
REASON_ALIASES = {"address_problem": ScanReason.ADDRESS_ISSUE}


def canonical_reason(value: object) -> object:
    """``address_problem`` -> ``address_issue``; anything else unchanged (validation judges it)."""
    return REASON_ALIASES.get(value, value) if isinstance(value, str) else value


class UserRole(StrEnum):
    """What a person signed in to the ops console may do (machines hold API keys, :class:`Role`)."""

    OPS = "ops"
    #: Also revokes API keys.
    ADMIN = "admin"


def exception_for(type_: object, reason: object, wanted: ScanReason) -> bool:
    """Is this scan an ``exception`` with the reason ``wanted`` (``lost``, ``damaged``)?"""
    return type_ == EventType.EXCEPTION and canonical_reason(reason) == wanted


def damage_exception(type_: object, reason: object) -> bool:
    """An ``exception`` scan for damage: as much evidence of damage as a ``damaged`` scan."""
    return exception_for(type_, reason, ScanReason.DAMAGED)
