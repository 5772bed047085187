"""The customer's view of a parcel: what the tracking page and its JSON show.

A pure module (plain data in, plain data out, ``now`` passed in; no Flask,
no SQLAlchemy). Two steps, so that the rules are testable without a database:

1. :func:`tracker.tracking.store.read_parcel` loads the facts (the parcel
   row, its events as :class:`TrackedEvent` with their facilities' names, the
   pickup point) into a :class:`ParcelFacts`, in a transaction of the caller's.
2. :func:`public_view` (here) turns the facts into a :class:`PublicView` at
   ``now``: a headline code, the progress line, the timeline newest first,
   promise, ETA, appointment, pickup details, and the recipient masked by
   :mod:`tracker.tracking.masking` (the street address only when ``verified``).

The view holds codes and aware datetimes, never words: :mod:`tracker.tracking.i18n`
puts them into the customer's language and time zone, and
:func:`tracker.tracking.schemas.view_to_dict` into the JSON answer.

After a failed attempt (:func:`hold_refusal`) the verified customer may
also ask for the parcel to be held at one of the station's pickup points.

Delivery appointments are offered here too (:func:`appointment_windows`):
2-hour windows from 09:00 to 21:00 local time on three consecutive days,
starting today or, for the ``211`` and ``next_day`` levels, on the day of
the promise if that is later, and never before the day the parcel is
expected (its ETA); only windows starting at least an hour from now, and
only while the parcel has not left for its last mile.

The ETA (:func:`shown_eta`) is what the sweep or a route plan stored, read
as a day (and part of it) in transit, a window of at most 2 hours on a
planned route, or the customer's booked window with whether the courier's route
keeps it; :func:`delay` says when the customer must be told the promise may
be missed, with the day now expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

from tracker.core.vocabulary import EventType, ParcelStatus, ScanReason, canonical_reason
from tracker.scans import timeline
from tracker.sla import held_to
from tracker.sla.eta_shown import DEFAULT_HOURS, DeliveryHours, describe_day, keeps_appointment
from tracker.tracking import masking

#: Reason codes a customer may read: every documented code (free text of older scans is
#: shown as a plain "failed"; an old spelling is shown as its code, see ``REASON_ALIASES``).
PUBLIC_REASONS = frozenset(ScanReason)
#: Who took the parcel at the door, as proofs of delivery name it.
PUBLIC_RELATIONS = frozenset({"self", "family", "colleague", "reception", "locker", "neighbour"})

DOOR_STEPS = ("received", "in_transit", "out_for_delivery", "delivered")
PICKUP_STEPS = ("received", "in_transit", "ready_for_pickup", "collected")

#: How far along the progress line an event type takes a parcel (door path).
_DOOR_STEP = {
    EventType.CREATED: 0,
    EventType.PICKED_UP: 1,
    EventType.OUTBOUND: 1,
    EventType.ARRIVED: 1,
    EventType.DEPARTED: 1,
    EventType.OUT_FOR_DELIVERY: 2,
    EventType.DELIVERY_FAILED: 2,
    EventType.READY_FOR_PICKUP: 2,
    EventType.DELIVERED: 3,
    EventType.COLLECTED: 3,
}
#: On the pickup path a van driving to the pickup point is still "in transit".
_PICKUP_STEP = {**_DOOR_STEP, EventType.OUT_FOR_DELIVERY: 1, EventType.DELIVERY_FAILED: 1}

APPOINTMENT_FIRST_HOUR = 9
APPOINTMENT_LAST_HOUR = 21
APPOINTMENT_LENGTH = timedelta(hours=2)
APPOINTMENT_DAYS = 3
APPOINTMENT_LEAD = timedelta(hours=1)
#: Levels whose appointments start no earlier than the promised day.
PROMISE_DAY_LEVELS = frozenset({"211", "next_day"})
#: A window can be chosen until the parcel leaves for its last mile.
BOOKABLE_STATUSES = frozenset(
    {ParcelStatus.INFO_RECEIVED, ParcelStatus.IN_TRANSIT, ParcelStatus.FAILED_ATTEMPT}
)


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    """One scan of the parcel as the public view reads it (not a detection or timeline record)."""

    event_id: str
    type: EventType
    occurred_at: datetime
    received_at: datetime
    facility_code: str | None
    facility_name: str | None
    courier_code: str | None
    reason: str | None
    relation: str | None

    def key(self) -> timeline.EventKey:
        return timeline.event_key(timeline.TimelineEvent(self.event_id, self.type, self.occurred_at))


@dataclass(frozen=True, slots=True)
class PickupPoint:
    code: str
    name: str
    address: str | None
    opening_hours: str | None


@dataclass(frozen=True)
class ParcelFacts:
    """What the customer's view is built from: plain values, no session."""

    id: int
    tracking_number: str
    registered: bool
    status: ParcelStatus
    service_level: str | None
    recipient_name: str | None
    recipient_phone: str | None
    dest_city: str | None
    dest_district: str | None
    dest_address: str | None
    pickup_point: PickupPoint | None
    promised_by: datetime | None
    eta_start: datetime | None
    eta_end: datetime | None
    appointment_start: datetime | None
    appointment_end: datetime | None
    delivered_at: datetime | None
    ready_for_pickup_at: datetime | None
    updated_at: datetime
    #: In the total order of :func:`tracker.scans.timeline.event_key`, oldest first.
    events: tuple[TrackedEvent, ...] = ()
    #: ``route`` (a courier's plan), ``stages`` (the sweep's estimate) or None.
    eta_source: str | None = None
    #: An ``at_risk`` case is open on the parcel.
    at_risk_case: bool = False
    #: The pickup code (取件码): only ever shown in a verified view.
    pickup_code: str | None = None
    #: After a failed attempt, the pickup point the customer asked to collect it at.
    hold_at: PickupPoint | None = None

    @property
    def last_modified(self) -> datetime:
        return max([self.updated_at, *(e.received_at for e in self.events)])

    def delivery_event(self) -> TrackedEvent | None:
        """The latest delivered/collected event, if the parcel shows one."""
        done = [e for e in self.events if e.type in timeline.DELIVERY_TYPES]
        return done[-1] if done else None


