#!/usr/bin/env python3
"""ETAs measured: what customers were shown against when their parcels came.

Usage: python scripts/eval_eta.py [--seed 2026] [--days 2] [--warmup-days 3]
       [--parcels 400] [--shapes regional,hub] [--read-every 3] [--database-url URL]
       [--dump-misses FILE]

For each network shape (:mod:`tracker.sim.eta_days`: ``regional`` and
``hub``), on a fresh database (an SQLite file by default), with the app's
clock injected:

1. Warm-up days build the history the ETAs learn from; measured days follow.
   Disruptions fall on measured days: a sorting facility's departures six
   hours late for a morning, then a courier off sick for a day.
2. Hour by hour: new orders are registered (``POST /api/v1/parcels``) and the
   scans of the hour posted (``POST /api/v1/scans``), all through the app's
   real request handlers (Flask's test client); at 08:00 and 14:00 each
   station plans its round (``POST /api/v1/facilities/{facility}/routes``)
   and its couriers follow the plan, near its times; then the sweep runs
   (:func:`tracker.sweep.run.sweep`, without the fake-delivery detectors,
   which play no part in ETAs).
3. On measured days, every live parcel's tracking JSON
   (``GET /api/v1/track/{tracking_number}``) is read every ``--read-every``
   hours, and right after each plan; every ETA shown is recorded.
4. Each shown ETA is judged against the parcel's delivery: a ``day`` is right
   when the delivery fell on it; a ``window`` when the delivery fell inside
   it. A parcel not delivered when the run ends counts as a miss for a day
   (or window) that has passed, and is left out otherwise.

Prints one JSON object: per shape and overall, per stage (the status the
page showed), the share of day ETAs that were right, the share of route
windows that held, and the median width of each kind; and per stage how
many reads of a live parcel showed no ETA at all (``no_eta``: a leg too slow
for its history to tell a day), which are not judged. Exits non-zero when a
target is missed (day accuracy >= 0.96; window coverage >= 0.90 with a
median width <= 2 h). The estimator's constants were chosen on seed 1; use
other seeds to measure. ``--dump-misses FILE`` appends one JSON line per
judged day read (and per read with no ETA): the parcel, when it was read,
the day shown, when it came, and its newest scan, to read what misses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import update  # noqa: E402

from tracker.app import create_app  # noqa: E402
from tracker.core import migrate  # noqa: E402
from tracker.core.db import make_engine, write_transaction  # noqa: E402
from tracker.core.models import Courier  # noqa: E402
from tracker.core.vocabulary import Role  # noqa: E402
from tracker.keys.store import create_key  # noqa: E402
from tracker.scans.directory import load_network  # noqa: E402
from tracker.settings import Settings  # noqa: E402
from tracker.sim.eta_days import ROUND_ENDS, ROUNDS, SHAPES, TZ, World, build_world, order_times  # noqa: E402
from tracker.sla.eta_shown import DeliveryHours  # noqa: E402
from tracker.sweep.run import sweep  # noqa: E402

TARGETS = {"day_accuracy": 0.96, "window_coverage": 0.90, "window_median_hours": 2.0}
FIRST_DAY = date(2026, 11, 2)  # a Monday with no holiday in the weeks after


@dataclass
class Shown:
    tracking_number: str
    at: datetime
    status: str
    kind: str
    day: date
    start: datetime
    end: datetime
    #: The newest scan the page showed: its type and place (for reading the misses).
    position: str = ""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _check(answer: Any, *expected: int) -> Any:
    if answer.status_code not in expected:
        body = answer.get_data(as_text=True)[:300]
        raise SystemExit(f"{answer.request.method} {answer.request.path}: {answer.status_code} {body}")
    return answer.json


def run_shape(
    shape: str, args: argparse.Namespace, folder: Path
) -> tuple[list[Shown], World, dict[str, float]]:
    measured_from = FIRST_DAY + timedelta(days=args.warmup_days)
    world = build_world(shape, seed=args.seed, measured_from=measured_from)
    url = args.database_url or f"sqlite:///{folder / f'{shape}.db'}"
    start = datetime.combine(FIRST_DAY, clock_time(0), tzinfo=TZ).astimezone(UTC)
    clock = Clock(start)
    settings = Settings(
        database_url=url,
        instance_path=folder,
        sweep_interval=0,
        solve_slots=0,
        ratelimit_read="100000000/minute",
        ratelimit_write="100000000/minute",
        log_level="WARNING",
    )
    engine = make_engine(url)
    migrate.upgrade(engine)
    with write_transaction(engine) as conn:
        load_network(conn, world.network.facilities, world.network.couriers)
        key = create_key(conn, Role.ADMIN, now=start, label="eval eta")
    app = create_app(settings, engine=engine, clock=clock)
    rt = app.extensions["tracker"]
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}
    hours = DeliveryHours(*settings.delivery_hours)
    shown: list[Shown] = []
    timings: dict[str, float] = defaultdict(float)
    orders: list[datetime] = []
    n = 0
    days = args.warmup_days + args.days
    for offset in range(days):
        orders.extend(order_times(world, FIRST_DAY + timedelta(days=offset), args.parcels))
    end = start + timedelta(days=days)
    now = start
    while now < end:
        now += timedelta(hours=1)
        clock.now = now
        local = now.astimezone(TZ)
        measuring = local.date() >= measured_from
        began = time.perf_counter()
        while orders and orders[0] <= now:
            parcel = world.order(orders.pop(0), n)
            n += 1
            _check(client.post("/api/v1/parcels", json=parcel.registration, headers=auth), 201, 200)
        _post_scans(client, auth, world.due_events(now))
        timings["feed_s"] += time.perf_counter() - began
        planned: list[str] = []
        if local.time() in ROUNDS:
            began = time.perf_counter()
            _roster(engine, world, local.date())
            index = ROUNDS.index(local.time())
            for station in world.stations():
                plan = _check(
                    client.post(
                        f"/api/v1/facilities/{station}/routes",
                        json={
                            "date": local.date().isoformat(),
                            "shift": {
                                "start": ROUNDS[index].strftime("%H:%M"),
                                "end": ROUND_ENDS[index].strftime("%H:%M"),
                            },
                            "time_limit_s": args.time_limit,
                        },
                        headers=auth,
                    ),
                    201,
                    200,
                )
                world.follow_plan(plan, now)
                planned += [s["tracking_number"] for r in plan["routes"] for s in r["stops"]]
            _post_scans(client, auth, world.due_events(now))
            timings["plan_s"] += time.perf_counter() - began
        began = time.perf_counter()
        sweep(engine, now=now, policy=rt.ingest, zone=TZ, hours=hours)
        timings["sweep_s"] += time.perf_counter() - began
        if not measuring:
            continue
        began = time.perf_counter()
        slot = int((now - start).total_seconds() // 3600)
        wanted = set(planned)
        for tn, parcel in world.parcels.items():
            live = parcel.delivered_at is None or parcel.delivered_at > now
            if live and zlib.crc32(tn.encode()) % args.read_every == slot % args.read_every:
                wanted.add(tn)
        for tn in sorted(wanted):
            parcel = world.parcels[tn]
            if parcel.delivered_at is not None and parcel.delivered_at <= now:
                continue
            data = _check(client.get(f"/api/v1/track/{tn}?lang=en"), 200)
            eta = data.get("eta")
            last = data["events"][0] if data["events"] else None
            position = f"{last['type']}@{last['place']}@{last['at'][11:16]}" if last else ""
            if not eta and data["status"] not in ("delivered", "returned"):
                # No ETA shown (a leg too slow for its history to tell a day): counted apart.
                shown.append(Shown(tn, now, data["status"], "none", now.date(), now, now, position))
            if eta:
                shown.append(
                    Shown(
                        tn,
                        now,
                        data["status"],
                        eta["kind"],
                        date.fromisoformat(eta["date"]),
                        datetime.fromisoformat(eta["start"]),
                        datetime.fromisoformat(eta["end"]),
                        position,
                    )
                )
        timings["read_s"] += time.perf_counter() - began
    engine.dispose()
    return shown, world, dict(timings)


def _post_scans(client: Any, auth: dict[str, str], events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 500):
        answer = _check(client.post("/api/v1/scans", json={"events": events[i : i + 500]}, headers=auth), 200)
        if answer["rejected"]:
            raise SystemExit(
                f"scans rejected: {[r for r in answer['results'] if r.get('status') == 'rejected'][:3]}"
            )


def _roster(engine: Any, world: World, day: date) -> None:
    """The sick courier is off the station's roster on their day (ops takes them off), back after."""
    if world.sick is None:
        return
    station, courier, sick_day = world.sick
    with write_transaction(engine) as conn:
        conn.execute(
            update(Courier)
            .where(Courier.code == courier)
            .values(station_code=None if day == sick_day else station)
        )


