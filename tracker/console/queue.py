"""The case queue's rules: which case comes first, when it is due, how old is old (pure).

A queue is worked top down, so the order is the policy:

1. the customer's tier (a ``vip`` customer's case first),
2. the severity of the case's type (:data:`tracker.cases.priority.SEVERITY`,
   the cases API's order too: a customer who says the parcel never came
   outranks a parcel that is merely late),
3. the due time: when ops should have answered, the case's own due time
   (a complaint's) or ``opened_at`` plus the type's :data:`RESPONSE_TARGET`
   (halved for ``vip``).

Within one tier and one type the target is a constant, so ordering by
``opened_at`` is ordering by the type's due time: the store sorts in SQL on
(tier rank, severity rank, ``opened_at``, id) and pages with an offset, and
the page shows :func:`due_at` beside each case (sooner when a customer is
owed an answer sooner, which the order does not follow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tracker.core.vocabulary import CaseState, CaseType, CustomerTier

#: Lower comes first.
TIER_RANK: dict[CustomerTier, int] = {CustomerTier.VIP: 0, CustomerTier.NORMAL: 1}

#: How soon after opening ops should have acted on a case of each type.
RESPONSE_TARGET: dict[CaseType, timedelta] = {
    CaseType.CUSTOMER_DISPUTE: timedelta(hours=2),
    CaseType.SUSPECTED_FAKE_DELIVERY: timedelta(hours=4),
    CaseType.PICKUP_CODE_MISMATCH: timedelta(hours=4),
    CaseType.TEMPERATURE_EXCURSION: timedelta(hours=2),
    CaseType.DAMAGE: timedelta(hours=8),
    CaseType.SLA_BREACH: timedelta(hours=4),
    CaseType.AT_RISK: timedelta(hours=2),
    CaseType.STALE: timedelta(hours=8),
    CaseType.LOST: timedelta(hours=4),
    # A complaint carries its own due time (cases.due_at: 24 h, 4 h for vip); this is for one without.
    CaseType.COMPLAINT: timedelta(hours=24),
    CaseType.MISSED_APPOINTMENT: timedelta(hours=4),
}

#: The age filter's choices: cases opened at least this long ago.
AGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "24h": timedelta(hours=24),
    "72h": timedelta(hours=72),
}

#: The status filter's choices; ``live`` (the default) is open or acknowledged.
STATUSES: dict[str, tuple[CaseState, ...]] = {
    "live": (CaseState.OPEN, CaseState.ACKNOWLEDGED),
    "open": (CaseState.OPEN,),
    "acknowledged": (CaseState.ACKNOWLEDGED,),
    "resolved": (CaseState.RESOLVED,),
    "all": tuple(CaseState),
}

PAGE_SIZE = 25


def due_at(
    type_: CaseType, tier: CustomerTier, opened_at: datetime, owed_by: datetime | None = None
) -> datetime:
    """When ops should have acted: the type's target, or the customer's answer due (``owed_by``) if sooner.

    ``owed_by`` is ``cases.due_at``: set when a customer is owed an answer (a complaint, a
    dispute, a damage report), which may come after the case opened, sooner or later
    than the type's own target.
    """
    target = RESPONSE_TARGET[type_]
    due = opened_at + (target / 2 if tier is CustomerTier.VIP else target)
    return min(due, owed_by) if owed_by is not None else due


@dataclass(frozen=True)
class QueueFilter:
    """The queue's filters as the form sent them, each checked against its choices (unknown: none)."""

    type: CaseType | None = None
    status: str = "live"
    facility: str | None = None
    courier: str | None = None
    tier: CustomerTier | None = None
    age: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, args: dict[str, str]) -> QueueFilter:
        """From query arguments; a value outside the choices is ignored, as a select would send none."""

        def choice(name: str, values: dict[str, object] | set[str]) -> str | None:
            value = (args.get(name) or "").strip()
            return value if value in values else None

        code = lambda name: (args.get(name) or "").strip()[:32] or None  # noqa: E731
        page = args.get("page", "1")
        return cls(
            type=CaseType(t) if (t := choice("type", {c.value for c in CaseType})) else None,
            status=choice("status", STATUSES) or "live",
            facility=code("facility"),
            courier=code("courier"),
            tier=CustomerTier(t) if (t := choice("tier", {c.value for c in CustomerTier})) else None,
            age=choice("age", AGES),
            page=min(int(page), 10_000) if page.isdigit() and int(page) >= 1 else 1,
        )

    def opened_before(self, now: datetime) -> datetime | None:
        return now - AGES[self.age] if self.age else None

    def query(self, **changes: object) -> dict[str, str]:
        """The filters as query arguments (empty ones left out), for links to other pages."""
        values = {
            "type": self.type.value if self.type else None,
            "status": self.status if self.status != "live" else None,
            "facility": self.facility,
            "courier": self.courier,
            "tier": self.tier.value if self.tier else None,
            "age": self.age,
            "page": str(self.page) if self.page != 1 else None,
        }
        values.update({k: None if v is None else str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def phone_suffix(value: str) -> str | None:
    """The last four digits of a phone, as ops types them ("1234"); else None."""
    digits = value.strip()
    return digits if len(digits) == 4 and digits.isdigit() else None