@dataclass(frozen=True, slots=True)
class Step:
    key: str
    #: done, current, problem (the current step went wrong), todo
    state: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class PublicEvent:
    type: EventType
    at: datetime
    place: str | None
    reason: str | None = None
    relation: str | None = None


@dataclass(frozen=True, slots=True)
class PickupView:
    name: str
    address: str | None
    opening_hours: str | None
    held_until: datetime | None


@dataclass(frozen=True, slots=True)
class ShownEta:
    """What the customer is told about when the parcel comes.

    ``kind``: ``day`` (in transit: a local day, ``part`` of it when known),
    ``window`` (on a courier's planned route: at most 2 hours) or
    ``appointment`` (the customer's booked window; ``plan`` says whether
    the courier's route keeps it: ``keeps``, ``misses`` or ``not_planned``, with the
    route's own window in ``planned``, and in ``route_day`` the route's day when
    it is not today: a plan made in the evening is tomorrow's, not "today's").
    """

    kind: str
    start: datetime
    end: datetime
    day: date
    part: str | None = None
    plan: str | None = None
    planned: tuple[datetime, datetime] | None = None
    route_day: date | None = None


@dataclass(frozen=True, slots=True)
class Delay:
    """The parcel may miss (or has missed) its promise: ``because`` the promise
    has passed (``late``), an at-risk case is open (``at_risk``) or the estimate
    falls after the promised day (``estimate``); ``expected`` is the day now
    expected (None while there is no estimate)."""

    because: str
    expected: date | None


@dataclass(frozen=True)
class PublicView:
    tracking_number: str
    status: ParcelStatus
    #: The headline's code: a status, or ``collected`` / ``ready_for_pickup``.
    headline: str
    path: str
    steps: tuple[Step, ...]
    #: Newest first.
    events: tuple[PublicEvent, ...]
    promised_by: datetime | None
    eta: ShownEta | None
    appointment: tuple[datetime, datetime] | None
    pickup: PickupView | None
    late: bool
    recipient_name: str | None
    recipient_phone: str | None
    area: str | None
    #: The street address: only in a verified view.
    address: str | None
    verified: bool
    delivered: bool
    last_modified: datetime
    appointment_windows: tuple[tuple[datetime, datetime], ...] = field(default=())
    delay: Delay | None = None
    #: Only in a verified view, while the parcel waits at its pickup point.
    pickup_code: str | None = None
    #: Only in a verified view: after a failed attempt, choose a window or a pickup point.
    next_steps: bool = False
    #: Only in a verified view: the pickup point the customer asked to hold it at (code and name).
    hold_at: PickupPoint | None = None


