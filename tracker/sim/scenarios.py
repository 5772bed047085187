"""A labelled network: days of realistic traffic with fakes, damage and excursions planted.

Where :mod:`tracker.sim.simulator` makes one demo day, this makes the data that
detection is measured on (``scripts/eval_detection.py``). It builds on
:func:`tracker.sim.simulator.build_network` (more couriers per station) and
produces what the API receives: registrations, scan events in the
simulator's format, customer reports, and ``labels`` saying what is true.

How a day goes, per delivery station:

1. Parcels are ordered from the two warehouses to addresses within a few
   kilometres of the station (Shanghai and Hangzhou dense, Altay sparse);
   some go to a pickup point, some to one of the station's office towers.
2. They travel warehouse -> sorting centre -> station, and the station's
   couriers take them out in two rounds (08:00 and 14:00). A round is a
   route: nearest neighbour from the station at e-bike speed, so an honest
   courier's consecutive scans are always physically possible.
3. At each stop the handover is scanned with what phones really produce:
   GPS error of about the reported accuracy, a few percent of multipath
   fixes hundreds of metres off in dense blocks, no fix indoors, proofs by
   the recipient, family, reception, a locker; a few failed attempts that
   go out again in the next round.

Planted, with labels (``Labels``):

* **Fake deliveries** (``fake_rate`` of home deliveries), one pattern each:
  ``gps_far`` (marked delivered at home after the round), ``no_pod``,
  ``otp_mismatch``, ``not_received`` (and the customer says so),
  ``after_delivery`` (the parcel turns up at the station later): all three
  marked while the courier stands at another stop; ``at_facility`` (marked
  at the station before leaving, often without an out-for-delivery scan);
  ``impossible_travel`` (GPS off, claimed at an address kilometres from
  where the courier scanned minutes before); ``bulk_signing`` (part of a
  round marked delivered from one spot).
* **Honest hard cases**, which must stay quiet: ``gps_noise_dense_block``,
  ``office_building``, ``pickup_point_many``, ``family_or_locker``,
  ``home_parcel_left_at_pickup_point``, ``honest_not_received``.
* **Damage**: background damage everywhere, and ``bad_hub`` damaging
  parcels many times more often; each label is the segment a custody
  chain can tell (where the parcel was last seen whole before the damage
  was found).
* **Cold chain**: perishable parcels with readings on every scan; a few
  have readings out of range.

Same seed and same ``now``, same data.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from tracker.scans.network import CourierSpec, FacilitySpec
from tracker.sim.simulator import CITIES, SHANGHAI_TZ, Network, _name, _phone, build_network, scan_event

FAKE_PATTERNS = (
    "gps_far",
    "no_pod",
    "otp_mismatch",
    "at_facility",
    "bulk_signing",
    "impossible_travel",
    "after_delivery",
    "not_received",
)
HARD_CASES = (
    "gps_noise_dense_block",
    "office_building",
    "pickup_point_many",
    "family_or_locker",
    "home_parcel_left_at_pickup_point",
    "honest_not_received",
)
ROUND_HOURS = (8, 14)
#: Couriers per station, by city key.
STAFF = {"SH": 8, "HZ": 8, "ALT": 3}
#: Radius (km) around the station that its addresses lie in, by city key.
DISTRICT_KM = {"SH": 3.0, "HZ": 3.0, "ALT": 4.0}
SPEED_KMH = 20.0
ROAD_FACTOR = 1.3
TYPED_POD = {"signed_by": "本人", "relation": "self"}


@dataclass
class Labels:
    #: tracking number -> fake-delivery pattern
    fake: dict[str, str] = field(default_factory=dict)
    #: tracking number -> the honest hard cases it is an instance of
    hard: dict[str, set[str]] = field(default_factory=dict)
    #: tracking number -> the segment damage should be attributed to ("facility X", "leg A->B", "courier C")
    damaged: dict[str, str] = field(default_factory=dict)
    perishable: set[str] = field(default_factory=set)
    excursion: set[str] = field(default_factory=set)
    #: parcels handed over (delivered or collected): the population fakes are measured in
    handed_over: set[str] = field(default_factory=set)
    bad_hub: str = ""

    def mark(self, tn: str, case: str) -> None:
        self.hard.setdefault(tn, set()).add(case)


@dataclass
class Scenario:
    network: Network
    parcels: list[dict[str, Any]]
    events: list[dict[str, Any]]
    #: Customer reports: ``{"tracking_number", "kind", "phone", ...}`` in the order made.
    reports: list[dict[str, Any]]
    labels: Labels


# --- geometry (flat: exact enough at city scale for generating data) ----------------------------


def _move(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        round(lat + north_m / 111_320.0, 7),
        round(lon + east_m / (111_320.0 * math.cos(math.radians(lat))), 7),
    )


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    north = (b[0] - a[0]) * 111_320.0
    east = (b[1] - a[1]) * 111_320.0 * math.cos(math.radians((a[0] + b[0]) / 2))
    return math.hypot(north, east)


def _in_disc(rng: random.Random, centre: tuple[float, float], km: float) -> tuple[float, float]:
    r = km * 1000 * math.sqrt(rng.random())
    angle = rng.random() * 2 * math.pi
    return _move(*centre, r * math.cos(angle), r * math.sin(angle))


def _at_distance(rng: random.Random, centre: tuple[float, float], metres: float) -> tuple[float, float]:
    angle = rng.random() * 2 * math.pi
    return _move(*centre, metres * math.cos(angle), metres * math.sin(angle))


# --- the world ---------------------------------------------------------------------------------


def staffed_network(seed: int = 7) -> Network:
    """:func:`~tracker.sim.simulator.build_network` with ``STAFF`` couriers at every station."""
    rng = random.Random(seed * 31)
    base = build_network(seed)
    couriers = list(base.couriers)
    for station in base.of_kind("delivery_station"):
        city = station.code.split("-")[1]
        have = [c for c in couriers if c.station_code == station.code]
        for n in range(len(have) + 1, STAFF[city] + 1):
            couriers.append(CourierSpec(f"C-{city}{station.code[-2:]}{n}", _name(rng), station.code))
    return Network(base.facilities, couriers)


@dataclass
class _Job:
    """One parcel waiting for the last mile."""

    tn: str
    phone: str
    door: tuple[float, float]
    kind: str  # home | office | pickup
    stop_key: str
    otp: str | None
    perishable: tuple[float, float] | None
    excursion_at: str | None  # "station" | "van" | None
    fake: str | None = None
    redirect_pp: FacilitySpec | None = None
    attempts: int = 0
    failed_at: datetime | None = None
    #: Damage first found by the customer after delivery: the segment to blame.
    customer_damage: str | None = None


class _Parcel:
    """Accumulates one parcel's scans."""

    def __init__(self, tn: str, out: list[dict[str, Any]], job: _Job | None, now: datetime) -> None:
        self.tn, self.out, self.n, self.job, self.now = tn, out, 0, job, now

    def scan(self, at: datetime, type_: str, rng: random.Random, **extra: Any) -> None:
        if at > self.now:
            return  # has not happened yet
        self.n += 1
        event = scan_event(self.tn, self.n, at, type_, extra)
        job = self.job
        if job is not None and job.perishable is not None:
            low, high = job.perishable
            reading = round(rng.uniform(low + 0.3, high - 0.3), 1)
            stray = job.excursion_at
            if (
                stray == "station" and type_ == "arrived" and str(extra.get("facility")).startswith("ST-")
            ) or (stray == "van" and type_ in ("out_for_delivery", "delivered")):
                reading = round(high + rng.uniform(1.5, 8.0), 1)
            event["temperature_c"] = reading
        self.out.append(event)


