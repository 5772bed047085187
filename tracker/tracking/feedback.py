"""What customers tell us about a parcel: reports, ratings, appointments.

Every submission is a row in ``feedback`` (kind, payload, time, the case it
touched); nothing in tracker updates or deletes one, so complaints are kept
forever with their history. The rules, enforced here whatever the client:

=============  ====================================  ==========================
kind           allowed when                          effect
=============  ====================================  ==========================
not_received   the parcel shows delivered/collected  opens or adds to a
                                                     ``customer_dispute`` case
damaged        delivered, collected, or waiting at   opens or adds to a
               a pickup point (seen at the counter)  ``damage`` case
late           always (the row notes whether the     none: SLA cases come from
               promise had passed)                   the sweep
rating         delivered or collected                the parcel's one
                                                     ``ratings`` row (updated;
                                                     each version is a row here)
appointment    see :func:`tracker.tracking.view.          ``parcels.appointment_*``
               appointment_windows`
=============  ====================================  ==========================

Cases are opened with ``actor="customer"``, naming the courier and facility
of the delivery scan, so fake-delivery detection can weigh a dispute against
that courier. Detection reads reports through :func:`customer_reports`.

A store module: functions run inside the caller's write transaction (the
views of :mod:`tracker.tracking.http` own it; nothing here begins or
commits) and take the parcel's facts read in that same transaction
(:func:`tracker.tracking.store.read_parcel`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from tracker.cases.store import Reason, open_case
from tracker.core.db import upsert
from tracker.core.errors import Conflict, FieldError
from tracker.core.models import Case, Feedback, FeedbackKind, Parcel, Rating
from tracker.core.timefmt import iso_local
from tracker.core.vocabulary import CaseState, CaseType, ParcelStatus
from tracker.tracking.view import ParcelFacts, appointment_refusal, appointment_windows, is_late

#: Kinds that are complaints (detection's input; never hidden).
COMPLAINTS = frozenset({FeedbackKind.NOT_RECEIVED, FeedbackKind.DAMAGED, FeedbackKind.LATE})


@dataclass(frozen=True)
class Receipt:
    """What the customer is told back."""

    kind: FeedbackKind
    feedback_id: int
    at: datetime
    case_id: int | None = None
    #: For ratings: 1 for the first, then 2, 3... for updates.
    revision: int | None = None

    @property
    def reference(self) -> str:
        return f"F{self.feedback_id:08d}"


def _store(
    conn: Connection, facts: ParcelFacts, kind: FeedbackKind, payload: dict[str, Any], now: datetime,
    case_id: int | None = None,
) -> int:  # fmt: skip
    feedback_id = conn.scalar(
        insert(Feedback)
        .values(parcel_id=facts.id, kind=kind, payload=payload, created_at=now, case_id=case_id)
        .returning(Feedback.id)
    )
    assert feedback_id is not None
    # What a customer says is evidence (a "not received" re-scores a delivery):
    # the parcel is due for the sweep's detectors now.
    conn.execute(update(Parcel).where(Parcel.id == facts.id).values(next_check_at=now))
    return feedback_id


def _count(conn: Connection, parcel_id: int, kind: FeedbackKind) -> int:
    return int(
        conn.scalar(
            select(func.count())
            .select_from(Feedback)
            .where(Feedback.parcel_id == parcel_id, Feedback.kind == kind)
        )
        or 0
    )


def _delivered(facts: ParcelFacts) -> bool:
    return facts.status is ParcelStatus.DELIVERED and facts.delivery_event() is not None


def report_not_received(
    conn: Connection,
    facts: ParcelFacts,
    *,
    now: datetime,
    comment: str | None = None,
    zone: tzinfo = UTC,
) -> Receipt:
    """The parcel shows delivered but the customer has not got it (the case reason's times in ``zone``)."""
    delivery = facts.delivery_event()
    if not _delivered(facts) or delivery is None:
        raise Conflict(
            "a parcel can be reported as not received only once it shows delivered or collected",
            [FieldError("kind", "the parcel does not show delivered yet")],
        )
    reports = _count(conn, facts.id, FeedbackKind.NOT_RECEIVED) + 1
    who = delivery.courier_code or delivery.facility_code or "unknown"
    reason = Reason(
        "customer_not_received",
        f"the customer says the parcel never arrived ({delivery.type.value} scanned "
        f"{iso_local(delivery.occurred_at, zone)} by {who}; report {reports})",
    )
    case_id, _ = open_case(
        conn,
        facts.id,
        CaseType.CUSTOMER_DISPUTE,
        [reason],
        now=now,
        actor="customer",
        courier=delivery.courier_code,
        facility=delivery.facility_code,
    )
    payload = {"comment": comment, "delivery_event_id": delivery.event_id}
    feedback_id = _store(conn, facts, FeedbackKind.NOT_RECEIVED, payload, now, case_id)
    return Receipt(FeedbackKind.NOT_RECEIVED, feedback_id, now, case_id)


def report_damaged(
    conn: Connection,
    facts: ParcelFacts,
    *,
    now: datetime,
    description: str,
    photo_sha256: str | None = None,
) -> Receipt:
    """Damage the customer found on receiving the parcel (or at the pickup counter)."""
    if not (_delivered(facts) or facts.status is ParcelStatus.AVAILABLE_FOR_PICKUP):
        raise Conflict(
            "damage can be reported once the parcel is delivered or waiting at a pickup point",
            [FieldError("kind", "the parcel has not reached you yet")],
        )
    # A damage case opened from a scan keeps its reasons: the customer's is added.
    live = conn.execute(
        select(Case.reasons, Case.courier_code, Case.facility_code).where(
            Case.parcel_id == facts.id, Case.type == CaseType.DAMAGE, Case.state != CaseState.RESOLVED
        )
    ).first()
    reports = _count(conn, facts.id, FeedbackKind.DAMAGED) + 1
    reasons = [Reason(r["code"], r["detail"]) for r in (live.reasons if live else [])]
    reasons = [r for r in reasons if r.code != "customer_damage_report"]
    reasons.append(
        Reason(
            "customer_damage_report", f"the customer reports damage (report {reports}): {description[:300]}"
        )
    )
    delivery = facts.delivery_event()
    case_id, _ = open_case(
        conn,
        facts.id,
        CaseType.DAMAGE,
        reasons,
        now=now,
        actor="customer",
        courier=live.courier_code if live else (delivery.courier_code if delivery else None),
        facility=live.facility_code if live else (delivery.facility_code if delivery else None),
    )
    payload = {"description": description, "photo_sha256": photo_sha256}
    feedback_id = _store(conn, facts, FeedbackKind.DAMAGED, payload, now, case_id)
    return Receipt(FeedbackKind.DAMAGED, feedback_id, now, case_id)


def report_late(
    conn: Connection, facts: ParcelFacts, *, now: datetime, comment: str | None = None
) -> Receipt:
    """The customer finds the parcel late; the row notes what the promise said."""
    payload = {
        "comment": comment,
        "promised_by": facts.promised_by.isoformat() if facts.promised_by else None,
        "promise_passed": is_late(facts, now),
        "status": facts.status.value,
    }
    feedback_id = _store(conn, facts, FeedbackKind.LATE, payload, now)
    return Receipt(FeedbackKind.LATE, feedback_id, now)


def rate(
    conn: Connection,
    facts: ParcelFacts,
    *,
    now: datetime,
    packaging: int,
    courier: int,
    speed: int,
    comment: str | None = None,
) -> Receipt:
    """Rate a delivered parcel: one rating per parcel, updated in place, every version kept."""
    delivery = facts.delivery_event()
    if not _delivered(facts) or delivery is None:
        raise Conflict(
            "a parcel can be rated once it is delivered or collected",
            [FieldError("kind", "the parcel does not show delivered yet")],
        )
    scores = {"packaging": packaging, "courier": courier, "speed": speed, "comment": comment}
    statement = upsert(conn, Rating).values(
        parcel_id=facts.id,
        **scores,
        courier_code=delivery.courier_code,
        facility_code=delivery.facility_code,
        revision=1,
        created_at=now,
        updated_at=now,
    )
    # Two first ratings racing: the unique parcel_id turns the second into an update.
    revision = conn.scalar(
        statement.on_conflict_do_update(
            index_elements=["parcel_id"],
            set_={**scores, "revision": Rating.revision + 1, "updated_at": now},
        ).returning(Rating.revision)
    )
    feedback_id = _store(conn, facts, FeedbackKind.RATING, {**scores, "revision": revision}, now)
    return Receipt(FeedbackKind.RATING, feedback_id, now, revision=revision)


def book_appointment(
    conn: Connection, facts: ParcelFacts, start: datetime, end: datetime, *, now: datetime, tz: Any
) -> Receipt:
    """Store the customer's chosen delivery window, one of those offered now."""
    refusal = appointment_refusal(facts)
    if refusal is not None:
        raise Conflict(
            f"no delivery window can be chosen for this parcel ({refusal})",
            [FieldError("start", refusal)],
        )
    if (start, end) not in appointment_windows(facts, now=now, tz=tz):
        raise Conflict(
            "that window is not one of those offered; ask the tracking page for the current ones",
            [FieldError("start", "not an offered window")],
        )
    conn.execute(
        update(Parcel)
        .where(Parcel.id == facts.id)
        .values(appointment_start=start, appointment_end=end, updated_at=now)
    )
    payload = {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "previous": (
            {"start": facts.appointment_start.isoformat(), "end": facts.appointment_end.isoformat()}
            if facts.appointment_start and facts.appointment_end
            else None
        ),
    }
    feedback_id = _store(conn, facts, FeedbackKind.APPOINTMENT, payload, now)
    return Receipt(FeedbackKind.APPOINTMENT, feedback_id, now)


def customer_reports(
    conn: Connection, parcel_id: int, kinds: frozenset[FeedbackKind] | None = None
) -> list[dict[str, Any]]:
    """What the customer reported about a parcel, oldest first: ``[{"kind", "at"}]``.

    ``kinds`` narrows it (e.g. :data:`COMPLAINTS`); all kinds by default.
    """
    query = select(Feedback.kind, Feedback.created_at).where(Feedback.parcel_id == parcel_id)
    if kinds is not None:
        query = query.where(Feedback.kind.in_(kinds))
    rows = conn.execute(query.order_by(Feedback.created_at, Feedback.id))
    return [{"kind": FeedbackKind(r.kind).value, "at": r.created_at} for r in rows]


def current_rating(conn: Connection, parcel_id: int) -> dict[str, Any] | None:
    row = conn.execute(
        select(Rating.packaging, Rating.courier, Rating.speed, Rating.comment, Rating.revision).where(
            Rating.parcel_id == parcel_id
        )
    ).first()
    return dict(row._mapping) if row else None


def history(conn: Connection, parcel_id: int) -> list[dict[str, Any]]:
    """What the verified customer sees of their own reports, newest first."""
    rows = conn.execute(
        select(Feedback.id, Feedback.kind, Feedback.created_at)
        .where(Feedback.parcel_id == parcel_id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
    )
    return [
        {"kind": FeedbackKind(r.kind).value, "at": r.created_at, "reference": f"F{r.id:08d}"} for r in rows
    ]
