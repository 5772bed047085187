"""The last mile of the labelled scenario: rounds, handovers, and the planted fakes.

Part of :mod:`tracker.sim.scenarios`: :class:`LastMile` is the half of the
scenario builder (:class:`tracker.sim.scenarios.builder.Builder` inherits it)
that takes a station's parcels out on one courier's round: the route
(nearest neighbour at e-bike speed), each handover with what phones really
produce (GPS error, multipath, proofs), failed attempts, and each fake
delivery with its pattern. It draws from the builder's one random stream,
so the order of the draws, and with it the scenario, is that of the seed.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from tracker.scans.network import CourierSpec, FacilitySpec
from tracker.sim.scenarios.world import (
    ROAD_FACTOR,
    SPEED_KMH,
    TYPED_POD,
    Job,
    Labels,
    ParcelScans,
    at_distance,
    distance_m,
)
from tracker.sim.simulator import _name


class LastMile:
    """The builder's last-mile methods; the state they use is the builder's."""

    rng: random.Random
    now: datetime
    fac: dict[str, FacilitySpec]
    fake_rate: float
    labels: Labels
    reports: list[dict[str, Any]]
    _jobs_scans: dict[str, ParcelScans]

    def _round(
        self, station: FacilitySpec, courier: CourierSpec, start: datetime, jobs: list[Job]
    ) -> tuple[list[Job], datetime]:
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
        bulk: list[Job] = []
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
        failed: list[Job] = []
        for _, group in stops:
            door = self._stop_point(group[0])
            t += timedelta(hours=distance_m(here, door) * ROAD_FACTOR / 1000 / SPEED_KMH)
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

    def _route(self, base: tuple[float, float], jobs: list[Job]) -> list[tuple[str, list[Job]]]:
        groups: dict[str, list[Job]] = {}
        for job in jobs:
            key = f"pp:{job.redirect_pp.code}" if job.redirect_pp else job.stop_key
            groups.setdefault(key, []).append(job)
        left = dict(groups)
        order = []
        here = base
        while left:
            key = min(left, key=lambda k: distance_m(here, self._stop_point(left[k][0])))
            order.append((key, left.pop(key)))
            here = self._stop_point(order[-1][1][0])
        return order

    def _stop_point(self, job: Job) -> tuple[float, float]:
        if job.redirect_pp:
            return (job.redirect_pp.lat, job.redirect_pp.lon)
        if job.kind == "pickup":
            code = job.stop_key.split(":")[1]
            return (self.fac[code].lat, self.fac[code].lon)
        return job.door

    def _fix(self, point: tuple[float, float], job: Job | None, dense: bool) -> dict[str, Any]:
        """What the phone reports: honest error, now and then multipath in dense blocks or no fix."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return {}
        if dense and roll < 0.07:
            if job is not None:
                self.labels.mark(job.tn, "gps_noise_dense_block")
            accuracy = rng.uniform(8, 25)
            return self._point(at_distance(rng, point, rng.uniform(150, 450)), accuracy)
        accuracy = rng.uniform(5, 35)
        error = math.hypot(rng.gauss(0, accuracy / 1.5), rng.gauss(0, accuracy / 1.5))
        return self._point(at_distance(rng, point, error), accuracy)

    @staticmethod
    def _point(point: tuple[float, float], accuracy: float) -> dict[str, Any]:
        return {"lat": point[0], "lon": point[1], "accuracy_m": round(accuracy, 1)}

    def _handover(
        self, job: Job, courier: CourierSpec, at: datetime, door: tuple[float, float], group: list[Job]
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

    def _handed_over(self, job: Job, courier: CourierSpec) -> None:
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
        job: Job,
        courier: CourierSpec,
        station: FacilitySpec,
        start: datetime,
        end: datetime,
        timeline: list[tuple[datetime, tuple[float, float]]],
        bulk: list[Job],
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
            home = at_distance(rng, job.door, rng.uniform(1500, 8000))
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
            far = max(timeline, key=lambda s: distance_m(s[1], job.door)) if timeline else (at, where)
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