def public_view(
    facts: ParcelFacts,
    *,
    now: datetime,
    hold: timedelta,
    tz: ZoneInfo,
    verified: bool = False,
    hours: DeliveryHours = DEFAULT_HOURS,
) -> PublicView:
    """The customer's view at ``now``; the street address only when ``verified``."""
    pickup_path = facts.pickup_point is not None or any(
        e.type is EventType.READY_FOR_PICKUP for e in facts.events
    )
    delivered = facts.status is ParcelStatus.DELIVERED
    eta = shown_eta(facts, now=now, tz=tz, hours=hours)
    return PublicView(
        tracking_number=facts.tracking_number,
        status=facts.status,
        headline=headline(facts),
        path="pickup" if pickup_path else "door",
        steps=progress(facts, pickup_path=pickup_path),
        events=tuple(_public_event(e, facts) for e in reversed(facts.events)),
        promised_by=facts.promised_by,
        eta=eta,
        appointment=(
            (facts.appointment_start, facts.appointment_end)
            if facts.appointment_start and facts.appointment_end
            else None
        ),
        pickup=_pickup_view(facts, hold, tz) if facts.pickup_point else None,
        late=is_late(facts, now),
        recipient_name=masking.mask_name(facts.recipient_name),
        recipient_phone=masking.mask_phone(facts.recipient_phone, verified=verified),
        area=masking.public_area(facts.dest_city, facts.dest_district),
        address=facts.dest_address if verified else None,
        verified=verified,
        delivered=delivered,
        last_modified=facts.last_modified,
        appointment_windows=tuple(appointment_windows(facts, now=now, tz=tz)) if verified else (),
        delay=delay(facts, eta, now=now, tz=tz),
        pickup_code=(
            facts.pickup_code if verified and facts.status is ParcelStatus.AVAILABLE_FOR_PICKUP else None
        ),
        next_steps=verified and hold_refusal(facts) is None,
        hold_at=facts.hold_at if verified else None,
    )


def shown_eta(
    facts: ParcelFacts, *, now: datetime, tz: ZoneInfo, hours: DeliveryHours = DEFAULT_HOURS
) -> ShownEta | None:
    """The ETA as the customer reads it (see :class:`ShownEta`); None when there is none to give.

    A stored estimate that has ended (the sweep has not been by since) is not
    shown: never an ETA in the past.
    """
    if facts.status in (ParcelStatus.DELIVERED, ParcelStatus.RETURNED, ParcelStatus.AVAILABLE_FOR_PICKUP):
        return None
    stored = (
        (facts.eta_start, facts.eta_end)
        if facts.eta_start and facts.eta_end and facts.eta_end > now
        else None
    )
    route = stored if stored and facts.eta_source == "route" else None
    if route is not None:
        route = _within_hours(route, tz, hours)
    if facts.appointment_start and facts.appointment_end and facts.appointment_end > now:
        booked = (facts.appointment_start, facts.appointment_end)
        plan = "not_planned" if route is None else "keeps" if keeps_appointment(route, booked) else "misses"
        route_day = route[0].astimezone(tz).date() if route is not None else None
        return ShownEta(
            "appointment",
            *booked,
            booked[0].astimezone(tz).date(),
            plan=plan,
            planned=route,
            route_day=route_day if route_day != now.astimezone(tz).date() else None,
        )
    if route is not None:
        return ShownEta("window", *route, route[0].astimezone(tz).date())
    if stored is None:
        return None
    day = describe_day(*stored, tz=tz, hours=hours)
    return ShownEta("day", day.start, day.end, day.day, part=day.part)


def _within_hours(
    window: tuple[datetime, datetime], tz: ZoneInfo, hours: DeliveryHours
) -> tuple[datetime, datetime]:
    opens, closes = hours.bounds(window[0].astimezone(tz).date(), tz)
    start, end = max(window[0], opens), min(window[1], closes)
    return (start, end) if start < end else window