def judge(shown: list[Shown], world: World, end: datetime) -> dict[str, Any]:
    """Day accuracy and window coverage, by stage and overall."""
    days: dict[str, list[bool]] = defaultdict(list)
    by_day: dict[str, list[bool]] = defaultdict(list)
    windows: dict[str, list[bool]] = defaultdict(list)
    widths: dict[str, list[float]] = defaultdict(list)
    end_day = end.astimezone(TZ).date()
    unshown: dict[str, int] = defaultdict(int)
    for s in shown:
        if s.kind == "none":
            unshown[s.status] += 1
            continue
        delivered = world.parcels[s.tracking_number].delivered_at
        if delivered is not None and delivered > end:
            delivered = None
        hours = (s.end - s.start).total_seconds() / 3600
        widths[s.kind].append(hours)
        if s.kind == "day":
            if delivered is None:
                if s.day >= end_day:
                    continue  # the day has not passed: unknown
                days[s.status].append(False)
                by_day[s.at.astimezone(TZ).date().isoformat()].append(False)
            else:
                days[s.status].append(delivered.astimezone(TZ).date() == s.day)
                by_day[s.at.astimezone(TZ).date().isoformat()].append(days[s.status][-1])
        elif s.kind == "window":
            if delivered is None:
                if s.end >= end:
                    continue
                windows[s.status].append(False)
            else:
                windows[s.status].append(s.start <= delivered <= s.end)

    def share(values: list[bool]) -> dict[str, Any]:
        return {
            "right": sum(values),
            "of": len(values),
            "share": round(sum(values) / len(values), 4) if values else None,
        }

    all_days = [v for vs in days.values() for v in vs]
    all_windows = [v for vs in windows.values() for v in vs]
    return {
        "day_accuracy": {
            "overall": share(all_days),
            "by_stage": {k: share(v) for k, v in sorted(days.items())},
            # The first measured day has the late sorting facility, the second the sick courier.
            "by_day_shown": {k: share(v) for k, v in sorted(by_day.items())},
        },
        "window_coverage": {
            "overall": share(all_windows),
            "by_stage": {k: share(v) for k, v in sorted(windows.items())},
        },
        "median_width_hours": {k: round(statistics.median(v), 2) for k, v in sorted(widths.items())},
        "shown": {k: len(v) for k, v in sorted(widths.items())},
        # Reads of a live parcel whose page showed no ETA at all (not judged above), by stage.
        "no_eta": dict(sorted(unshown.items())),
        "_raw": (all_days, all_windows, widths.get("window", [])),
    }