class _Builder:
    def __init__(self, now: datetime, seed: int, parcels: int, days: int, fake_rate: float, bad_hub: str):
        self.rng = random.Random(seed)
        self.now = now
        self.network = staffed_network()
        self.fac = self.network.by_code()
        self.days = days
        self.target = parcels
        self.fake_rate = fake_rate
        self.bad_hub = bad_hub
        self.labels = Labels(bad_hub=bad_hub)
        self.parcels: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.serial = 0
        self._jobs_scans: dict[str, _Parcel] = {}
        self.towers = {
            st.code: [
                _in_disc(self.rng, (st.lat, st.lon), DISTRICT_KM[st.code.split("-")[1]] * 0.8)
                for _ in range(3)
            ]
            for st in self.network.of_kind("delivery_station")
        }

    # 1. parcels and their way to the station -----------------------------------------------

    def build(self) -> Scenario:
        today = self.now.astimezone(SHANGHAI_TZ).date()
        dates = [today - timedelta(days=self.days - k) for k in range(self.days)]
        stations = self.network.of_kind("delivery_station")
        weights = [{"SH": 55 / 4, "HZ": 35 / 2, "ALT": 10}[s.code.split("-")[1]] for s in stations]
        rounds: dict[tuple[str, date, int], list[_Job]] = {}
        for _ in range(self.target):
            station = self.rng.choices(stations, weights)[0]
            day = self.rng.choice(dates)
            slot = self.rng.choice(ROUND_HOURS)
            job = self._register(station, day, slot)
            rounds.setdefault((station.code, day, slot), []).append(job)
        for station in stations:
            couriers = [c for c in self.network.couriers if c.station_code == station.code]
            carry: dict[str, list[_Job]] = {c.code: [] for c in couriers}
            # A round starts on time unless the courier is still out on the previous one.
            free_at = {c.code: datetime.min.replace(tzinfo=SHANGHAI_TZ) for c in couriers}
            for day in dates:
                for slot in ROUND_HOURS:
                    jobs = rounds.get((station.code, day, slot), [])
                    # A pickup point's or a tower's parcels go with one courier.
                    by_courier: dict[str, list[_Job]] = {c.code: list(carry[c.code]) for c in couriers}
                    for job in jobs:
                        index = (
                            zlib.crc32(job.stop_key.encode()) % len(couriers) if job.kind != "home" else None
                        )
                        courier = couriers[index] if index is not None else self.rng.choice(couriers)
                        by_courier[courier.code].append(job)
                    for courier in couriers:
                        start = datetime.combine(day, time(slot), tzinfo=SHANGHAI_TZ)
                        start = max(start, free_at[courier.code] + timedelta(minutes=20))
                        carry[courier.code], free_at[courier.code] = self._round(
                            station, courier, start, by_courier[courier.code]
                        )
        self.events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
        # Damage meant to be found by a customer who never got the parcel was never found.
        for tn in [tn for tn, blame in self.labels.damaged.items() if blame == "courier"]:
            del self.labels.damaged[tn]
        return Scenario(self.network, self.parcels, self.events, self.reports, self.labels)

    def _register(self, station: FacilitySpec, day: date, slot: int) -> _Job:
        rng = self.rng
        self.serial += 1
        tn = f"EVL{self.serial:09d}"
        city_key = station.code.split("-")[1]
        city = next(c for c in CITIES if c.key == city_key)
        centre = (station.lat, station.lon)
        pickups = [f for f in self.network.of_kind("pickup_point") if f.parent_code == station.code]
        kind = "home"
        roll = rng.random()
        pickup: FacilitySpec | None = None
        if roll < 0.15:
            kind, pickup = "pickup", rng.choice(pickups)
            home = _in_disc(rng, (pickup.lat, pickup.lon), 1.0)
        elif roll < 0.21 and city_key != "ALT":
            kind = "office"
            tower_index = rng.randrange(len(self.towers[station.code]))
            home = _move(*self.towers[station.code][tower_index], rng.uniform(-15, 15), rng.uniform(-15, 15))
        else:
            home = _in_disc(rng, centre, DISTRICT_KM[city_key])
        # The door is not the geocoded point: compounds, building footprints.
        door = _at_distance(rng, home, rng.uniform(0, 40)) if kind == "home" else home
        stop_key = (
            f"pp:{pickup.code}"
            if pickup
            else f"tower:{station.code}:{tower_index}"
            if kind == "office"
            else f"home:{tn}"
        )
        fake = None
        if kind == "home" and rng.random() < self.fake_rate * 7 / 8:
            fake = rng.choice([p for p in FAKE_PATTERNS if p != "bulk_signing"])
        otp = f"{rng.randint(0, 9999):04d}" if (rng.random() < 0.25 or fake == "otp_mismatch") else None
        perishable = None
        excursion = None
        if rng.random() < 0.03:
            perishable = rng.choice([(0.0, 4.0), (2.0, 8.0), (-22.0, -15.0)])
            self.labels.perishable.add(tn)
            if rng.random() < 0.08:
                excursion = rng.choice(["station", "van"])
                self.labels.excursion.add(tn)
        phone = _phone(rng)
        origin = rng.choice(self.network.of_kind("warehouse"))
        level = "group_buy" if pickup else rng.choice(["next_day", "standard"])
        start = datetime.combine(day, time(slot), tzinfo=SHANGHAI_TZ)
        job = _Job(tn, phone, door, kind, stop_key, otp, perishable, excursion, fake)
        if kind == "home" and not fake and rng.random() < 0.01:
            job.redirect_pp = rng.choice(pickups)
        times = self._upstream(job, origin, station, start)
        district = rng.choice(city.districts)
        self.parcels.append(
            {
                "tracking_number": tn,
                "service_level": level,
                "ordered_at": times["ordered"].isoformat(timespec="seconds"),
                "origin_facility": origin.code,
                "destination": {
                    "lat": home[0],
                    "lon": home[1],
                    "region": city.region,
                    "city": city.name,
                    "district": district,
                    "postcode": f"{rng.randint(100000, 999999)}",
                    "address": f"{district}{rng.choice(city.streets)}{rng.randint(1, 999)}号",
                },
                "recipient": {"name": _name(rng), "phone": phone},
                "pickup_point": pickup.code if pickup else None,
                "perishable": {"min_c": perishable[0], "max_c": perishable[1]} if perishable else None,
                "delivery_otp": otp,
                "weight_kg": round(rng.uniform(0.2, 12.0), 2),
            }
        )
        return job

    def _upstream(
        self, job: _Job, origin: FacilitySpec, station: FacilitySpec, start: datetime
    ) -> dict[str, Any]:
        """Scans from the label to the station, ending before the round starts."""
        rng = self.rng
        hub = self.fac[station.parent_code or ""]
        at_station = start - timedelta(minutes=rng.uniform(40, 180))
        left_hub = at_station - timedelta(minutes=rng.uniform(60, 120))
        at_hub = left_hub - timedelta(hours=rng.uniform(1, 4))
        linehaul = 1.5 if origin.city == hub.city else 4.0 if hub.city != "阿勒泰" else 48.0
        left_wh = at_hub - timedelta(hours=linehaul * rng.uniform(0.8, 1.25))
        outbound = left_wh - timedelta(minutes=rng.uniform(5, 30))
        created = outbound - timedelta(hours=rng.uniform(0.5, 6))
        p = _Parcel(job.tn, self.events, job, self.now)
        p.scan(created, "created", rng, facility=origin.code)
        p.scan(outbound, "outbound", rng, facility=origin.code)
        p.scan(left_wh, "departed", rng, facility=origin.code)
        damage = self._damage(origin, hub, station)
        arrived_hub = {"damage": damage[1]} if damage and damage[0] == "leg_in" else {}
        p.scan(at_hub, "arrived", rng, facility=hub.code, **arrived_hub)
        if damage and damage[0] == "hub":
            p.scan(
                at_hub + (left_hub - at_hub) * rng.uniform(0.2, 0.8),
                "damaged",
                rng,
                facility=hub.code,
                damage=damage[1],
            )
        p.scan(left_hub, "departed", rng, facility=hub.code)
        arrived_st = {"damage": damage[1]} if damage and damage[0] == "leg_out" else {}
        p.scan(at_station, "arrived", rng, facility=station.code, **arrived_st)
        if damage and damage[0] == "station":
            p.scan(
                at_station + timedelta(minutes=rng.uniform(5, 30)),
                "damaged",
                rng,
                facility=station.code,
                damage=damage[1],
            )
        if damage and damage[0] == "customer":
            job.customer_damage = damage[2]
        job.attempts = 0
        self._jobs_scans[job.tn] = p
        if damage:
            self.labels.damaged[job.tn] = damage[2]
        return {"ordered": created - timedelta(minutes=rng.uniform(2, 20))}

    def _damage(
        self, origin: FacilitySpec, hub: FacilitySpec, station: FacilitySpec
    ) -> tuple[str, dict[str, str], str] | None:
        """Where damage happens and is found: ``(where found, damage, segment a custody chain blames)``."""
        rng = self.rng
        note = {"severity": rng.choice(["minor", "minor", "major"]), "description": "外箱破损"}
        if hub.code == self.bad_hub and rng.random() < 0.04:
            found = rng.choices(["hub", "leg_out", "customer"], weights=(70, 25, 5))[0]
        elif rng.random() < 0.004:
            found = rng.choice(["leg_in", "hub", "leg_out", "station", "customer"])
        else:
            return None
        blame = {
            "leg_in": f"leg {origin.code}->{hub.code}",
            "hub": f"facility {hub.code}",
            "leg_out": f"leg {hub.code}->{station.code}",
            "station": f"facility {station.code}",
            "customer": "courier",  # completed when the courier is known
        }[found]
        return found, note, blame

    # 2. the last mile -------------------------------------------------------------------------

    def _round(
        self, station: FacilitySpec, courier: CourierSpec, start: datetime, jobs: list[_Job]
    ) -> tuple[list[_Job], datetime]:
        """One courier's round: the parcels that must go out again next round, and when it ends."""
        rng = self.rng
        if not jobs:
            return [], start
        base = (station.lat, station.lon)
        for job in jobs:
            job.attempts += 1
            if job.attempts > 1 and job.failed_at is not None:
                # Back from a failed attempt: it waits at the station for the next round.
                back = min(
                    job.failed_at + timedelta(minutes=rng.uniform(20, 40)), start - timedelta(minutes=5)
                )
                self._jobs_scans[job.tn].scan(back, "arrived", rng, facility=station.code)
        bulk: list[_Job] = []
        homes = [j for j in jobs if j.kind == "home" and not j.fake and j.attempts == 1 and not j.redirect_pp]
        # Bulk signing takes its eighth of the fakes, 6 to 10 parcels at a time.
        if len(homes) >= 12 and rng.random() < self.fake_rate * len(homes) / 8 / 8:
            bulk = rng.sample(homes, rng.randint(6, 10))
            for job in bulk:
                job.fake = "bulk_signing"
        # Out for delivery: everything but what is faked at the station before leaving.
        for job in jobs:
            if job.fake == "at_facility" and rng.random() < 0.6:
                continue
            self._jobs_scans[job.tn].scan(
                start + timedelta(seconds=rng.uniform(0, 300)),
                "out_for_delivery",
                rng,
                facility=station.code,
                courier_id=courier.code,
            )
        visited = [j for j in jobs if not j.fake]
        stops = self._route(base, visited)
        t = start + timedelta(minutes=10)
        here = base
        timeline: list[tuple[datetime, tuple[float, float]]] = []
        failed: list[_Job] = []
        for _, group in stops:
            door = self._stop_point(group[0])
            t += timedelta(hours=_metres(here, door) * ROAD_FACTOR / 1000 / SPEED_KMH)
            here = door
            for job in group:
                t += timedelta(seconds=rng.uniform(30, 60) if len(group) > 1 else rng.uniform(60, 180))
                timeline.append((t, door))
                if self._handover(job, courier, t, door, group) == "failed":
                    job.failed_at = t
                    failed.append(job)
        end = busy = t
        for job in jobs:
            if job.fake:
                # Marking parcels delivered after the round (gps_far) keeps the courier busy too.
                busy = max(busy, self._fake(job, courier, station, start, end, timeline, bulk))
        return failed, busy

    def _route(self, base: tuple[float, float], jobs: list[_Job]) -> list[tuple[str, list[_Job]]]:
        groups: dict[str, list[_Job]] = {}
        for job in jobs:
            key = f"pp:{job.redirect_pp.code}" if job.redirect_pp else job.stop_key
            groups.setdefault(key, []).append(job)
        left = dict(groups)
        order = []
        here = base
        while left:
            key = min(left, key=lambda k: _metres(here, self._stop_point(left[k][0])))
            order.append((key, left.pop(key)))
            here = self._stop_point(order[-1][1][0])
        return order

    def _stop_point(self, job: _Job) -> tuple[float, float]:
        if job.redirect_pp:
            return (job.redirect_pp.lat, job.redirect_pp.lon)
        if job.kind == "pickup":
            code = job.stop_key.split(":")[1]
            return (self.fac[code].lat, self.fac[code].lon)
        return job.door

    def _fix(self, point: tuple[float, float], job: _Job | None, dense: bool) -> dict[str, Any]:
        """What the phone reports: honest error, now and then multipath in dense blocks or no fix."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return {}
        if dense and roll < 0.07:
            if job is not None:
                self.labels.mark(job.tn, "gps_noise_dense_block")
            accuracy = rng.uniform(8, 25)
            return self._point(_at_distance(rng, point, rng.uniform(150, 450)), accuracy)
        accuracy = rng.uniform(5, 35)
        error = math.hypot(rng.gauss(0, accuracy / 1.5), rng.gauss(0, accuracy / 1.5))
        return self._point(_at_distance(rng, point, error), accuracy)

    @staticmethod
    def _point(point: tuple[float, float], accuracy: float) -> dict[str, Any]:
        return {"lat": point[0], "lon": point[1], "accuracy_m": round(accuracy, 1)}

    def _handover(
        self, job: _Job, courier: CourierSpec, at: datetime, door: tuple[float, float], group: list[_Job]
    ) -> str:
        rng = self.rng
        p = self._jobs_scans[job.tn]
        dense = not courier.station_code.startswith("ST-ALT")
        photo = f"{rng.getrandbits(256):064x}"
        if job.kind == "pickup" or job.redirect_pp:
            pp = job.redirect_pp or self.fac[job.stop_key.split(":")[1]]
            pod = {"signed_by": "驿站", "relation": "reception"}
            if rng.random() < 0.5:
                pod["photo_sha256"] = photo
            p.scan(
                at,
                "delivered",
                rng,
                courier_id=courier.code,
                facility=pp.code,
                pod=pod,
                **self._fix((pp.lat, pp.lon), None, False),
            )
            self._handed_over(job, courier)
            if job.redirect_pp:
                self.labels.mark(job.tn, "home_parcel_left_at_pickup_point")
                return "delivered"
            if len(group) >= 5:
                self.labels.mark(job.tn, "pickup_point_many")
            p.scan(at + timedelta(minutes=rng.uniform(5, 20)), "ready_for_pickup", rng, facility=pp.code)
            collected = at + timedelta(hours=rng.uniform(1, 30))
            if collected < self.now - timedelta(minutes=10):
                terminal = self._point((pp.lat, pp.lon), 20) if rng.random() < 0.5 else {}
                pod = {"signed_by": _name(rng), "relation": "self"}
                p.scan(collected, "collected", rng, facility=pp.code, pod=pod, **terminal)
            return "delivered"
        if job.kind == "home" and rng.random() < 0.03 and job.attempts == 1:
            p.scan(
                at,
                "delivery_failed",
                rng,
                courier_id=courier.code,
                reason="no_one_home",
                **self._fix(door, None, False),
            )
            return "failed"
        if job.kind == "office":
            pod = {
                "signed_by": "前台",
                "relation": "reception",
                "photo_sha256": photo if rng.random() < 0.7 else None,
            }
            self.labels.mark(job.tn, "office_building")
        else:
            relation = rng.choices(["self", "family", "locker", "neighbour"], weights=(75, 13, 7, 5))[0]
            if relation == "locker":
                pod = {"signed_by": "丰巢", "relation": "locker", "photo_sha256": photo}
            elif relation == "self":
                pod = {
                    "signed_by": "本人",
                    "relation": "self",
                    "photo_sha256": photo if rng.random() < 0.8 else None,
                }
                if job.otp and rng.random() < 0.9:
                    pod["otp"] = job.otp
            else:
                pod = {
                    "signed_by": _name(rng),
                    "relation": relation,
                    "photo_sha256": photo if rng.random() < 0.5 else None,
                }
            if relation in ("family", "locker"):
                self.labels.mark(job.tn, "family_or_locker")
        fix = self._fix(door, job if job.kind == "home" else None, dense)
        p.scan(at, "delivered", rng, courier_id=courier.code, pod={k: v for k, v in pod.items() if v}, **fix)
        self._handed_over(job, courier)
        if job.kind == "home" and rng.random() < 0.004:
            self.labels.mark(job.tn, "honest_not_received")
            self.reports.append({"tracking_number": job.tn, "kind": "not_received", "phone": job.phone})
        return "delivered"

    def _handed_over(self, job: _Job, courier: CourierSpec) -> None:
        self.labels.handed_over.add(job.tn)
        if job.customer_damage:
            self.labels.damaged[job.tn] = f"courier {courier.code}"
            self.reports.append(
                {
                    "tracking_number": job.tn,
                    "kind": "damaged",
                    "phone": job.phone,
                    "description": "打开发现压坏了",
                }
            )

    def _fake(
        self,
        job: _Job,
        courier: CourierSpec,
        station: FacilitySpec,
        start: datetime,
        end: datetime,
        timeline: list[tuple[datetime, tuple[float, float]]],
        bulk: list[_Job],
    ) -> datetime:
        """Scan one fake handover; when it was scanned."""
        rng = self.rng
        p = self._jobs_scans[job.tn]
        pattern = job.fake or ""
        self.labels.fake[job.tn] = pattern
        self.labels.handed_over.add(job.tn)
        typed = dict(TYPED_POD) if rng.random() < 0.5 else None
        courier_id = courier.code
        station_point = (station.lat, station.lon)
        # Where the courier really is: at one of the round's stops, or still at the station.
        at, where = rng.choice(timeline) if timeline else (start + timedelta(minutes=15), station_point)
        at += timedelta(seconds=rng.uniform(10, 60))
        when = at
        if pattern == "gps_far":
            home = _at_distance(rng, job.door, rng.uniform(1500, 8000))
            when = end + timedelta(minutes=rng.uniform(30, 120))
            p.scan(when, "delivered", rng, courier_id=courier_id, pod=typed, **self._fix(home, None, False))
        elif pattern == "no_pod":
            p.scan(when, "delivered", rng, courier_id=courier_id, **self._fix(where, None, False))
        elif pattern == "otp_mismatch":
            wrong = f"{(int(job.otp or '0') + rng.randint(1, 9998)) % 10000:04d}"
            pod = {**TYPED_POD, "otp": wrong}
            p.scan(when, "delivered", rng, courier_id=courier_id, pod=pod, **self._fix(where, None, False))
        elif pattern == "at_facility":
            when = start + timedelta(minutes=rng.uniform(1, 8))
            fix = self._fix(station_point, None, False) if rng.random() < 0.85 else {}
            p.scan(
                when,
                "delivered",
                rng,
                courier_id=courier_id,
                pod=typed,
                facility=None if fix else station.code,
                **fix,
            )
        elif pattern == "bulk_signing":
            index = bulk.index(job)
            at_station = len(timeline) < 3 or rng.random() < 0.5
            spot_time, spot = (
                (start + timedelta(minutes=2), station_point) if at_station else timeline[len(timeline) // 3]
            )
            when = spot_time + timedelta(seconds=40 * index + rng.uniform(0, 20))
            p.scan(when, "delivered", rng, courier_id=courier_id, pod=typed, **self._fix(spot, None, False))
        elif pattern == "impossible_travel":
            far = max(timeline, key=lambda s: _metres(s[1], job.door)) if timeline else (at, where)
            when = far[0] + timedelta(seconds=rng.uniform(60, 240))
            p.scan(when, "delivered", rng, courier_id=courier_id, pod=typed)
        elif pattern == "after_delivery":
            p.scan(
                when,
                "delivered",
                rng,
                courier_id=courier_id,
                pod=dict(TYPED_POD),
                **self._fix(where, None, False),
            )
            back = end + timedelta(minutes=rng.uniform(20, 60))
            p.scan(back, "arrived", rng, facility=station.code)
        elif pattern == "not_received":
            pod = dict(TYPED_POD) if rng.random() < 0.7 else None
            p.scan(when, "delivered", rng, courier_id=courier_id, pod=pod, **self._fix(where, None, False))
            self.reports.append({"tracking_number": job.tn, "kind": "not_received", "phone": job.phone})
        return when


def build_scenario(
    now: datetime,
    *,
    seed: int = 2026,
    parcels: int = 20_000,
    days: int = 4,
    fake_rate: float = 0.026,
    bad_hub: str = "SC-HZ-01",
) -> Scenario:
    """``parcels`` parcels over the ``days`` days before ``now`` (see the module docstring)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _Builder(now, seed, parcels, days, fake_rate, bad_hub).build()


def batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