def delay(facts: ParcelFacts, eta: ShownEta | None, *, now: datetime, tz: ZoneInfo) -> Delay | None:
    """Whether to tell the customer the promise may be missed, and the day now expected."""
    # A later window the customer chose moves what they were promised (tracker.sla.held_to).
    promised = held_to(facts.promised_by, facts.appointment_end)
    if facts.status in (ParcelStatus.DELIVERED, ParcelStatus.RETURNED) or promised is None:
        return None
    if facts.status is ParcelStatus.AVAILABLE_FOR_PICKUP:
        return None
    expected = None
    starts = None
    if eta is not None:
        starts = eta.planned[0] if eta.kind == "appointment" and eta.planned else eta.start
        expected = starts.astimezone(tz).date()
    promised_day = promised.astimezone(tz).date()
    if now > promised:
        return Delay("late", expected)
    if facts.at_risk_case:
        # The case may come from ops while the estimate shown still fits the
        # promise: "may be later than promised, now expected on <the promised
        # day or before>" would contradict itself, so a day is named only when
        # the estimate falls on a later one.
        return Delay("at_risk", expected if expected is not None and expected > promised_day else None)
    if expected is not None and expected > promised_day:
        return Delay("estimate", expected)
    return None


def headline(facts: ParcelFacts) -> str:
    if facts.status is ParcelStatus.DELIVERED:
        last = facts.delivery_event()
        return "collected" if last is not None and last.type is EventType.COLLECTED else "delivered"
    if facts.status is ParcelStatus.AVAILABLE_FOR_PICKUP:
        return "ready_for_pickup"
    return facts.status.value


def progress(facts: ParcelFacts, *, pickup_path: bool) -> tuple[Step, ...]:
    """The progress line: each step done, current, problem or to do, with when it was reached."""
    keys = PICKUP_STEPS if pickup_path else DOOR_STEPS
    step_of = _PICKUP_STEP if pickup_path else _DOOR_STEP
    reached_at: dict[int, datetime] = {}
    reached = 0
    for e in facts.events:
        index = step_of.get(e.type)
        if index is not None:
            reached_at.setdefault(index, e.occurred_at)
            # The latest event decides: back at the station after a failed
            # attempt is "in transit" again, not "out for delivery".
            reached = index
    if facts.status is ParcelStatus.DELIVERED:
        # Delivery is final: a later stray scan does not move the line back.
        reached = len(keys) - 1
    trouble = facts.status in (ParcelStatus.EXCEPTION, ParcelStatus.RETURNED, ParcelStatus.FAILED_ATTEMPT)
    steps = []
    for index, key in enumerate(keys):
        if index < reached or (index == reached == len(keys) - 1):
            state = "done"
        elif index == reached:
            state = "problem" if trouble else "current"
        else:
            state = "todo"
        steps.append(Step(key, state, reached_at.get(index) if state != "todo" else None))
    return tuple(steps)


def is_late(facts: ParcelFacts, now: datetime) -> bool:
    """Past the promise (or a later window the customer chose) and not delivered, or delivered after it."""
    promised = held_to(facts.promised_by, facts.appointment_end)
    if promised is None:
        return False
    met = facts.delivered_at if facts.status is ParcelStatus.DELIVERED else None
    if met is None and facts.status is ParcelStatus.AVAILABLE_FOR_PICKUP:
        met = facts.ready_for_pickup_at
    return (met or now) > promised


def held_until(
    ready_at: datetime | None, hold: timedelta, opening_hours: str | None = None, tz: tzinfo = UTC
) -> datetime | None:
    """Until when the point keeps the parcel: ``hold`` after it was made ready, while the point is open.

    A hold that ends while the point is closed (08:31, the point opens at 09:00)
    ends for the customer at the closing time before it: "collect by Saturday
    08:31" would send them to a shut door. Hours other than one daily
    ``HH:MM-HH:MM`` (free text, past midnight) leave the hold as it is.
    """
    if ready_at is None:
        return None
    end = ready_at + hold
    hours = daily_hours(opening_hours)
    if hours is None:
        return end
    opens, closes = hours
    local = end.astimezone(tz)
    if opens <= local.time() <= closes:
        return end
    day = local.date() - timedelta(days=1) if local.time() < opens else local.date()
    return datetime.combine(day, closes, tzinfo=tz).astimezone(UTC)


#: One daily opening, "09:00-21:00" (a hyphen, an en dash, a tilde or 至 between).
_DAILY_HOURS = re.compile(r"\s*(\d{1,2}):(\d{2})\s*[-\u2013~\u81f3]\s*(\d{1,2}):(\d{2})\s*")


