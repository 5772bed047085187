"""The labelled scenario's builder: parcels, their way to the station, and the days' rounds.

Part of :mod:`tracker.sim.scenarios` (its docstring says what is built):
:func:`build_scenario` runs :class:`Builder`, which registers the parcels,
scans them from the warehouse through the hub to the station (with the
planted damage), and hands every station's rounds to the last mile it
inherits from :class:`tracker.sim.scenarios.last_mile.LastMile`.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from tracker.scans.network import FacilitySpec
from tracker.sim.scenarios.last_mile import LastMile
from tracker.sim.scenarios.world import (
    DISTRICT_KM,
    FAKE_PATTERNS,
    ROUND_HOURS,
    Job,
    Labels,
    ParcelScans,
    Scenario,
    at_distance,
    in_disc,
    move,
    staffed_network,
)
from tracker.sim.simulator import CITIES, SHANGHAI_TZ, _name, _phone


class Builder(LastMile):
    """One scenario being built, from one random stream (same seed, same draws, same data)."""

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
        self._jobs_scans: dict[str, ParcelScans] = {}
        self.towers = {
            st.code: [
                in_disc(self.rng, (st.lat, st.lon), DISTRICT_KM[st.code.split("-")[1]] * 0.8)
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
        rounds: dict[tuple[str, date, int], list[Job]] = {}
        for _ in range(self.target):
            station = self.rng.choices(stations, weights)[0]
            day = self.rng.choice(dates)
            slot = self.rng.choice(ROUND_HOURS)
            job = self._register(station, day, slot)
            rounds.setdefault((station.code, day, slot), []).append(job)
        for station in stations:
            couriers = [c for c in self.network.couriers if c.station_code == station.code]
            carry: dict[str, list[Job]] = {c.code: [] for c in couriers}
            # A round starts on time unless the courier is still out on the previous one.
            free_at = {c.code: datetime.min.replace(tzinfo=SHANGHAI_TZ) for c in couriers}
            for day in dates:
                for slot in ROUND_HOURS:
                    jobs = rounds.get((station.code, day, slot), [])
                    # A pickup point's or a tower's parcels go with one courier.
                    by_courier: dict[str, list[Job]] = {c.code: list(carry[c.code]) for c in couriers}
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

    def _register(self, station: FacilitySpec, day: date, slot: int) -> Job:
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
            home = in_disc(rng, (pickup.lat, pickup.lon), 1.0)
        elif roll < 0.21 and city_key != "ALT":
            kind = "office"
            tower_index = rng.randrange(len(self.towers[station.code]))
            home = move(*self.towers[station.code][tower_index], rng.uniform(-15, 15), rng.uniform(-15, 15))
        else:
            home = in_disc(rng, centre, DISTRICT_KM[city_key])
        # The door is not the geocoded point: compounds, building footprints.
        door = at_distance(rng, home, rng.uniform(0, 40)) if kind == "home" else home
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
        job = Job(tn, phone, door, kind, stop_key, otp, perishable, excursion, fake)
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
        self, job: Job, origin: FacilitySpec, station: FacilitySpec, start: datetime
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
        p = ParcelScans(job.tn, self.events, job, self.now)
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
    return Builder(now, seed, parcels, days, fake_rate, bad_hub).build()


def batches(items: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
