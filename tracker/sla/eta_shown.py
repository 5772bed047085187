"""The ETA a customer is shown: learned from the network, shaped for people (pure).

Two halves, both plain values in and out, ``now`` passed in:

**Learning.** :class:`DeliveryHistory` holds, for parcels delivered recently,
how long each took from a position in the network to its delivery: one
:class:`Passage` per scan (say "arrived at SC-SH-01, 14:05, level
next_day: delivered 19.2 h later"). The sweep's store reads them
(:func:`tracker.sweep.store.delivery_history`); nothing here touches a database.

**Estimating** (:func:`estimate_delivery`). A parcel whose last scan put it
at position P at ``t0`` and that has been silent for ``elapsed = now - t0``
is compared with the parcels of the history that were at P and were still
there, silent, after ``elapsed`` (no next scan yet: conditional remaining
time; a parcel that sat 46 h at a sorting centre is compared with the few
that sat that long, not with the typical one, and a parcel that missed its
usual departure with the parcels that wait for a later one). Their delivery moments, moved onto the
parcel's own ``t0``, are the estimate's sample. Positions, most specific
first, until one has :data:`MIN_SAMPLES` such parcels::

    (scan type, facility, destination city, service level, time of day)
                                   e.g. arrived@SC-SH-01 for 上海, next_day, 14:05 ± 1.5 h
    (scan type, facility, destination city, time of day)   the leg it is on
    (scan type, facility, time of day)
    (status, destination city, time of day)
    (status, time of day)
    the same five without the time of day

except that the two keys of the leg (facility and destination) are tried
in all three ways (below) before any key that pools legs
(:func:`search_order`), and then the leg's parcels still on their way too
(:func:`_leg_in_flight`): a far city's parcels, pooled with a warehouse's
near ones, would be shown the near ones' day. Before the leg's parcels at
any time of day, a parcel at a delivery station goes out with the station's
next round (:func:`_next_round`, from its route plans), and any other is
followed hop by hop through the network (:func:`_follow`) to a position
whose parcels at that hour tell its day. A far city none of whose parcels
has got there yet is followed to its own sorting centre (:func:`_inbound`),
and at a facility in the parcel's destination city, after that facility's
own parcels, every city's own facilities of its kind come before the status
of every parcel in transit (:func:`_home_key`): from its own sorting centre
on, a far city's parcel goes to the door like a near city's.

The time of day matters because a network runs on a timetable (line-hauls
leave at set times, couriers' rounds at 08:00 and 14:00): a parcel arriving
at 07:50 is delivered today, one arriving at 08:10 perhaps tomorrow. So at
the time of day the comparison is on the clock (:func:`_on_the_clock`): the
parcels scanned within :data:`TIME_OF_DAY_SPAN` before this one (or after
it but before ``now``) that were still waiting at this parcel's ``now``;
then those scanned up to :data:`WAITING_SPAN` before it and still waiting
(a parcel off a late truck, at an hour when none usually comes, waits for
the same next departure as those that missed one); then, without the time
of day, every parcel as long silent.

A silent parcel is *overdue* once :data:`OVERDUE_QUANTILE` of the parcels it
was compared with had their next scan (``DeliveryEstimate.overdue_at``); the
sweep estimates it again then, so a departure running hours late shows the
new day within the hour.

Fallbacks, documented because they are what a new network shows:

* *stalled*: no position has enough parcels that stayed as long as this one.
  The parcel is treated as if it moved on now: the sample is ``now + d`` over
  every duration ``d`` of its best position (so never an ETA in the past and
  never "a few hours" for a parcel stuck 46 h whose onward journey takes a
  day), and the estimate is marked ``stalled``.
* *no history* at all for the status: the stage quartiles of
  :mod:`tracker.sla.eta` (defaults while fewer than 20 deliveries are known)
  give three moments (low, median, high).

**Shaping** (:func:`shape_day`, :func:`route_window`). Delivery happens within
:class:`DeliveryHours` (08:00-21:00 by default, ``TRACKER_DELIVERY_HOURS``): a
moment outside them moves to the next opening. In transit the customer sees
the local *day* that most of the sample falls on, and the part of it
(morning before 12:00, afternoon before 18:00, evening) when
:data:`PART_SHARE` of that day's sample lies in one part. On a planned route
the window is the planned service start from :data:`ROUTE_BEFORE` before to
:data:`ROUTE_AFTER` after, widened outward to :data:`ROUND_TO` (15 minutes),
so never wider than 2 hours, and kept inside the delivery hours. Nothing is
shown to the minute, and each stage narrows what the last showed: a day
(13 h), a part of it (4-6 h), a window (at most 2 h).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from tracker.core.geo import Point, haversine_m
from tracker.sla.eta import StageEstimate, eta_window

#: Parcels a position needs before its sample is trusted.
MIN_SAMPLES: Final = 12
#: How close in time of day a history parcel must have been at the position.
TIME_OF_DAY_SPAN: Final = timedelta(minutes=90)
#: A position learns from scans older than this quantile of its durations (see ``from_passages``).
COMPLETE_QUANTILE: Final = 0.95
#: The share of compared parcels that had their next scan by when a silent parcel is overdue:
#: the estimate made from them all no longer describes it (see ``DeliveryEstimate.overdue_at``).
OVERDUE_QUANTILE: Final = 0.5
#: When a parcel whose day cannot be told yet (basis ``unknown``) is estimated again.
UNKNOWN_RECHECK: Final = timedelta(hours=3)
#: Moments an estimate from a leg's parcels in flight is summarised by (quantiles of its distribution).
IN_FLIGHT_MOMENTS: Final = 40
#: Parcels a leg needs that went on from it (to the next facility) before its path is followed.
HOP_SAMPLES: Final = 5
#: How many hops a parcel's path is followed at most.
MAX_HOPS: Final = 8
#: The quantile of the stays before a departure that is taken as the shortest (see ``_timetable``).
STAY_QUANTILE: Final = 0.01
#: How long after its station's round a parcel not out with it is overdue (left out of the round).
ROUND_GRACE: Final = timedelta(minutes=30)
#: Share of the day's sample one part must hold to be named.
PART_SHARE: Final = 0.8
#: The route window around the planned start of service, before rounding outward.
ROUTE_BEFORE: Final = timedelta(minutes=30)
ROUTE_AFTER: Final = timedelta(minutes=60)
ROUND_TO: Final = timedelta(minutes=15)
#: The longest window a planned route may show.
ROUTE_MAX: Final = timedelta(hours=2)
#: Where a part of the day ends (local); the last part ends when delivery hours do.
NOON: Final = time(12, 0)
SIX_PM: Final = time(18, 0)
PARTS: Final = ("morning", "afternoon", "evening")

_DAY = 86400.0


@dataclass(frozen=True, slots=True)
class DeliveryHours:
    """When couriers deliver, local time (``TRACKER_DELIVERY_HOURS``, ``08:00-21:00``)."""

    opens: time = time(8, 0)
    closes: time = time(21, 0)

    def __post_init__(self) -> None:
        if not self.opens < self.closes:
            raise ValueError("delivery hours must open before they close")

    @classmethod
    def parse(cls, raw: str) -> DeliveryHours:
        """``08:00-21:00``; a ValueError says what is wrong."""
        try:
            first, second = (part.strip() for part in raw.split("-"))
            return cls(time.fromisoformat(first), time.fromisoformat(second))
        except ValueError as exc:
            raise ValueError(f"expected HH:MM-HH:MM with the first before the second ({exc})") from None

    def bounds(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        # Cached: an estimate clamps a thousand moments into these hours, on a few days.
        return _bounds(self.opens, self.closes, day, tz)

    def within(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """``moment``, or the next opening when couriers are off then (UTC)."""
        local = moment.astimezone(tz)
        opens, closes = self.bounds(local.date(), tz)
        if moment < opens:
            return opens
        if moment >= closes:
            return self.bounds(local.date() + timedelta(days=1), tz)[0]
        return moment.astimezone(UTC)

    def part_bounds(self, day: date, part: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
        opens, closes = self.bounds(day, tz)
        cuts = [opens]
        for cut in (NOON, SIX_PM):
            at = datetime.combine(day, cut, tzinfo=tz).astimezone(UTC)
            cuts.append(min(max(at, opens), closes))
        cuts.append(closes)
        index = PARTS.index(part)
        return cuts[index], cuts[index + 1]

    def part_of(self, moment: datetime, tz: ZoneInfo) -> str:
        clock = moment.astimezone(tz).time()
        return "morning" if clock < NOON else "afternoon" if clock < SIX_PM else "evening"


DEFAULT_HOURS: Final = DeliveryHours()


@lru_cache(maxsize=4096)
def _bounds(opens: time, closes: time, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(day, opens, tzinfo=tz).astimezone(UTC),
        datetime.combine(day, closes, tzinfo=tz).astimezone(UTC),
    )


@dataclass(frozen=True, slots=True)
class Passage:
    """One delivered parcel's time from one of its scans to its delivery."""

    event_type: str
    status: str
    facility: str | None
    service_level: str | None
    at: datetime
    #: None: still on its way (known only to take longer than it has so far; see ``open``).
    delivered_at: datetime | None
    #: Where it was going (the destination city): with the facility, the leg it was on.
    destination: str | None = None
    #: Its next scan after this one (None: delivery was the next, or none yet).
    next_at: datetime | None = None
    #: That next scan's (type, status, facility): where the parcel went from here.
    next_position: tuple[str, str, str | None] | None = None