def _dump_reads(path: Path, shape: str, shown: list[Shown], world: World, end: datetime) -> None:
    """One line per day read (and per read with no ETA), with the parcel's journey, for reading misses."""
    with path.open("a", encoding="utf-8") as out:
        for s in shown:
            if s.kind not in ("day", "none"):
                continue
            parcel = world.parcels[s.tracking_number]
            delivered = parcel.delivered_at if parcel.delivered_at and parcel.delivered_at <= end else None
            if s.kind == "day" and delivered is None and s.day >= end.astimezone(TZ).date():
                continue
            line = {
                "shape": shape,
                "tn": s.tracking_number,
                "read": s.at.astimezone(TZ).isoformat(timespec="minutes"),
                "status": s.status,
                "kind": s.kind,
                "shown": s.day.isoformat() if s.kind == "day" else None,
                "part": [s.start.astimezone(TZ).strftime("%H:%M"), s.end.astimezone(TZ).strftime("%H:%M")],
                "delivered": delivered.astimezone(TZ).isoformat(timespec="minutes") if delivered else None,
                "right": s.kind == "day"
                and delivered is not None
                and delivered.astimezone(TZ).date() == s.day,
                "position": s.position,
                "level": parcel.registration["service_level"],
                "city": parcel.registration["destination"]["city"],
                "origin": parcel.registration["origin_facility"],
                "station": parcel.station,
            }
            out.write(json.dumps(line, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--days", type=int, default=2, help="measured days")
    parser.add_argument("--warmup-days", type=int, default=3, help="days that only build history")
    parser.add_argument("--parcels", type=int, default=400, help="orders per day")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--read-every", type=int, default=3, help="hours between reads of one parcel")
    parser.add_argument("--time-limit", type=float, default=0.5, help="seconds per route solve")
    parser.add_argument(
        "--dump-misses",
        default="",
        help="write every judged day read (right or not) to this JSON-lines file, to read the misses",
    )
    parser.add_argument(
        "--database-url", default="", help="default: an SQLite file per shape in a temporary folder"
    )
    args = parser.parse_args(argv)
    shapes = [s for s in args.shapes.split(",") if s]
    began = time.perf_counter()
    result: dict[str, Any] = {
        "seed": args.seed,
        "days": args.days,
        "warmup_days": args.warmup_days,
        "parcels_per_day": args.parcels,
        "shapes": {},
        "targets": TARGETS,
    }
    every: tuple[list[bool], list[bool], list[float]] = ([], [], [])
    with tempfile.TemporaryDirectory(prefix="eval-eta-") as tmp:
        for shape in shapes:
            shape_began = time.perf_counter()
            shown, world, timings = run_shape(shape, args, Path(tmp))
            end = datetime.combine(
                FIRST_DAY + timedelta(days=args.warmup_days + args.days), clock_time(0), tzinfo=TZ
            )
            scores = judge(shown, world, end.astimezone(UTC))
            if args.dump_misses:
                _dump_reads(Path(args.dump_misses), shape, shown, world, end.astimezone(UTC))
            raw = scores.pop("_raw")
            for mine, theirs in zip(every, raw):
                mine.extend(theirs)
            scores["parcels"] = len(world.parcels)
            scores["seconds"] = {
                **{k: round(v, 1) for k, v in timings.items()},
                "total": round(time.perf_counter() - shape_began, 1),
            }
            result["shapes"][shape] = scores
    days, windows, widths = every
    overall = {
        "day_accuracy": round(sum(days) / len(days), 4) if days else None,
        "window_coverage": round(sum(windows) / len(windows), 4) if windows else None,
        "window_median_hours": round(statistics.median(widths), 2) if widths else None,
        "days_judged": len(days),
        "windows_judged": len(windows),
    }
    result["overall"] = overall
    result["met"] = bool(
        days
        and windows
        and overall["day_accuracy"] >= TARGETS["day_accuracy"]
        and overall["window_coverage"] >= TARGETS["window_coverage"]
        and overall["window_median_hours"] <= TARGETS["window_median_hours"]
    )
    result["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
