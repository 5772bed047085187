"""Which case type ops works first (pure): one order for the cases API and the console queue.

A customer waiting on us (a lost parcel, a dispute, a complaint) outranks
what the network noticed on its own, and a parcel merely at risk or quiet
comes last. Every case type has a rank (``tests/cases/test_priority.py``):
a type without one sorted after all of them, and the console's queue could
not show it.
"""

from __future__ import annotations

from tracker.core.vocabulary import CaseType

#: Lower first.
SEVERITY: dict[CaseType, int] = {
    t: rank
    for rank, t in enumerate(
        (
            CaseType.LOST,
            CaseType.CUSTOMER_DISPUTE,
            CaseType.COMPLAINT,
            CaseType.DAMAGE,
            CaseType.SUSPECTED_FAKE_DELIVERY,
            CaseType.PICKUP_CODE_MISMATCH,
            CaseType.SLA_BREACH,
            CaseType.TEMPERATURE_EXCURSION,
            CaseType.MISSED_APPOINTMENT,
            CaseType.AT_RISK,
            CaseType.STALE,
        )
    )
}
