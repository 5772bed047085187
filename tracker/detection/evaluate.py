"""Detection in the service: judge a chunk of due parcels and keep their cases (store).

A store module: it takes the sweep's ``Connection`` and never begins or
commits; what to find and what a finding does to a case is decided by the
pure :mod:`tracker.detection.judge`, rows become facts in
:mod:`tracker.detection.store`.

The sweep claims parcels whose ``next_check_at`` has come and calls
:func:`evaluate_parcels` inside its transaction. For one chunk of parcels:

1. Load their scans (voided ones left out), their customers' reports and the
   temperatures sensors reported apart from scans (three queries) and keep
   only the parcels with something to judge: a delivered, collected or damage
   scan, a temperature reading, or a report. The rest cost nothing more.
2. Load what judging needs, in bulk: the parcels' registrations, the
   network, their detection cases (live and resolved), and, for every
   courier who handed one of them over, the courier's scans around those
   handovers with the handover point of each parcel scanned (one query for
   all couriers).
3. Judge each parcel with the pure detectors
   (:func:`tracker.detection.judge.judge_parcel`): every handover scan is
   scored (:func:`~tracker.detection.fake_delivery.score_delivery`; the worst
   verdict speaks for the parcel), damage is attributed
   (:func:`~tracker.detection.damage.attribute_damage`), readings are checked
   against the perishable range (:func:`~tracker.detection.cold_chain.find_excursion`).
4. Keep the cases with :mod:`tracker.cases.store` (see "Re-scoring";
   :func:`tracker.detection.judge.case_reasons` decides), and count the
   cases opened (:class:`CaseCounts`): the sweep adds them to its report, so
   ``tracker sweep`` says how many cases a run opened, whoever opened them.
5. Record when each parcel was judged (``detection_checks``) and mark due
   the courier's neighbouring parcels that were judged before this parcel's
   scans arrived: a scan of one parcel is evidence about the courier's other
   handovers (bulk signing, impossible travel).

Re-scoring
----------
Verdicts are recomputed from all the evidence known at each sweep, so late
evidence (a later scan, a not_received report, the courier's other scans)
changes them:

* A finding without a live case opens one (a suspected fake delivery only
  once its score reaches the threshold).
* A live case gets the new reasons and score; :func:`tracker.cases.store.open_case`
  records the change in its history.
* A suspected fake delivery whose score falls below the threshold stays
  live, its reasons updated, with one more reason, ``score_below_threshold``,
  saying so. Nothing vanishes from under a person who may be looking at it;
  ops resolves it (usually ``false_alarm``).
* A resolved case is not opened again on the evidence it had: only a
  finding with evidence that no resolved case of its type had opens a new
  one (fake delivery: a new reason code; damage: another first evidence or
  segment; cold chain: another out-of-range reading). A ``false_alarm``
  stays resolved until something new turns up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from tracker.cases.store import open_case
from tracker.core import metrics
from tracker.core.db import upsert
from tracker.core.models import Case, Courier, DetectionCheck, Parcel, ScanEvent
from tracker.core.vocabulary import CaseType
from tracker.detection import store as rows
from tracker.detection.facts import HANDOVER_TYPES, EventFact, FacilityFact, ParcelFact, chronological
from tracker.detection.judge import (
    DEFAULT_DETECTION,
    CourierDays,
    DetectionConfig,
    Finding,
    case_reasons,
    handover_point,
    judge_parcel,
    neighbour_evidence,
    spans,
    worth_judging,
)

__all__ = ["CaseCounts", "DetectionConfig", "evaluate_parcels"]

log = logging.getLogger("tracker.detection")

#: Vehicle names in the couriers table -> the detector's names (top speeds).
_VEHICLES = {"ebike": "e_bike", "e-bike": "e_bike", "bike": "bicycle", "walk": "foot"}


@dataclass
class CaseCounts:
    """Cases one :func:`evaluate_parcels` call opened and closed.

    Detection never closes a case (see "Re-scoring": ops resolves it), so
    ``closed`` stays 0; it is there because the sweep adds every detector's
    counts to its report (:class:`tracker.sweep.run.CaseCounts`).
    """

    opened: int = 0
    closed: int = 0


def evaluate_parcels(
    conn: Connection, parcel_ids: Sequence[int], *, now: datetime, config: DetectionConfig | None = None
) -> CaseCounts:
    """Judge these parcels on all the evidence known now and keep their cases (see the module doc)."""
    config = config or DEFAULT_DETECTION
    counts = CaseCounts()
    chunk = sorted(set(parcel_ids))
    if not chunk:
        return counts
    scans = rows.events_of(conn, chunk)
    reports = rows.load_reports(conn, chunk)
    sensed = rows.load_readings(conn, chunk)
    judged = [
        p
        for p in chunk
        if p in reports
        or p in sensed
        or any(worth_judging(r.type, r.damage, r.temperature_c, r.reason) for r in scans.get(p, ()))
    ]
    if not judged:
        return counts

    facilities = rows.load_facilities(conn)
    parcel_rows = rows.parcels_of(conn, judged)
    parcels: dict[int, ParcelFact] = {}
    events: dict[int, list[EventFact]] = {}
    for p in judged:
        try:
            parcels[p] = rows.parcel_fact(parcel_rows[p], facilities, reports.get(p, ()), sensed.get(p, ()))
            events[p] = chronological(
                rows.event_fact(r, parcels[p].tracking_number, facilities) for r in scans.get(p, ())
            )
        except ValueError:
            # A row the detectors cannot read must not stop the chunk (the sweep would retry it
            # forever); the parcel keeps its cases and the log says which one.
            log.exception("detection cannot read a parcel", extra={"fields": {"parcel_id": p}})
            parcels.pop(p, None)
    cases = _detection_cases(conn, list(parcels))
    days = _courier_days(
        conn,
        [e for p in parcels for e in events[p] if e.type in HANDOVER_TYPES and e.courier_id],
        facilities,
        config.courier_window,
    )

    for parcel_id, parcel in parcels.items():
        try:
            findings = judge_parcel(parcel, events[parcel_id], days, facilities, config)
        except Exception:  # the pure detectors raise only on facts they cannot judge
            log.exception("detection failed for a parcel", extra={"fields": {"parcel_id": parcel_id}})
            continue
        for finding in findings:
            counts.opened += _keep(conn, parcel_id, finding, cases.get(parcel_id, []), now)

    _record_checks(conn, list(parcels), now)
    _mark_neighbours(conn, days, set(chunk), now, config.fake_delivery.signals.bulk_window)
    return counts


def _courier_days(
    conn: Connection,
    handovers: Sequence[EventFact],
    facilities: Mapping[str, FacilityFact],
    window: timedelta,
) -> CourierDays:
    """The couriers' scans around these handovers, with each scanned parcel's handover point (one query)."""
    days = CourierDays(window=window, judged=list(handovers))
    if not handovers:
        return days
    terms = [
        and_(ScanEvent.courier_code == courier, ScanEvent.occurred_at.between(start, end))
        for courier, start, end in spans(handovers, window)
    ]
    destination = (Parcel.tracking_number, Parcel.dest_lat, Parcel.dest_lon, Parcel.pickup_point)
    query = (
        select(*rows.EVENT_COLUMNS, *destination)
        .join(Parcel, Parcel.id == ScanEvent.parcel_id)
        .where(or_(*terms), ScanEvent.voided_at.is_(None))
    )
    for row in conn.execute(query):
        fact = rows.event_fact(row, row.tracking_number, facilities)
        days.scans.setdefault(row.courier_code, []).append(fact)
        days.received[row.event_id] = row.received_at
        days.parcel_of[row.event_id] = row.parcel_id
        point = handover_point(row.pickup_point, row.dest_lat, row.dest_lon, facilities)
        if point is not None:
            days.destinations[row.tracking_number] = point
    days.sort()
    for code, vehicle, station in conn.execute(
        select(Courier.code, Courier.vehicle, Courier.station_code).where(Courier.code.in_(days.scans))
    ):
        days.vehicles[code] = _VEHICLES.get(vehicle, vehicle) if vehicle else None
        days.stations[code] = station
    return days


# --- cases ---------------------------------------------------------------------------------


def _detection_cases(conn: Connection, parcel_ids: Sequence[int]) -> dict[int, list[Any]]:
    types = [CaseType.SUSPECTED_FAKE_DELIVERY, CaseType.DAMAGE, CaseType.TEMPERATURE_EXCURSION]
    found: dict[int, list[Any]] = {}
    for row in conn.execute(
        select(Case.id, Case.parcel_id, Case.type, Case.state, Case.reasons).where(
            Case.parcel_id.in_(parcel_ids), Case.type.in_(types)
        )
    ):
        found.setdefault(row.parcel_id, []).append(row)
    return found


def _keep(conn: Connection, parcel_id: int, finding: Finding, cases: list[Any], now: datetime) -> bool:
    """Open or update the finding's case; whether a case was newly opened."""
    reasons = case_reasons(finding, cases)
    if reasons is None:
        return False
    _, opened = open_case(
        conn,
        parcel_id,
        finding.type,
        reasons,
        now=now,
        score=finding.score,
        facility=finding.facility,
        courier=finding.courier,
    )
    if opened and finding.found_by_scan and not any(c.type == finding.type for c in cases):
        metrics.DAMAGE_REPORTS.labels("scan").inc()
    return opened


