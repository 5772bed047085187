"""The demo's sample parcels: one of each thing a newcomer should be able to try.

:func:`add_samples` puts, beside the simulated day, parcels whose story is
known, each through the code real traffic goes through (registration, scan
ingest, the customer's feedback and booking, the station's plan):

* a parcel waiting at a pickup point, with its pickup code (取件码);
* a parcel after a failed delivery attempt (its page offers a new window or a hold);
* a parcel in transit with a delivery window the customer chose;
* a delivered parcel rated low, with a complaint about the courier (both open a case);

and then plans the sample station's day (today's, or tomorrow's late in the
evening), so the console and the tracking pages show a route plan. Each
sample comes back with its verification digits (the last four of the
recipient's phone), which ``tracker demo`` prints beside its link.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from tracker.core.db import write_transaction
from tracker.core.errors import TrackerError
from tracker.core.vocabulary import ComplaintKind
from tracker.routing.planning import PlanOptions
from tracker.routing.service import plan_station
from tracker.scans.ingest import IngestPolicy, store_scans
from tracker.scans.parcels import register_parcel
from tracker.scans.schemas import ParcelIn, ScanEventIn
from tracker.sim.simulator import Day
from tracker.tracking import feedback
from tracker.tracking.store import read_parcel
from tracker.tracking.view import appointment_windows


@dataclass(frozen=True)
class Sample:
    tracking_number: str
    what: str
    #: The last four digits of the recipient's phone: what the page asks for.
    digits: str


def add_samples(
    engine: Engine,
    day: Day,
    *,
    now: datetime,
    policy: IngestPolicy,
    zone: ZoneInfo,
    merchant: str | None,
) -> tuple[list[Sample], str | None]:
    """Register and scan the samples, give them feedback and a window, plan the station.

    The samples and what the plan holds (or why there is none).
    """
    courier = day.network.couriers[0]
    station = day.network.by_code()[courier.station_code]
    points = [f for f in day.network.of_kind("pickup_point") if f.parent_code == station.code]
    template = next((p for p in day.parcels if p["destination"]["city"] == station.city), day.parcels[0])
    start = now - timedelta(hours=6)
    samples: list[Sample] = []
    events: list[dict[str, Any]] = []

    def parcel(tn: str, what: str, phone: str, **changes: Any) -> str:
        body = copy.deepcopy(template)
        body.update({"tracking_number": tn, "customer_tier": "normal", "pickup_point": None, **changes})
        body["recipient"]["phone"] = phone
        body["destination"].update(lat=round(station.lat + 0.01, 6), lon=round(station.lon + 0.01, 6))
        with write_transaction(engine) as conn:
            register_parcel(conn, ParcelIn.model_validate(body), now=now, policy=policy, merchant=merchant)
        samples.append(Sample(tn, what, phone[-4:]))
        origin = body["origin_facility"]
        for n, (kind, minutes, extra) in enumerate(
            [
                ("created", 0, {"facility": origin}),
                ("outbound", 30, {"facility": origin}),
                ("arrived", 180, {"facility": station.code}),
            ]
        ):
            events.append(_scan(tn, n, kind, start + timedelta(minutes=minutes), **extra))
        return tn

    def at(minutes: int) -> datetime:
        return start + timedelta(minutes=minutes)

    if points:
        tn = parcel("DEMOPICKUP01", "waiting at a pickup point, with its pickup code", "13900007001",
                    pickup_point=points[0].code)  # fmt: skip
        events.append(_scan(tn, 3, "ready_for_pickup", at(240), facility=points[0].code))
    tn = parcel(
        "DEMOFAILED01", "after a failed attempt: choose a new window or a pickup point", "13900007002"
    )
    events.append(_scan(tn, 3, "out_for_delivery", at(240), facility=station.code, courier_id=courier.code))
    events.append(_scan(tn, 4, "delivery_failed", at(300), courier_id=courier.code, reason="no_one_home"))
    window = parcel("DEMOWINDOW01", "in transit, with a delivery window the customer chose", "13900007003")
    rated = parcel(
        "DEMORATED001", "delivered, rated 2 stars, with a complaint about the courier", "13900007004"
    )
    events.append(
        _scan(rated, 3, "out_for_delivery", at(240), facility=station.code, courier_id=courier.code)
    )
    events.append(
        _scan(rated, 4, "delivered", at(290), courier_id=courier.code, lat=round(station.lat + 0.01, 6),
              lon=round(station.lon + 0.01, 6), accuracy_m=15, pod={"relation": "family"})
    )  # fmt: skip
    with write_transaction(engine) as conn:
        store_scans(
            conn, [ScanEventIn.model_validate(e) for e in events], source="demo", now=now, policy=policy
        )
    with write_transaction(engine) as conn:
        facts = read_parcel(conn, window)
        assert facts is not None
        offered = appointment_windows(facts, now=now, tz=zone)
        if offered:
            feedback.book_appointment(conn, facts, *offered[min(2, len(offered) - 1)], now=now, tz=zone)
        facts = read_parcel(conn, rated)
        assert facts is not None
        feedback.rate(conn, facts, now=now, packaging=4, courier=2, speed=3, comment="快递员态度不好")
        feedback.complain(
            conn,
            facts,
            now=now,
            about=ComplaintKind.COURIER_CONDUCT,
            comment="没有打电话就放在门口",
            zone=zone,
        )
    return samples, _plan(engine, station.code, now=now, zone=zone)


def _scan(tn: str, n: int, kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"{tn}-{n}",
        "tracking_number": tn,
        "type": kind,
        "occurred_at": at.isoformat(),
        **fields,
    }


def _plan(engine: Engine, station: str, *, now: datetime, zone: ZoneInfo) -> str | None:
    """Plan the station's day (tomorrow's, once today's shift is nearly over); what was planned."""
    local = now.astimezone(zone)
    day = local.date() if local.time() < time(18, 0) else local.date() + timedelta(days=1)
    options = PlanOptions(day=day, time_limit=timedelta(seconds=2))
    try:
        plan = plan_station(engine, station, options, now=now, zone=zone, requested_by="demo")
    except TrackerError as error:  # e.g. nothing due: the demo still starts
        return f"no route plan for {station}: {error.message}"
    return f"route plan {plan['plan_id']} for {station} on {day}: {plan['totals']['served']} stops"