#: (seconds of the local day at the scan, seconds to delivery, seconds to the next scan)
Sample = tuple[float, float, float]
#: (seconds to delivery, or so far when not delivered; seconds to the next scan, or so far; delivered)
Outcome = tuple[float, float, bool]
#: (seconds to the next scan; its type, status and facility)
Hop = tuple[float, str, str, str | None]
#: A facility's (latitude, longitude, kind).
Place = tuple[float, float, str]
#: The next position of a parcel delivered after this scan (no scan between).
DELIVERED: Final = ("delivered", "delivered", None)
#: (clock times departures leave at, seconds of the local day; the shortest stay before one, seconds)
Timetable = tuple[tuple[float, ...], float]


@dataclass(frozen=True)
class DeliveryHistory:
    """:data:`Sample` s per position key, by time to delivery."""

    samples: Mapping[tuple[str | None, ...], Sequence[Sample]] = field(default_factory=dict)
    #: Per leg key (scan, facility, destination): every recent parcel scanned there, delivered
    #: or still on its way (:data:`Outcome`), for legs too slow or too new to have
    #: :data:`MIN_SAMPLES` complete deliveries (see :func:`_leg_in_flight`).
    open: Mapping[tuple[str | None, ...], Sequence[Outcome]] = field(default_factory=dict)
    #: Per delivery station: when its couriers go out (seconds of the local day), from the
    #: station's route plans (see :func:`tracker.sweep.store.station_rounds`). A parcel at the
    #: station when a round is planned goes out with it.
    rounds: Mapping[str, Sequence[float]] = field(default_factory=dict)
    #: Per leg key: where its parcels went next and how long after (:data:`Hop`), delivered
    #: or still on their way (see :func:`_follow`).
    hops: Mapping[tuple[str | None, ...], Sequence[Hop]] = field(default_factory=dict)
    #: Per (scan type, facility): when its parcels departed (:data:`Timetable`).
    timetables: Mapping[tuple[str, str | None], Timetable] = field(default_factory=dict)
    #: Per facility: where it is and its kind (see :data:`Place`).
    places: Mapping[str, Place] = field(default_factory=dict)
    #: Per (kind of facility departed from, destination city): where its parcels got to next.
    entries: Mapping[tuple[str, str | None], tuple[str, str, str | None]] = field(default_factory=dict)
    #: A line-haul's hours as (fixed, per km of great-circle distance), fitted on every one seen.
    road: tuple[float, float] | None = None
    #: Per (scan type, kind of place): the timetable of its places together, for a place
    #: that has none of its own yet.
    kind_timetables: Mapping[tuple[str, str], Timetable] = field(default_factory=dict)
    #: Per facility: the city it is in. A far city's own sorting centre is where its parcels
    #: arrive before any has (see :func:`_inbound`), and its facilities with no deliveries yet
    #: are told by the other cities' facilities of their kind (see :func:`_home_key`).
    cities: Mapping[str, str] = field(default_factory=dict)
    #: Per city: its sorting centres, from ``cities`` and ``places`` (see :func:`_inbound`).
    centres: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Per samples key, filled on first use: the samples' clock times in order and their
    #: positions (see :func:`_near_on_the_clock`). A cache, not data.
    by_clock: dict[tuple[str | None, ...], tuple[list[float], list[int]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def from_passages(
        cls,
        passages: Iterable[Passage],
        tz: ZoneInfo,
        *,
        now: datetime | None = None,
        rounds: Mapping[str, Sequence[float]] | None = None,
        places: Mapping[str, Place] | None = None,
        cities: Mapping[str, str] | None = None,
    ) -> DeliveryHistory:
        """Group passages by position; given ``now``, only those old enough to be complete.

        Only delivered parcels are known, so the recent scans of a position are
        those of its fast parcels: the slow ones are still on their way. Learning
        from them would show days too early. Given ``now``, each position keeps
        the scans made before ``now`` minus its :data:`COMPLETE_QUANTILE`
        duration, by when nearly all their parcels had arrived.

        Given ``now``, passages of parcels still on their way (``delivered_at``
        None) say how long their leg takes at least: they go, with the leg's
        deliveries, into ``open``.
        """
        grouped: dict[tuple[str | None, ...], list[tuple[datetime, Sample]]] = {}
        opened: dict[tuple[str | None, ...], list[Outcome]] = {}
        hops: dict[tuple[str | None, ...], list[Hop]] = {}
        departures: dict[tuple[str, str | None], list[tuple[datetime, float]]] = {}
        roads: list[tuple[float, float]] = []
        entries: dict[tuple[str, str | None], list[tuple[str, str, str | None]]] = {}
        for p in passages:
            leg = _keys(p.event_type, p.status, p.facility, p.service_level, p.destination)[1]
            if p.next_position is not None and p.next_at is not None and (now is None or p.next_at <= now):
                stay = (p.next_at - p.at).total_seconds()
                hops.setdefault(leg, []).append((stay, *p.next_position))
                if p.next_position[0] == "departed":
                    departures.setdefault((p.event_type, p.facility), []).append((p.next_at, stay))
                road = _road_hop(p, places or {})
                if road is not None:
                    kind, km = road
                    roads.append((km, stay / 3600))
                    entries.setdefault((kind, p.destination), []).append(p.next_position)
            elif p.next_at is None and p.delivered_at is not None and (now is None or p.delivered_at <= now):
                # Delivered next: the end of its path (see ``_follow``).
                hops.setdefault(leg, []).append(((p.delivered_at - p.at).total_seconds(), *DELIVERED))
            if p.delivered_at is None:
                if now is None or p.at > now:
                    continue
                so_far = (now - p.at).total_seconds()
                moved = (p.next_at - p.at).total_seconds() if p.next_at is not None else so_far
                opened.setdefault(leg, []).append((so_far, min(moved, so_far), False))
                continue
            to_go = (p.delivered_at - p.at).total_seconds()
            if to_go < 0:
                continue
            silent = (p.next_at - p.at).total_seconds() if p.next_at is not None else to_go
            local = p.at.astimezone(tz)
            sample = (local.hour * 3600 + local.minute * 60 + local.second, to_go, min(silent, to_go))
            keys = _keys(p.event_type, p.status, p.facility, p.service_level, p.destination)
            if _at_home(p.facility, p.destination, cities or {}):
                keys.append(_home_key(p.event_type, p.facility, places or {}))
            for key in keys:
                grouped.setdefault(key, []).append((p.at, sample))
            opened.setdefault(leg, []).append((to_go, sample[2], True))
        kept: dict[tuple[str | None, ...], list[Sample]] = {}
        for key, values in grouped.items():
            if now is not None:
                durations = sorted(sample[1] for _, sample in values)
                horizon = timedelta(seconds=durations[int(COMPLETE_QUANTILE * (len(durations) - 1))])
                values = [v for v in values if v[0] <= now - horizon]
            kept[key] = sorted((sample for _, sample in values), key=lambda s: s[1])
        # Only legs with a parcel still on its way need the survival view.
        legs = {k: sorted(v) for k, v in opened.items() if not all(o[2] for o in v)}
        # The shortest stay before a departure (sorting takes so long) is pooled over the places
        # of a kind, and so is the timetable of a place that has not departed on two days yet:
        # a far sorting centre has seen few parcels, but sorts as fast as the others.
        pooled: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
        for (event, place), left in departures.items():
            pooled.setdefault((event, _kind(place, places or {})), []).extend(left)
        by_kind = {where: (_timetable(left, tz), _shortest(left)) for where, left in pooled.items()}
        timetables = {}
        for (event, place), left in departures.items():
            clocks, shortest = by_kind[event, _kind(place, places or {})]
            timetables[event, place] = (_timetable(left, tz) or clocks, shortest)
        # The most common; a tie goes to the first seen (not to set order, which varies by process).
        common = {k: Counter(v).most_common(1)[0][0] for k, v in entries.items()}
        return cls(
            kept,
            legs,
            dict(rounds or {}),
            hops,
            timetables,
            dict(places or {}),
            common,
            _fit(roads),
            by_kind,
            dict(cities or {}),
            _centres(cities or {}, places or {}),
        )

    def __len__(self) -> int:
        return sum(len(v) for k, v in self.samples.items() if k[0] == "status" and len(k) == 2)


def _road_hop(p: Passage, places: Mapping[str, Place]) -> tuple[str, float] | None:
    """(kind of the facility left, km to the next) when ``p`` departed and its next scan arrived."""
    if p.event_type != "departed" or p.next_position is None or p.next_position[0] != "arrived":
        return None
    here, there = places.get(p.facility or ""), places.get(p.next_position[2] or "")
    if here is None or there is None:
        return None
    return here[2], _km(here, there)


def _km(a: Place, b: Place) -> float:
    return haversine_m(Point(a[0], a[1]), Point(b[0], b[1])) / 1000


def _fit(roads: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """Least squares hours = fixed + per_km * km; None without two distances apart."""
    if len(roads) < MIN_SAMPLES:
        return None
    mean_km = sum(km for km, _ in roads) / len(roads)
    mean_h = sum(h for _, h in roads) / len(roads)
    spread = sum((km - mean_km) ** 2 for km, _ in roads)
    if spread < 1.0:
        return None
    per_km = sum((km - mean_km) * (h - mean_h) for km, h in roads) / spread
    return mean_h - per_km * mean_km, per_km


def _kind(place: str | None, places: Mapping[str, Place]) -> str:
    """The place's kind; the place itself when its kind is unknown."""
    known = places.get(place or "")
    return known[2] if known is not None else place or ""


def _shortest(departures: Sequence[tuple[datetime, float]]) -> float:
    """The shortest stay before a departure: the :data:`STAY_QUANTILE` of them (one later misses it)."""
    stays = sorted(stay for _, stay in departures)
    return stays[int(STAY_QUANTILE * (len(stays) - 1))]


def _timetable(departures: Sequence[tuple[datetime, float]], tz: ZoneInfo) -> tuple[float, ...]:
    """The clock times (to the minute) parcels departed at on at least two days.

    A minute seen on one day only is no departure of the timetable (a truck
    that left late once).
    """
    days: dict[int, set[date]] = {}
    for at, _ in departures:
        local = at.astimezone(tz)
        days.setdefault(local.hour * 60 + local.minute, set()).add(local.date())
    return tuple(60.0 * minute for minute, seen in sorted(days.items()) if len(seen) > 1)


#: How many of :func:`_keys` name the leg (scan, facility and destination) before pooling legs.
LEG_KEYS: Final = 2


#: How long before this parcel another may have been scanned and still count as waiting with it.
WAITING_SPAN: Final = timedelta(hours=12)


def search_order(
    keys: Sequence[tuple[str | None, ...]],
) -> list[tuple[tuple[str | None, ...], timedelta | None]]:
    """(key, span of the clock) pairs in the order they are tried.

    The leg's own parcels come first: those scanned there within
    :data:`TIME_OF_DAY_SPAN` of this parcel's hour, then any that were
    still waiting there at this parcel's hour (scanned up to :data:`WAITING_SPAN` before:
    a parcel that came at an unusual hour, off a late truck, is compared
    with those that missed a departure, which wait for the same next one),
    then (span None) all the parcels as silent as long; only then parcels
    of other legs, in the same three ways. Where a parcel goes decides its
    days more than when it was scanned: a far city's parcels, pooled with
    the near ones of the same warehouse, would be shown the near ones' day.
    """
    leg, rest = keys[:LEG_KEYS], keys[LEG_KEYS:]
    spans = (TIME_OF_DAY_SPAN, WAITING_SPAN, None)
    return [(k, span) for span in spans for k in leg] + [(k, span) for span in spans for k in rest]


def _keys(
    event_type: str, status: str, facility: str | None, level: str | None, destination: str | None
) -> list[tuple[str | None, ...]]:
    """Position keys, most specific first (see the module docstring)."""
    return [
        ("scan", event_type, facility, destination, level),
        ("scan", event_type, facility, destination),
        ("scan", event_type, facility),
        ("status", status, destination),
        ("status", status),
    ]


def _at_home(facility: str | None, destination: str | None, cities: Mapping[str, str]) -> bool:
    """Whether ``facility`` is in the parcel's destination city (its own sorting centre, a station)."""
    return facility is not None and destination is not None and cities.get(facility) == destination


def _home_key(event_type: str, facility: str | None, places: Mapping[str, Place]) -> tuple[str | None, ...]:
    """The key pooling every city's own facilities of ``facility``'s kind, for this scan.

    From a city's own sorting centre on, the way to the door is much alike in
    every city (sort, the next departure to a station, its next round): a far
    city whose sorting centre has delivered none yet is told by the others'
    at the same hour, not by every parcel in transit anywhere (a warehouse's
    parcels, a day or three from the door).
    """
    return ("home", event_type, _kind(facility, places))


@dataclass(frozen=True, slots=True)
class DeliveryEstimate:
    """Moments (UTC, within delivery hours, sorted) the parcel may be delivered at."""

    moments: tuple[datetime, ...]
    #: ``history``, ``in_flight`` (its leg's parcels, delivered or not: see
    #: :func:`_leg_in_flight`), ``unknown`` (the same, but most of them are slower than any
    #: delivery yet: no moments, no day shown), ``stalled`` (outstayed the history:
    #: estimated as if moving now) or ``defaults``.
    basis: str
    #: When the parcel is overdue for its next scan: by then :data:`OVERDUE_QUANTILE` of the
    #: parcels it was compared with had one. The sweep estimates again then, from the parcels
    #: that waited as long, so a parcel held up (a late departure) is shown its new day
    #: within the hour, not once the old day is over.
    overdue_at: datetime | None = None

    def quantile(self, q: float) -> datetime:
        index = min(len(self.moments) - 1, max(0, math.ceil(q * len(self.moments)) - 1))
        return self.moments[index]


def _on_the_clock(tod: float, sample_tod: float, elapsed: float, span: float) -> float | None:
    """Seconds from another parcel's scan to this one's on the clock, if it counts; else None.

    It counts when it was scanned at most ``span`` before this one, or after
    it but before this one's ``now`` (within ``span`` too): it then waited
    for the same departures.
    """
    after = (sample_tod - tod) % _DAY
    if 0 < after <= min(elapsed, span):
        return -after
    before = (tod - sample_tod) % _DAY
    return before if before <= span else None


def _near_on_the_clock(
    history: DeliveryHistory,
    key: tuple[str | None, ...],
    samples: Sequence[Sample],
    tod: float,
    elapsed: float,
    span: float,
) -> Sequence[Sample]:
    """The samples :func:`_on_the_clock` may count, in their stored order (a superset).

    Only those scanned within ``span`` before ``tod`` or ``min(elapsed, span)``
    after it (on the clock, across midnight) can count. A sweep estimates a
    thousand parcels against the same few thousand samples of a pooled key:
    looking them up by clock time (bisect, a second wide on either side so
    rounding never drops one) instead of walking every sample was most of a
    due parcel's sweep time.
    """
    ahead = min(elapsed, span)
    if span + ahead + 2 >= _DAY or len(samples) < 64:
        return samples
    index = history.by_clock.get(key)
    if index is None:
        order = sorted(range(len(samples)), key=lambda i: samples[i][0])
        index = ([samples[i][0] for i in order], order)
        history.by_clock[key] = index
    times, order = index
    low, high = (tod - span - 1) % _DAY, (tod + ahead + 1) % _DAY
    if low <= high:
        picked = order[bisect.bisect_left(times, low) : bisect.bisect_right(times, high)]
    else:
        picked = order[bisect.bisect_left(times, low) :] + order[: bisect.bisect_right(times, high)]
    return [samples[i] for i in sorted(picked)]


def _overdue(entered_at: datetime, silences: Sequence[float], elapsed: float) -> datetime | None:
    if not silences:
        return None
    ordered = sorted(silences)
    at = ordered[min(len(ordered) - 1, math.ceil(OVERDUE_QUANTILE * len(ordered)) - 1)]
    return entered_at + timedelta(seconds=max(at, elapsed))


def _leg_in_flight(
    outcomes: Sequence[Outcome], elapsed: float, entered_at: datetime, hours: DeliveryHours, tz: ZoneInfo
) -> DeliveryEstimate | None:
    """The leg's parcels, delivered or still on their way (Kaplan-Meier), silent as long as this one.

    For a leg slower than the history is old (a far city, three days away, in
    a network that has run for three), the complete deliveries are too few and
    pooling other legs shows a near city's day. Its parcels still on their way
    say how long it takes at least: each one's share goes to the deliveries
    slower than it has been so far, and the share of those slower than any
    delivery stays at its lower bound (an honest "not before"). When that
    share is most of them, the estimate has no moments (basis ``unknown``):
    no day is shown until the leg's deliveries catch up.
    """
    kept = [(t, done) for t, silent, done in outcomes if silent > elapsed]
    if len(kept) < MIN_SAMPLES:
        return None
    kept.sort(key=lambda o: (o[0], not o[1]))
    survival, at_risk, masses = 1.0, len(kept), []
    for t, done in kept:
        if done:
            mass = survival / at_risk
            masses.append((t, mass))
            survival -= mass
        at_risk -= 1
    silences = [silent for _, silent, _ in outcomes if silent > elapsed]
    if survival > 0.5:
        # Most of them are slower than any delivery yet: no day can be told, only "not
        # before". None is shown (a made-up day would be a near city's); look again later.
        return DeliveryEstimate((), "unknown", entered_at + timedelta(seconds=elapsed) + UNKNOWN_RECHECK)
    if survival > 1e-9:
        masses.append((kept[-1][0], survival))
    moments, cumulative, index = [], 0.0, 0
    for i in range(IN_FLIGHT_MOMENTS):
        target = (i + 0.5) / IN_FLIGHT_MOMENTS
        while index < len(masses) - 1 and cumulative + masses[index][1] < target:
            cumulative += masses[index][1]
            index += 1
        moments.append(entered_at + timedelta(seconds=masses[index][0]))
    return _estimate(moments, "in_flight", hours, tz, _overdue(entered_at, silences, elapsed))


def estimate_delivery(
    *,
    event_type: str | None,
    status: str,
    facility: str | None,
    service_level: str | None,
    entered_at: datetime,
    now: datetime,
    history: DeliveryHistory,
    destination: str | None = None,
    tz: ZoneInfo,
    hours: DeliveryHours = DEFAULT_HOURS,
    stage_estimates: Mapping[str, StageEstimate] | None = None,
    pickup: bool = False,
    hops_left: int = MAX_HOPS,
) -> DeliveryEstimate | None:
    """When the parcel may be delivered, given it has been silent since ``entered_at``.

    ``hops_left``: how many more facilities its path may be followed through (:func:`_follow`).
    """
    elapsed = max((now - entered_at).total_seconds(), 0.0)
    local = entered_at.astimezone(tz)
    tod = local.hour * 3600 + local.minute * 60 + local.second
    keys = _keys(event_type or "", status, facility, service_level, destination)
    if _at_home(facility, destination, history.cities):
        # After the facility's own parcels, before the status of every parcel in transit.
        keys.insert(LEG_KEYS + 1, _home_key(event_type or "", facility, history.places))
    for n, (key, span) in enumerate(search_order(keys)):
        if n == 2 * LEG_KEYS and event_type == "arrived" and facility in history.rounds and hops_left > 0:
            # At a station, at an hour none of its parcels waited there: it goes out with the
            # station's next round (see ``_next_round``), not when its parcels usually did.
            out = _next_round(facility, service_level, now, history, destination, tz, hours, hops_left)
            if out is not None:
                return out
        if n == 2 * LEG_KEYS and hops_left > 0:
            # Too few of the leg's parcels at its hour: follow its path through the network.
            where = (event_type or "", facility)
            step = _follow(where, keys[1], elapsed, entered_at, now, history, tz)
            if step is not None:
                at, (next_type, next_status, next_facility) = step
                out = estimate_delivery(
                    event_type=next_type,
                    status=next_status,
                    facility=next_facility,
                    service_level=service_level,
                    entered_at=at,
                    now=at,
                    history=history,
                    destination=destination,
                    tz=tz,
                    hours=hours,
                    hops_left=hops_left - 1,
                )
                if out is not None and out.basis in ("history", "rounds", "path"):
                    return DeliveryEstimate(out.moments, "path", at + ROUND_GRACE)
        if n == 3 * LEG_KEYS and keys[1] in history.open:
            # The leg's own parcels, those still on their way too, before pooling other legs.
            flight = _leg_in_flight(history.open[keys[1]], elapsed, entered_at, hours, tz)
            if flight is not None:
                return flight
        samples = history.samples.get(key, ())
        if span is not None:
            # On the clock, not on the silence alone (a network runs on a timetable): the
            # parcels still waiting there at this parcel's ``now``, with their times moved
            # onto its scan. One that left with the 22:00 truck says nothing about one
            # that arrived at 22:30.
            left = []
            seconds = span.total_seconds()
            for t, d, silent in _near_on_the_clock(history, key, samples, tod, elapsed, seconds):
                o = _on_the_clock(tod, t, elapsed, seconds)
                if o is not None and silent > elapsed + o:
                    left.append((d - o, silent - o))
        else:
            # Sorted by time to delivery, which is at least the silence: a suffix is a first cut.
            start = bisect.bisect_right([s[1] for s in samples], elapsed)
            left = [(d, silent) for _, d, silent in samples[start:] if silent > elapsed]
        if len(left) >= MIN_SAMPLES:
            overdue = _overdue(entered_at, [silent for _, silent in left], elapsed)
            moments = (entered_at + timedelta(seconds=d) for d, _ in left)
            return _estimate(moments, "history", hours, tz, overdue)
    for key in keys:
        samples = history.samples.get(key, ())
        if len(samples) >= MIN_SAMPLES:
            return _estimate((now + timedelta(seconds=d) for _, d, _ in samples), "stalled", hours, tz)
    if stage_estimates is None:
        return None
    window = eta_window(status, entered_at=entered_at, now=now, estimates=stage_estimates, pickup=pickup)
    if window is None:
        return None
    return _estimate((window.start, window.likely, window.end), "defaults", hours, tz)


def _follow(
    where: tuple[str, str | None],
    leg: tuple[str | None, ...],
    elapsed: float,
    entered_at: datetime,
    now: datetime,
    history: DeliveryHistory,
    tz: ZoneInfo,
) -> tuple[datetime, tuple[str, str, str | None]] | None:
    """Where and when a parcel at ``where`` on ``leg`` gets its next scan, from the leg's parcels.

    The leg's parcels as silent as long that went on (delivered or still on
    their way) say where to: the most common next position. When depends on
    the move. A departure leaves on the place's timetable (``timetables``):
    the first departure at least the shortest stay after the parcel's scan;
    None once that is past without a scan (a truck running late, or one the
    parcel missed: the timetable cannot tell which). Anything else (a
    line-haul on the road) takes as long as the median of theirs. A far
    city's leg has few deliveries yet, but many parcels that reached the
    next facility: its days are the sum of its hops. None when fewer than
    :data:`HOP_SAMPLES` went on.
    """
    onward = [h for h in history.hops.get(leg, ()) if h[0] > elapsed]
    if len(onward) < HOP_SAMPLES:
        return _on_the_road(where, leg[3], elapsed, entered_at, history)
    counts: dict[tuple[str, str, str | None], list[float]] = {}
    for stay, *position in onward:
        counts.setdefault((position[0], position[1], position[2]), []).append(stay)
    position, stays = max(counts.items(), key=lambda item: len(item[1]))
    if position == DELIVERED:
        return None  # the last step: the leg's own parcels tell it, if any can
    if position[0] != "departed":
        stays.sort()
        return entered_at + timedelta(seconds=max(stays[len(stays) // 2], elapsed)), position
    table = history.timetables.get(where) or history.kind_timetables.get(
        (where[0], _kind(where[1], history.places))
    )
    if table is None or not table[0]:
        return None
    clocks, shortest = table
    leaves = _next_clock(clocks, entered_at + timedelta(seconds=shortest), tz)
    # Past its departure without a scan: a truck running late or one it missed, which the
    # timetable cannot tell apart; the leg's parcels as silent as long can.
    return (leaves, position) if leaves is not None and leaves > now else None


def _on_the_road(
    where: tuple[str, str | None],
    destination: str | None,
    elapsed: float,
    entered_at: datetime,
    history: DeliveryHistory,
) -> tuple[datetime, tuple[str, str, str | None]] | None:
    """A departure on a leg too new to have reached the next facility: where and when it will.

    Where: the next facility the destination's parcels got to from a place of
    the same kind (another warehouse's parcels for the far city got to its
    sorting centre), or, before any has, the destination city's own sorting
    centre (:func:`_inbound`). When: the network's line-hauls, fitted on
    distance (:attr:`DeliveryHistory.road`); a parcel on the road longer than
    that is due now (a line-haul a few hours late: after three days on the
    road it is still a far city's parcel, not one of the near ones). None
    when either is unknown.
    """
    here = history.places.get(where[1] or "")
    if where[0] != "departed" or here is None or history.road is None:
        return None
    position = history.entries.get((here[2], destination)) or _inbound(destination, history)
    there = history.places.get(position[2] or "") if position is not None else None
    if position is None or there is None or position[2] == where[1]:
        return None
    fixed, per_km = history.road
    seconds = max((fixed + per_km * _km(here, there)) * 3600, elapsed)
    return entered_at + timedelta(seconds=seconds), position


def _inbound(destination: str | None, history: DeliveryHistory) -> tuple[str, str, str | None] | None:
    """Where a parcel for ``destination`` arrives when none has yet: the city's sorting centre.

    None when the city has none, or several (which one cannot be told).
    """
    centres = history.centres.get(destination or "", ())
    return ("arrived", "in_transit", centres[0]) if len(centres) == 1 else None


def _centres(cities: Mapping[str, str], places: Mapping[str, Place]) -> dict[str, tuple[str, ...]]:
    """Each city's sorting centres: found once per history, not once per estimate."""
    found: dict[str, list[str]] = {}
    for code, city in cities.items():
        if _kind(code, places) == "sorting_center":
            found.setdefault(city, []).append(code)
    return {city: tuple(codes) for city, codes in found.items()}


def _next_clock(clocks: Sequence[float], after: datetime, tz: ZoneInfo) -> datetime | None:
    """The first moment at or after ``after`` whose local clock is one of ``clocks`` (seconds of the day)."""
    midnight = datetime.combine(after.astimezone(tz).date(), time(0), tzinfo=tz)
    moments = (
        (midnight + timedelta(days=days, seconds=clock)).astimezone(UTC)
        for days in range(2)
        for clock in clocks
    )
    return min((m for m in moments if m >= after), default=None)


def _next_round(
    station: str,
    level: str | None,
    now: datetime,
    history: DeliveryHistory,
    destination: str | None,
    tz: ZoneInfo,
    hours: DeliveryHours,
    hops_left: int,
) -> DeliveryEstimate | None:
    """A parcel waiting at a station goes out with its next round: estimated as if out then.

    ``hops_left`` is spent like a hop of :func:`_follow`: out, failed, back at the station,
    out with the next round... would otherwise go round until Python's recursion limit.

    The station's rounds are the clock times its routes are planned at
    (``history.rounds``); a parcel there when a round is planned goes out with it. Its day is the
    one the station's parcels out at that hour were delivered on. The parcel
    is overdue once :data:`ROUND_GRACE` has passed after the round without
    it (left out of a full round, say), and estimated again then.
    """
    leaves = _next_clock(history.rounds[station], now + timedelta(seconds=1), tz)
    if leaves is None:
        return None
    out = estimate_delivery(
        event_type="out_for_delivery",
        status="out_for_delivery",
        facility=station,
        service_level=level,
        entered_at=leaves,
        now=leaves,
        history=history,
        destination=destination,
        tz=tz,
        hours=hours,
        hops_left=hops_left - 1,
    )
    if out is None or out.basis != "history":
        return None
    return DeliveryEstimate(out.moments, "rounds", leaves + ROUND_GRACE)


def _estimate(
    moments: Iterable[datetime],
    basis: str,
    hours: DeliveryHours,
    tz: ZoneInfo,
    overdue_at: datetime | None = None,
) -> DeliveryEstimate:
    return DeliveryEstimate(tuple(sorted(hours.within(m, tz) for m in moments)), basis, overdue_at)


@dataclass(frozen=True, slots=True)
class DayEstimate:
    """A delivery day (and part of it when known), with its bounds in UTC."""

    day: date
    part: str | None
    start: datetime
    end: datetime


def shape_day(
    estimate: DeliveryEstimate, *, now: datetime, tz: ZoneInfo, hours: DeliveryHours = DEFAULT_HOURS
) -> DayEstimate:
    """The day most of the estimate falls on, and its part if clear.

    Of days equally often named, the one nearest the median's day: the
    stage defaults' three moments (low, likely, high) fall on three days,
    and the earliest of them showed a new network's customer the best case,
    a day the likely moment had already left behind.
    """
    floor = hours.within(now, tz)
    moments = [max(m, floor) for m in estimate.moments]
    counts: dict[date, list[datetime]] = {}
    for m in moments:
        counts.setdefault(m.astimezone(tz).date(), []).append(m)
    middle = sorted(moments)[len(moments) // 2].astimezone(tz).date()
    day = min(counts, key=lambda d: (-len(counts[d]), abs((d - middle).days), d))
    on_day = counts[day]
    parts = {p: sum(1 for m in on_day if hours.part_of(m, tz) == p) for p in PARTS}
    best = max(PARTS, key=lambda p: parts[p])
    part = best if parts[best] >= PART_SHARE * len(on_day) else None
    start, end = hours.part_bounds(day, part, tz) if part else hours.bounds(day, tz)
    if part and start < floor:  # a part already under way shows from now on (rounded)
        start = _round(floor, math.floor)
    return DayEstimate(day, part, start, end)


def describe_day(
    start: datetime, end: datetime, *, tz: ZoneInfo, hours: DeliveryHours = DEFAULT_HOURS
) -> DayEstimate:
    """A stored day estimate read back: its day, and the part its bounds name (None: the whole day)."""
    day = start.astimezone(tz).date()
    day_opens, day_closes = hours.bounds(day, tz)
    for candidate in PARTS:
        p_start, p_end = hours.part_bounds(day, candidate, tz)
        # The whole day ends with the evening and starts with the morning: a part
        # is named only when the bounds could not be the whole day's.
        whole = start == day_opens and end == day_closes
        if end == p_end and p_start <= start < p_end and not whole:
            return DayEstimate(day, candidate, start, end)
    return DayEstimate(day, None, start, end)


def _round(at: datetime, rounding: Callable[[float], int]) -> datetime:
    step = ROUND_TO.total_seconds()
    return datetime.fromtimestamp(rounding(at.timestamp() / step) * step, UTC)


def route_window(
    service_start: datetime,
    *,
    leaves: datetime | None = None,
    opens: datetime | None = None,
    closes: datetime | None = None,
    tz: ZoneInfo | None = None,
    hours: DeliveryHours = DEFAULT_HOURS,
) -> tuple[datetime, datetime]:
    """The window shown for a planned start of service: at most 2 h, on quarter hours.

    It opens no earlier than the courier ``leaves`` nor than the appointment
    ``opens`` (an early courier waits); when service is planned by the time the
    stop's window ``closes`` (a booking's end, a promise), it ends then too, so
    a plan that keeps a booking is shown inside it; given ``tz``, it lies within
    the delivery hours of the service's day.
    """
    start = _round(service_start - ROUTE_BEFORE, math.floor)
    if leaves is not None:
        # The quarter hour after the courier leaves, but never past the planned time itself:
        # leaving at 10:31 for a door at 10:33, a window from 10:45 would not hold it.
        start = max(start, min(_round(leaves, math.ceil), _round(service_start, math.floor)))
    if opens is not None:
        start = max(start, _round(opens, math.ceil))
    end = max(_round(service_start + ROUTE_AFTER, math.ceil), start + ROUND_TO)
    if closes is not None and service_start <= closes:
        end = max(min(end, _round(closes, math.ceil)), start + ROUND_TO)
    if tz is not None:
        day_opens, day_closes = hours.bounds(service_start.astimezone(tz).date(), tz)
        start, end = max(start, day_opens), min(end, day_closes)
        if end <= start:  # a plan outside delivery hours: the last (or first) 15 minutes of them
            start, end = (
                (day_closes - ROUND_TO, day_closes)
                if service_start >= day_closes
                else (day_opens, day_opens + ROUND_TO)
            )
    if end - start > ROUTE_MAX:
        end = start + ROUTE_MAX
    return start, end


def keeps_appointment(route: tuple[datetime, datetime], appointment: tuple[datetime, datetime]) -> bool:
    """Whether the planned window lies inside the booked one."""
    return appointment[0] <= route[0] and route[1] <= appointment[1]