# --- second looks ----------------------------------------------------------------------------


def _record_checks(conn: Connection, parcel_ids: Sequence[int], now: datetime) -> None:
    statement = upsert(conn, DetectionCheck)
    statement = statement.on_conflict_do_update(
        index_elements=["parcel_id"], set_={"judged_at": statement.excluded.judged_at}
    )
    conn.execute(statement, [{"parcel_id": p, "judged_at": now} for p in parcel_ids])


def _mark_neighbours(
    conn: Connection, days: CourierDays, chunk: set[int], now: datetime, window: timedelta
) -> None:
    """Mark due the courier's other handovers that were judged before this chunk's scans arrived.

    Which handovers, and since when, is :func:`tracker.detection.judge.neighbour_evidence`.
    """
    arrived = neighbour_evidence(days, chunk, window)
    if not arrived:
        return
    stale = [
        parcel_id
        for parcel_id, judged_at in conn.execute(
            select(DetectionCheck.parcel_id, DetectionCheck.judged_at).where(
                DetectionCheck.parcel_id.in_(list(arrived))
            )
        )
        if judged_at < arrived[parcel_id]
    ]
    if stale:
        conn.execute(
            update(Parcel)
            .where(Parcel.id.in_(stale), or_(Parcel.next_check_at.is_(None), Parcel.next_check_at > now))
            .values(next_check_at=now)
        )
