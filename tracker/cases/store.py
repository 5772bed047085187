"""Cases: explainable flags for ops, opened once, closed by what happens next.

A case is a row in ``cases`` and a history in ``case_events``. The rules:

* At most one case per parcel and type is open or acknowledged at a time
  (a partial unique index is the backstop when two sweeps race): opening a
  case that is already open only updates its reasons, and records that.
* The system closes a case when the parcel moves on (a new scan closes
  ``stale``, delivery closes ``at_risk``): :func:`close_case`.
* People acknowledge, assign (to an ops user of the console), answer the
  customer (a message the customer's tracking page shows) and resolve with
  a resolution and a note.
* Nothing deletes a case or an event of its history; customer complaints
  (``customer_dispute``, customer ``damage`` reports) can be resolved, never
  removed or hidden.

Everything here runs inside the caller's transaction; the plain values a
case is made of (:class:`~tracker.cases.reasons.Reason`, the resolutions)
are in :mod:`tracker.cases.reasons`.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, desc, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tracker.cases.reasons import CUSTOMER_COMPLAINTS, RESOLUTIONS, Reason
from tracker.core import metrics
from tracker.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from tracker.core.models import Case, CaseEvent, User
from tracker.core.timefmt import iso_local, localize_text
from tracker.core.vocabulary import CaseState, CaseType, ComplaintKind
from tracker.notify import outbox


def _live(conn: Connection, parcel_id: int, type_: CaseType) -> Any:
    return conn.execute(
        select(Case.id, Case.reasons, Case.score)
        .where(Case.parcel_id == parcel_id, Case.type == type_, Case.state != CaseState.RESOLVED)
        .with_for_update()
    ).first()


def _record(
    conn: Connection, case_id: int, action: str, *, at: datetime, actor: str, note: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    conn.execute(
        insert(CaseEvent).values(case_id=case_id, at=at, action=action, actor=actor, note=note, data=data)
    )
    outbox.enqueue_case_event(conn, case_id, action, at=at, note=note)


def open_case(
    conn: Connection,
    parcel_id: int,
    type_: CaseType,
    reasons: list[Reason],
    *,
    now: datetime,
    actor: str = "system",
    score: float | None = None,
    facility: str | None = None,
    courier: str | None = None,
) -> tuple[int, bool]:
    """Open a case, or update the reasons of the live one; ``(case id, newly opened)``."""
    reason_dicts = [r.to_dict() for r in reasons]
    live = _live(conn, parcel_id, type_)
    if live is None:
        try:
            with conn.begin_nested():
                case_id = conn.scalar(
                    insert(Case)
                    .values(
                        parcel_id=parcel_id,
                        type=type_,
                        state=CaseState.OPEN,
                        reasons=reason_dicts,
                        score=score,
                        facility_code=facility,
                        courier_code=courier,
                        opened_at=now,
                        updated_at=now,
                    )
                    .returning(Case.id)
                )
        except IntegrityError:
            # Another transaction opened it between our look and our insert.
            live = _live(conn, parcel_id, type_)
            if live is None:
                raise
        else:
            assert case_id is not None
            _record(
                conn, case_id, "opened", at=now, actor=actor, data={"reasons": reason_dicts, "score": score}
            )
            metrics.CASES_OPENED.labels(type_.value).inc()
            return case_id, True
    if live.reasons != reason_dicts or live.score != score:
        conn.execute(
            update(Case).where(Case.id == live.id).values(reasons=reason_dicts, score=score, updated_at=now)
        )
        _record(conn, live.id, "updated", at=now, actor=actor, data={"reasons": reason_dicts, "score": score})
    return live.id, False


def close_case(conn: Connection, parcel_id: int, type_: CaseType, *, now: datetime, why: str) -> bool:
    """The system closes the live case of this type, if any (the parcel moved on)."""
    live = _live(conn, parcel_id, type_)
    if live is None:
        return False
    if type_ in CUSTOMER_COMPLAINTS or _customer_spoke(conn, live.id):
        return False  # a customer's complaint is closed by a person, never by the system
    conn.execute(
        update(Case)
        .where(Case.id == live.id)
        .values(state=CaseState.RESOLVED, resolution="closed_by_system", closed_at=now, updated_at=now)
    )
    _record(conn, live.id, "closed", at=now, actor="system", note=why)
    return True


def _customer_spoke(conn: Connection, case_id: int) -> bool:
    """Has a customer added to this case (a damage report on a damage case, say)?"""
    return (
        conn.scalar(
            select(CaseEvent.id).where(CaseEvent.case_id == case_id, CaseEvent.actor == "customer").limit(1)
        )
        is not None
    )


def _case_for_update(conn: Connection, case_id: int) -> Any:
    row = conn.execute(select(Case.id, Case.state).where(Case.id == case_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no case {case_id}")
    return row


def acknowledge(
    conn: Connection, case_id: int, *, now: datetime, actor: str, note: str | None = None
) -> None:
    row = _case_for_update(conn, case_id)
    if row.state != CaseState.OPEN:
        raise Conflict(f"case {case_id} is {row.state}, only an open case can be acknowledged")
    conn.execute(update(Case).where(Case.id == case_id).values(state=CaseState.ACKNOWLEDGED, updated_at=now))
    _record(conn, case_id, "acknowledged", at=now, actor=actor, note=note)


def resolve(
    conn: Connection, case_id: int, resolution: str, *, now: datetime, actor: str, note: str | None = None
) -> None:
    if resolution not in RESOLUTIONS:
        raise ValidationFailed(
            "unknown resolution",
            [FieldError("resolution", f"must be one of {', '.join(sorted(RESOLUTIONS))}")],
        )
    row = _case_for_update(conn, case_id)
    if row.state == CaseState.RESOLVED:
        raise Conflict(f"case {case_id} is already resolved")
    conn.execute(
        update(Case)
        .where(Case.id == case_id)
        .values(state=CaseState.RESOLVED, resolution=resolution, closed_at=now, updated_at=now)
    )
    _record(conn, case_id, "resolved", at=now, actor=actor, note=note, data={"resolution": resolution})


def assign(
    conn: Connection, case_id: int, *, assignee: str, now: datetime, actor: str, note: str | None = None
) -> None:
    """Give a live case to an ops user of the console (``users.username``, not disabled)."""
    user = conn.execute(select(User.id, User.disabled_at).where(User.username == assignee)).first()
    if user is None or user.disabled_at is not None:
        raise ValidationFailed(
            "cannot assign the case", [FieldError("assignee", f"no active console user {assignee!r}")]
        )
    row = _case_for_update(conn, case_id)
    if row.state == CaseState.RESOLVED:
        raise Conflict(f"case {case_id} is resolved, a resolved case is not assigned")
    conn.execute(update(Case).where(Case.id == case_id).values(assignee=assignee, updated_at=now))
    _record(conn, case_id, "assigned", at=now, actor=actor, note=note, data={"assignee": assignee})


#: The history action of a message to the customer (:func:`answer_case`, :func:`customer_answers`).
ANSWERED = "answered"


def answer_case(conn: Connection, case_id: int, *, message: str, actor: str, now: datetime) -> None:
    """Answer the customer: ``message`` is for the customer to read on the verified tracking page.

    Any case may be answered, a resolved one too (the customer may need to hear
    how it ended). The message is the history row's ``note``; it is never edited,
    a correction is a new answer.
    """
    _case_for_update(conn, case_id)
    conn.execute(update(Case).where(Case.id == case_id).values(updated_at=now))
    _record(conn, case_id, ANSWERED, at=now, actor=actor, note=message)
    observe_answer(conn, case_id, at=now)


def customer_answers(conn: Connection, parcel_id: int) -> list[dict[str, Any]]:
    """Ops' answers to the customer over every case of the parcel, newest first.

    ``[{"case_id", "case_type", "at" (aware UTC), "message"}]``; who answered is
    not given: the customer hears from the company, not from a named user.
    """
    rows = conn.execute(
        select(CaseEvent.case_id, Case.type, CaseEvent.at, CaseEvent.note)
        .join(Case, Case.id == CaseEvent.case_id)
        .where(Case.parcel_id == parcel_id, CaseEvent.action == ANSWERED)
        .order_by(desc(CaseEvent.at), desc(CaseEvent.id))
    )
    return [{"case_id": r.case_id, "case_type": r.type, "at": r.at, "message": r.note} for r in rows]


def owe_answer(conn: Connection, case_id: int, due: datetime, *, now: datetime) -> None:
    """The customer is owed an answer by ``due``: the case's ``due_at`` becomes the earlier of the two.

    A due time already past (answered or not) is replaced: the new complaint sets the clock.
    """
    current = conn.scalar(select(Case.due_at).where(Case.id == case_id))
    if current is None or current <= now or due < current:
        conn.execute(update(Case).where(Case.id == case_id).values(due_at=due))


#: What a customer's case is a complaint about (the ``kind`` label of the answer-time metric).
_CASE_COMPLAINT = {CaseType.CUSTOMER_DISPUTE: "not_received", CaseType.DAMAGE: "damaged"}


def complaint_kind(case_type: CaseType, reasons: list[dict[str, Any]]) -> str | None:
    """The complaint a customer's case answers (a :class:`~tracker.core.vocabulary.ComplaintKind`
    value, or ``rating`` for a low rating); None for a case no customer opened."""
    if case_type in _CASE_COMPLAINT:
        return _CASE_COMPLAINT[case_type]
    if case_type is not CaseType.COMPLAINT or not reasons:
        return None
    code = str(reasons[0].get("code", ""))
    kind = code.removeprefix("complaint_")
    if kind in {k.value for k in ComplaintKind}:
        return kind
    return "rating" if code == "low_rating" else None


def observe_answer(conn: Connection, case_id: int, *, at: datetime) -> float | None:
    """Count the time to ops' first answer on a customer's case in ``tracker_complaint_answer_seconds``.

    Call it in the transaction that records an ``answered`` step (after recording it): only the
    first answer of a case counts. Answers the seconds observed, or None.
    """
    row = conn.execute(select(Case.type, Case.reasons, Case.opened_at).where(Case.id == case_id)).first()
    if row is None:
        return None
    kind = complaint_kind(CaseType(row.type), row.reasons)
    answers = conn.scalar(
        select(func.count())
        .select_from(CaseEvent)
        .where(CaseEvent.case_id == case_id, CaseEvent.action == ANSWERED)
    )
    if kind is None or (answers or 0) > 1:
        return None
    seconds = max(0.0, (at - row.opened_at).total_seconds())
    metrics.COMPLAINT_ANSWER_SECONDS.labels(kind).observe(seconds)
    return seconds


def history(conn: Connection, case_id: int, *, zone: tzinfo) -> list[dict[str, Any]]:
    """The case's events, oldest first, times written in ``zone`` (those inside reasons too)."""
    rows = conn.execute(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at, CaseEvent.id)
    )
    return [
        {
            "at": iso_local(r.at, zone),
            "action": r.action,
            "actor": r.actor,
            "note": r.note,
            "data": _local_data(r.data, zone),
        }
        for r in rows
    ]


def local_reasons(reasons: list[dict[str, Any]], zone: tzinfo) -> list[dict[str, Any]]:
    """Stored reasons (instants in UTC, :mod:`tracker.core.timefmt`) as answers show them: local."""
    return [{**r, "detail": localize_text(r["detail"], zone)} for r in reasons]


def _local_data(data: dict[str, Any] | None, zone: tzinfo) -> dict[str, Any] | None:
    if data is None or not isinstance(data.get("reasons"), list):
        return data
    return {**data, "reasons": local_reasons(data["reasons"], zone)}