@lru_cache(maxsize=256)  # on the tracking read's path: a network has few distinct hours
def daily_hours(text: str | None) -> tuple[time, time] | None:
    """``(opens, closes)`` of a point open the same hours every day, else None."""
    found = _DAILY_HOURS.fullmatch(text or "")
    if found is None:
        return None
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60) or (h2, m2) <= (h1, m1):
        return None
    return time(h1, m1), time(h2, m2)


def _pickup_view(facts: ParcelFacts, hold: timedelta, tz: ZoneInfo) -> PickupView:
    point = facts.pickup_point
    assert point is not None
    waiting = facts.status is ParcelStatus.AVAILABLE_FOR_PICKUP
    return PickupView(
        name=point.name,
        address=point.address,
        opening_hours=point.opening_hours,
        held_until=held_until(facts.ready_for_pickup_at, hold, point.opening_hours, tz) if waiting else None,
    )


def _public_event(e: TrackedEvent, facts: ParcelFacts) -> PublicEvent:
    place = e.facility_name
    if place is None and e.type in (
        EventType.OUT_FOR_DELIVERY,
        EventType.DELIVERY_FAILED,
        EventType.DELIVERED,
    ):
        # A courier's scan at the door names no facility: say where, coarsely.
        place = masking.public_area(facts.dest_city, facts.dest_district)
    return PublicEvent(
        type=e.type,
        at=e.occurred_at,
        place=place,
        reason=_public_reason(e.reason),
        relation=e.relation if e.type is EventType.DELIVERED and e.relation in PUBLIC_RELATIONS else None,
    )


def _public_reason(reason: str | None) -> str | None:
    code = canonical_reason(reason)
    return str(code) if code in PUBLIC_REASONS else None


def appointment_refusal(facts: ParcelFacts) -> str | None:
    """Why no window can be chosen for this parcel (a code), or None."""
    if not facts.registered:
        return "not_registered"
    if facts.pickup_point is not None:
        return "pickup_parcel"
    if facts.status not in BOOKABLE_STATUSES:
        return f"status_{facts.status.value}"
    return None


def hold_refusal(facts: ParcelFacts) -> str | None:
    """Why the customer cannot ask to collect this parcel at a pickup point (a code), or None.

    Offered after a failed delivery attempt, while the parcel is back at its station.
    """
    if not facts.registered:
        return "not_registered"
    if facts.pickup_point is not None:
        return "pickup_parcel"
    if facts.status is not ParcelStatus.FAILED_ATTEMPT:
        return f"status_{facts.status.value}"
    return None


def failed_station(facts: ParcelFacts) -> tuple[str | None, str | None]:
    """(facility, courier) of the latest failed attempt: where the parcel went back to."""
    for e in reversed(facts.events):
        if e.type is EventType.DELIVERY_FAILED:
            return e.facility_code, e.courier_code
    return None, None


def appointment_windows(
    facts: ParcelFacts, *, now: datetime, tz: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """The delivery windows a customer may choose now (UTC), earliest first."""
    if appointment_refusal(facts) is not None:
        return []
    first = now.astimezone(tz).date()
    if facts.service_level in PROMISE_DAY_LEVELS and facts.promised_by is not None:
        first = max(first, facts.promised_by.astimezone(tz).date())
    if facts.eta_start is not None and facts.eta_end is not None and facts.eta_end > now:
        # No window before the day the parcel is expected: it could not be kept.
        first = max(first, facts.eta_start.astimezone(tz).date())
    windows = []
    for offset in range(APPOINTMENT_DAYS):
        day = first + timedelta(days=offset)
        for start in _slot_starts(day, tz):
            if start >= now + APPOINTMENT_LEAD:
                windows.append((start.astimezone(UTC), (start + APPOINTMENT_LENGTH).astimezone(UTC)))
    return windows


def _slot_starts(day: date, tz: ZoneInfo) -> list[datetime]:
    hours = range(
        APPOINTMENT_FIRST_HOUR, APPOINTMENT_LAST_HOUR, int(APPOINTMENT_LENGTH.total_seconds() // 3600)
    )
    return [datetime.combine(day, time(hour), tzinfo=tz) for hour in hours]
