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
late           always (the row notes whether the     opens or adds to a
               promise had passed)                   ``complaint`` case
complaint      ``about`` courier_conduct: a courier  opens or adds to a
               scanned it; pickup_point_service: a   ``complaint`` case (late,
               pickup parcel; late, damaged,         damaged, not_received: as
               not_received: as those kinds          those kinds)
rating         delivered or collected                the parcel's one
                                                     ``ratings`` row (updated;
                                                     each version is a row here);
                                                     a score of 1 or 2 opens or
                                                     adds to a ``complaint`` case
appointment    see :func:`tracker.tracking.view.          ``parcels.appointment_*``
               appointment_windows`
=============  ====================================  ==========================

Cases are opened with ``actor="customer"``, naming the courier and facility
of the delivery scan, so fake-delivery detection can weigh a dispute against
that courier. Detection reads reports through :func:`customer_reports`.

Every case a customer opens or adds to owes them an answer: its ``due_at``
is set :class:`AnswerPolicy` hours ahead (shorter for vip customers), and
the verified page shows each report with its case's state and ops' answers
(:func:`history`, :func:`tracker.cases.store.customer_answers`).

A store module: functions run inside the caller's write transaction (the
views of :mod:`tracker.tracking.http` own it; nothing here begins or
commits) and take the parcel's facts read in that same transaction
(:func:`tracker.tracking.store.read_parcel`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from tracker.cases.store import Reason, open_case, owe_answer
from tracker.core.db import upsert
from tracker.core.errors import Conflict, FieldError
from tracker.core.models import Case, Courier, Facility, Feedback, FeedbackKind, Parcel, Rating
from tracker.core.timefmt import iso_local
from tracker.core.vocabulary import (
    CaseState,
    CaseType,
    ComplaintKind,
    CustomerTier,
    FacilityKind,
    ParcelStatus,
)
from tracker.tracking.view import (
    ParcelFacts,
    PickupPoint,
    appointment_refusal,
    appointment_windows,
    failed_station,
    hold_refusal,
    is_late,
)

#: Kinds that are complaints (detection's input; never hidden).
COMPLAINTS = frozenset({FeedbackKind.NOT_RECEIVED, FeedbackKind.DAMAGED, FeedbackKind.LATE})
#: A rating at or below this on any dimension reaches ops as a complaint case.
LOW_SCORE = 2


@dataclass(frozen=True)
class AnswerPolicy:
    """How soon ops owes a complaining customer an answer (``TRACKER_COMPLAINT_ANSWER*``)."""

    normal: timedelta = timedelta(hours=24)
    vip: timedelta = timedelta(hours=4)

    def due(self, tier: str | None, now: datetime) -> datetime:
        return now + (self.vip if tier == CustomerTier.VIP else self.normal)


@dataclass(frozen=True)
class Receipt:
    """What the customer is told back."""

    kind: FeedbackKind
    feedback_id: int
    at: datetime
    case_id: int | None = None
    #: For ratings: 1 for the first, then 2, 3... for updates.
    revision: int | None = None
    #: What the complaint was about (a metric label), when it was one.
    complaint: ComplaintKind | None = None
    #: Cases besides ``case_id`` the submission opened or added to (a low rating's complaint).
    other_cases: tuple[int, ...] = field(default=())

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


def _tier(conn: Connection, parcel_id: int) -> str | None:
    return conn.scalar(select(Parcel.customer_tier).where(Parcel.id == parcel_id))


def _owed(conn: Connection, facts: ParcelFacts, case_id: int, now: datetime, answer: AnswerPolicy) -> None:
    owe_answer(conn, case_id, answer.due(_tier(conn, facts.id), now), now=now)


def _complaint_case(
    conn: Connection,
    facts: ParcelFacts,
    reason: Reason,
    *,
    now: datetime,
    answer: AnswerPolicy,
    courier: str | None = None,
    facility: str | None = None,
) -> int:
    """Open the parcel's ``complaint`` case or add ``reason`` to the live one; it owes an answer."""
    live = conn.execute(
        select(Case.reasons, Case.courier_code, Case.facility_code).where(
            Case.parcel_id == facts.id, Case.type == CaseType.COMPLAINT, Case.state != CaseState.RESOLVED
        )
    ).first()
    reasons = [Reason(r["code"], r["detail"]) for r in (live.reasons if live else [])]
    reasons.append(reason)
    case_id, _ = open_case(
        conn,
        facts.id,
        CaseType.COMPLAINT,
        reasons,
        now=now,
        actor="customer",
        courier=(live.courier_code if live else None) or courier,
        facility=(live.facility_code if live else None) or facility,
    )
    _owed(conn, facts, case_id, now, answer)
    return case_id


def _last_courier(facts: ParcelFacts) -> str | None:
    return next((e.courier_code for e in reversed(facts.events) if e.courier_code), None)


def _delivered(facts: ParcelFacts) -> bool:
    return facts.status is ParcelStatus.DELIVERED and facts.delivery_event() is not None


def report_not_received(
    conn: Connection,
    facts: ParcelFacts,
    *,
    now: datetime,
    comment: str | None = None,
    zone: tzinfo = UTC,
    answer: AnswerPolicy = AnswerPolicy(),
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
    _owed(conn, facts, case_id, now, answer)
    payload = {"comment": comment, "delivery_event_id": delivery.event_id}
    feedback_id = _store(conn, facts, FeedbackKind.NOT_RECEIVED, payload, now, case_id)
    return Receipt(FeedbackKind.NOT_RECEIVED, feedback_id, now, case_id, complaint=ComplaintKind.NOT_RECEIVED)


def report_damaged(
    conn: Connection,
    facts: ParcelFacts,
    *,
    now: datetime,
    description: str,
    photo_sha256: str | None = None,
    answer: AnswerPolicy = AnswerPolicy(),
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
    _owed(conn, facts, case_id, now, answer)
    payload = {"description": description, "photo_sha256": photo_sha256}
    feedback_id = _store(conn, facts, FeedbackKind.DAMAGED, payload, now, case_id)
    return Receipt(FeedbackKind.DAMAGED, feedback_id, now, case_id, complaint=ComplaintKind.DAMAGED)


def report_late(
    conn: Connection,
    facts: ParcelFacts,
    *,
    now: datetime,
    comment: str | None = None,
    answer: AnswerPolicy = AnswerPolicy(),
    zone: tzinfo = UTC,
) -> Receipt:
    """The customer finds the parcel late: a ``complaint`` case; the row notes what the promise said."""
    passed = is_late(facts, now)
    promise = (
        f"promised by {iso_local(facts.promised_by, zone)}, {'passed' if passed else 'not passed yet'}"
        if facts.promised_by
        else "no promise"
    )
    reason = Reason(
        "complaint_late",
        f"the customer finds the parcel late ({promise}; {facts.status.value})"
        + (f": {comment[:300]}" if comment else ""),
    )
    case_id = _complaint_case(conn, facts, reason, now=now, answer=answer, courier=_last_courier(facts))
    payload = {
        "comment": comment,
        "promised_by": facts.promised_by.isoformat() if facts.promised_by else None,
        "promise_passed": passed,
        "status": facts.status.value,
    }
    feedback_id = _store(conn, facts, FeedbackKind.LATE, payload, now, case_id)
    return Receipt(FeedbackKind.LATE, feedback_id, now, case_id, complaint=ComplaintKind.LATE)


def complaint_refusal(facts: ParcelFacts, about: ComplaintKind) -> str | None:
    """Why this parcel cannot take a complaint ``about`` that (a sentence), or None."""
    if about is ComplaintKind.COURIER_CONDUCT and _last_courier(facts) is None:
        return "no courier has handled the parcel yet"
    if about is ComplaintKind.PICKUP_POINT_SERVICE and facts.pickup_point is None:
        return "the parcel does not go to a pickup point"
    return None


def complain(
    conn: Connection,
    facts: ParcelFacts,
    *,
    now: datetime,
    about: ComplaintKind,
    comment: str | None = None,
    answer: AnswerPolicy = AnswerPolicy(),
    zone: tzinfo = UTC,
) -> Receipt:
    """A complaint (投诉) about the courier's conduct or the pickup point's service: a ``complaint`` case.

    ``late``, ``damaged`` and ``not_received`` are the reports of those kinds
    (the caller routes them there), so one concern has one case.
    """
    refusal = complaint_refusal(facts, about)
    if refusal is not None:
        raise Conflict(f"this complaint does not fit the parcel: {refusal}", [FieldError("about", refusal)])
    courier = _last_courier(facts) if about is ComplaintKind.COURIER_CONDUCT else None
    facility = (
        facts.pickup_point.code
        if about is ComplaintKind.PICKUP_POINT_SERVICE and facts.pickup_point
        else None
    )
    who = courier or facility
    reason = Reason(
        f"complaint_{about.value}",
        f"the customer complains about {about.value.replace('_', ' ')} ({who})"
        + (f": {comment[:300]}" if comment else ""),
    )
    case_id = _complaint_case(conn, facts, reason, now=now, answer=answer, courier=courier, facility=facility)
    payload = {"about": about.value, "comment": comment, "courier_id": courier, "facility": facility}
    feedback_id = _store(conn, facts, FeedbackKind.COMPLAINT, payload, now, case_id)
    return Receipt(FeedbackKind.COMPLAINT, feedback_id, now, case_id, complaint=about)


def rate(
    conn: Connection,
    facts: ParcelFacts,
    *,
    now: datetime,
    packaging: int,
    courier: int,
    speed: int,
    comment: str | None = None,
    answer: AnswerPolicy = AnswerPolicy(),
) -> Receipt:
    """Rate a delivered parcel: one rating per parcel, updated in place, every version kept.

    A score of :data:`LOW_SCORE` or less on any dimension reaches ops: a ``low_rating``
    reason on the parcel's ``complaint`` case.
    """
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
    low = {name: score for name, score in (("packaging", packaging), ("courier", courier), ("speed", speed))
           if score <= LOW_SCORE}  # fmt: skip
    case_id = None
    if low:
        reason = Reason(
            "low_rating",
            "the customer rated "
            + ", ".join(f"{name} {score}/5" for name, score in low.items())
            + (f": {comment[:300]}" if comment else ""),
        )
        case_id = _complaint_case(
            conn, facts, reason, now=now, answer=answer,
            courier=delivery.courier_code, facility=delivery.facility_code,
        )  # fmt: skip
    payload = {**scores, "revision": revision}
    feedback_id = _store(conn, facts, FeedbackKind.RATING, payload, now, case_id)
    return Receipt(FeedbackKind.RATING, feedback_id, now, case_id, revision=revision)


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
    # The route planned before this booking was made for another window: its
    # ETA would read "today's route misses your window" until the station
    # plans again, so it goes; the booked window is shown as not yet planned.
    unplanned = (
        {"eta_start": None, "eta_end": None, "eta_source": None} if facts.eta_source == "route" else {}
    )
    conn.execute(
        update(Parcel)
        .where(Parcel.id == facts.id)
        # A window chosen after asking for a hold at a pickup point: the door again.
        .values(appointment_start=start, appointment_end=end, hold_at=None, updated_at=now, **unplanned)
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


def hold_points(conn: Connection, facts: ParcelFacts) -> list[PickupPoint]:
    """The pickup points the parcel may be held at: those of the station its failed attempt went from.

    The station is the failed scan's facility, else its courier's station; its
    pickup points are the facilities of kind ``pickup_point`` whose parent it is.
    Empty when no hold can be asked for (:func:`tracker.tracking.view.hold_refusal`).
    """
    if hold_refusal(facts) is not None:
        return []
    station, courier = failed_station(facts)
    if station is None and courier is not None:
        station = conn.execute(select(Courier.station_code).where(Courier.code == courier)).scalar()
    if station is None:
        return []
    rows = conn.execute(
        select(Facility.code, Facility.name, Facility.address, Facility.opening_hours)
        .where(Facility.kind == FacilityKind.PICKUP_POINT, Facility.parent_code == station)
        .order_by(Facility.name, Facility.code)
    )
    return [PickupPoint(r.code, r.name, r.address, r.opening_hours) for r in rows]


def hold_at_pickup_point(
    conn: Connection, facts: ParcelFacts, facility: str, *, now: datetime
) -> PickupPoint:
    """Store the customer's request to collect the parcel at ``facility`` (one of :func:`hold_points`).

    The chosen window, if any, is dropped: the parcel is no longer going to the door, and
    the station's next plan leaves it out (:func:`tracker.routing.planning.build_day`).
    """
    refusal = hold_refusal(facts)
    if refusal is not None:
        raise Conflict(
            f"this parcel cannot be held at a pickup point ({refusal})", [FieldError("facility", refusal)]
        )
    chosen = next((p for p in hold_points(conn, facts) if p.code == facility), None)
    if chosen is None:
        raise Conflict(
            "that is not one of the pickup points offered; ask the tracking page for the current ones",
            [FieldError("facility", "not an offered pickup point")],
        )
    conn.execute(
        update(Parcel)
        .where(Parcel.id == facts.id)
        .values(hold_at=chosen.code, appointment_start=None, appointment_end=None, updated_at=now)
    )
    return chosen


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
    """What the verified customer sees of their own reports, newest first.

    Each with what became of it: the state of the case it opened or joined (``case_state``:
    open, acknowledged, resolved; None when it opened none) and, for a complaint, its ``about``.
    """
    rows = conn.execute(
        select(
            Feedback.id, Feedback.kind, Feedback.created_at, Feedback.payload, Feedback.case_id, Case.state
        )
        .outerjoin(Case, Case.id == Feedback.case_id)
        .where(Feedback.parcel_id == parcel_id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
    )
    return [
        {
            "kind": FeedbackKind(r.kind).value,
            "at": r.created_at,
            "reference": f"F{r.id:08d}",
            "about": (r.payload or {}).get("about") if r.kind == FeedbackKind.COMPLAINT else None,
            "case_id": r.case_id,
            "case_state": CaseState(r.state).value if r.state is not None else None,
        }
        for r in rows
    ]
