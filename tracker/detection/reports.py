"""Customer reports as detection reads them, for a whole chunk of parcels at once.

Customers report through the tracking page (:mod:`tracker.tracking.feedback`): every
report is a ``feedback`` row, kept forever, and the complaints among them
(``not_received``, ``damaged``, ``late``) are evidence for detection. This
module is the seam: one query over ``ix_feedback_parcel_id_created_at``
for any number of parcels, turned into the detectors'
:class:`~tracker.detection.facts.CustomerReport` facts. Ratings and
appointments are not reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, select

from tracker.core.models import Feedback, FeedbackKind
from tracker.detection.facts import CustomerReport, ReportKind

_KINDS = [FeedbackKind(k.value) for k in ReportKind]


def load_reports(
    conn: Connection, parcel_ids: Sequence[int] | Select[Any]
) -> dict[int, list[CustomerReport]]:
    """Every complaint the customers of these parcels made, by parcel id, oldest first."""
    rows = conn.execute(
        select(Feedback.parcel_id, Feedback.kind, Feedback.created_at)
        .where(Feedback.parcel_id.in_(parcel_ids), Feedback.kind.in_(_KINDS))
        .order_by(Feedback.parcel_id, Feedback.created_at, Feedback.id)
    )
    reports: dict[int, list[CustomerReport]] = {}
    for row in rows:
        reports.setdefault(row.parcel_id, []).append(
            CustomerReport(ReportKind(str(row.kind)), row.created_at)
        )
    return reports
