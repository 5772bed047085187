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

#: Why a case was opened: the reason codes of the sweep, the detectors and customer reports
#: (their details stay as stored, with the facts in them).
REASONS = {
    # The sweep (tracker/sweep/judge.py) and what a scan settles (tracker/sweep/outcomes.py).
    "silent": _l("No scan for too long"),
    "promise_missed": _l("Promise missed"),
    "eta_after_promise": _l("Expected after the promise"),
    "outside_window": _l("Delivered outside the booked window"),
    "reported_lost": _l("Reported lost"),
    "wrong_pickup_code": _l("Wrong pickup code"),
    "temperature_range": _l("Temperature out of range"),
    # Customers (tracker/tracking/feedback.py).
    "customer_not_received": _l("Customer says not received"),
    "customer_damage_report": _l("Customer reports damage"),
    "complaint_late": _l("Customer complains of lateness"),
    "complaint_courier_conduct": _l("Complaint about the courier"),
    "complaint_pickup_point_service": _l("Complaint about the pickup point"),
    "complaint_damaged": _l("Complaint about damage"),
    "complaint_not_received": _l("Complaint: not received"),
    "low_rating": _l("Low rating"),
    # Damage (tracker/detection/damage.py).
    "damage_reported": _l("Damage reported"),
    "damage_found": _l("Damage found at a scan"),
    "damage_attributed": _l("Damage attributed"),
    "damage_segment": _l("Damage on a segment"),
    "damage_hotspot": _l("Damage hotspot"),
    "damage_rate": _l("Damage rate"),
    "score_below_threshold": _l("Score below the threshold"),
    # Fake deliveries (tracker/detection/fake_delivery.py).
    "handover_scan": _l("Handover scan"),
    "gps_far_from_address": _l("GPS far from the address"),
    "scanned_after_delivery": _l("Scanned after delivery"),
    "travel_contradicts_claim": _l("Travel contradicts the scan"),
    "scanned_at_facility": _l("Scanned at a facility"),
    "otp_mismatch": _l("Wrong one-time code"),
    "bulk_signing": _l("Many signed from one spot"),
    "gps_off_address": _l("GPS off the address"),
    "impossible_travel": _l("Impossible travel"),
    "no_proof_of_delivery": _l("No proof of delivery"),
    "no_out_for_delivery": _l("No out-for-delivery scan"),
    "not_ready_for_pickup": _l("Never reached the pickup point"),
    "no_gps_fix": _l("No GPS fix"),
    "otp_missing": _l("One-time code missing"),
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
    "reason": REASONS,
    # Scan types in the customer's words, already in the catalogs.
    "event": EVENTS,
}


def label(kind: str, code: object) -> str:
    """The message id for ``code`` in table ``kind``; an unknown code stands for itself."""
    value = getattr(code, "value", code)
    return TABLES[kind].get(str(value), str(value))
