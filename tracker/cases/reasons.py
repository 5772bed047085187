"""What a case is made of, as plain values (pure).

A case explains itself with :class:`Reason` s: a stable ``code`` a program
can act on and a ``detail`` a person reads. Detectors and the sweep build
them without a database; :mod:`tracker.cases.store` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.core.vocabulary import CaseType

#: How a person may close a case.
RESOLUTIONS = frozenset({"confirmed", "false_alarm", "compensated", "redelivered", "returned", "no_action"})

#: Cases that are the customer's own voice: resolved, never removed or hidden.
CUSTOMER_COMPLAINTS = frozenset({CaseType.CUSTOMER_DISPUTE, CaseType.COMPLAINT})


@dataclass(frozen=True)
class Reason:
    code: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "detail": self.detail}
