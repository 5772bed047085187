"""The console's words for the service's codes: case types, states, statuses, roles (pure).

Message ids are English, marked with ``_l`` for ``pybabel extract``; the
page translates them when it shows them (:func:`tracker.console.views.render`).
"""

from __future__ import annotations

from tracker.tracking.i18n import EVENTS


def _l(message: str) -> str:
    return message


CASE_TYPES = {
    "stale": _l("Stale tracking"),
    "suspected_fake_delivery": _l("Suspected fake delivery"),
    "damage": _l("Damage"),
    "sla_breach": _l("Promise missed"),
    "at_risk": _l("Promise at risk"),
    "temperature_excursion": _l("Temperature excursion"),
    "customer_dispute": _l("Customer dispute"),
    "pickup_code_mismatch": _l("Wrong pickup code"),
    "lost": _l("Parcel lost"),
    "complaint": _l("Customer complaint"),
    "missed_appointment": _l("Outside the booked window"),
}
CASE_STATES = {
    "open": _l("Open"),
    "acknowledged": _l("Acknowledged"),
    "resolved": _l("Resolved"),
}
STATUS_FILTERS = {
    "live": _l("Open or acknowledged"),
    "open": _l("Open"),
    "acknowledged": _l("Acknowledged"),
    "resolved": _l("Resolved"),
    "all": _l("All"),
}
AGES = {
    "1h": _l("Older than 1 hour"),
    "4h": _l("Older than 4 hours"),
    "24h": _l("Older than 1 day"),
    "72h": _l("Older than 3 days"),
}
TIERS = {"normal": _l("Normal"), "vip": _l("VIP")}
RESOLUTIONS = {
    "confirmed": _l("Confirmed"),
    "false_alarm": _l("False alarm"),
    "compensated": _l("Compensated"),
    "redelivered": _l("Redelivered"),
    "returned": _l("Returned"),
    "no_action": _l("No action needed"),
    "closed_by_system": _l("Closed by the system"),
}
ACTIONS = {
    "opened": _l("Case opened"),
    "updated": _l("Updated"),
    "closed": _l("Closed"),
    "reopened": _l("Reopened"),
    "acknowledged": _l("Acknowledged"),
    "assigned": _l("Assigned"),
    "answered": _l("Answered the customer"),
    "resolved": _l("Resolved"),
    "customer_report": _l("Customer report"),
}
PARCEL_STATUSES = {
    "info_received": _l("Info received"),
    "in_transit": _l("In transit"),
    "out_for_delivery": _l("Out for delivery"),
    "failed_attempt": _l("Failed attempt"),
    "available_for_pickup": _l("Ready for pickup"),
    "delivered": _l("Delivered"),
    "exception": _l("Exception"),
    "returned": _l("Returned"),
}
FEEDBACK = {
    "not_received": _l("Not received"),
    "damaged": _l("Damage"),
    "late": _l("Late"),
    "rating": _l("Rating"),
    "appointment": _l("Delivery window"),
}
ROLES = {
    "courier": _l("Courier"),
    "facility": _l("Facility"),
    "merchant": _l("Merchant"),
    "ops": _l("Ops"),
    "admin": _l("Admin"),
}
SEGMENTS = {"facility": _l("Facility"), "leg": _l("Leg"), "courier": _l("Courier")}
#: The shipped service levels (tracker/sla/service_levels.toml); a level a network
#: adds in its own file is shown by its name.
SERVICE_LEVELS = {
    "211": _l("211 timed delivery"),
    "next_day": _l("Next day"),
    "standard": _l("Standard"),
    "group_buy": _l("Community group buy"),
}

#: Every table above by name, for the templates' ``label(kind, code)``.
TABLES = {
    "case_type": CASE_TYPES,
    "case_state": CASE_STATES,
    "status_filter": STATUS_FILTERS,
    "age": AGES,
    "tier": TIERS,
    "resolution": RESOLUTIONS,
    "action": ACTIONS,
    "parcel_status": PARCEL_STATUSES,
    "feedback": FEEDBACK,
    "role": ROLES,
    "segment": SEGMENTS,
    "service_level": SERVICE_LEVELS,
    # Scan types in the customer's words, already in the catalogs.
    "event": EVENTS,
}


def label(kind: str, code: object) -> str:
    """The message id for ``code`` in table ``kind``; an unknown code stands for itself."""
    value = getattr(code, "value", code)
    return TABLES[kind].get(str(value), str(value))
