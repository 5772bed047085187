"""Capture jobs: a validated EPCIS document in, one report per event out (owns the transactions).

``POST /api/v1/epcis/capture`` (:mod:`tracker.epcis.views`) validates the
document and checks the caller may capture every event, then
:func:`open_capture` stores it as a capture job (``epcis_captures``, state
``running``) and commits. :func:`run_capture` does the work in one
transaction:

1. Take the job with a conditional ``UPDATE ... WHERE state = 'running'``:
   two processes running the same job (a retry after a crash) do it once;
   the second finds it finished.
2. For each event, in document order (:func:`process`): a new ``eventID``
   (or canonical hash) is stored as received with its identifiers and sensor
   readings, and linked to the parcels it names
   (:func:`tracker.epcis.derive.links_of`); the same event again is a
   ``duplicate``; the same event with an ``errorDeclaration`` marks the
   stored one erroneous (``declared_erroneous``); another event under a stored
   ``eventID`` is ``rejected`` (a conflict).
3. The scans the new linked ObjectEvents derive are stored in one call of
   :func:`tracker.scans.ingest.store_scans`; the parcels linked to events
   with temperature readings are marked due for the sweep (the cold-chain
   detector reads them, scan or no scan); then the links of erroneous events
   and the scans they derived are voided and their parcels derived again
   (:func:`tracker.epcis.derive.void_and_rederive`).
4. With ``GS1-Capture-Error-Behaviour: rollback`` (the binding's default) a
   rejected event undoes the others (a savepoint rolled back: each is
   reported ``rolled_back``); with ``proceed`` the others are stored.
5. The job's report and state are written in the same transaction.

A document of at most :data:`SYNC_EVENTS` events is run in the request and
answered at once (200, the job with its report); a larger one is answered
202 with ``Location`` at once and run on this process's capture thread
(:class:`CaptureThread`). A job still ``running`` a minute after it was
opened (its process died) is run again by the next capture request of any
process.
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from tracker.core import metrics
from tracker.core.db import write_transaction
from tracker.core.errors import FieldError
from tracker.core.models import EpcisCapture
from tracker.epcis import cbv, derive, sensors, store
from tracker.epcis.document import EpcisEvent, list_path, parse_events, parse_time
from tracker.scans.ingest import IngestPolicy, store_scans

log = logging.getLogger("tracker.epcis")

#: Documents of at most this many events are captured in the request (200); larger ones answer 202.
SYNC_EVENTS = 100
#: A job still running this long after it was opened is taken to be orphaned and run again.
ORPHANED_AFTER = timedelta(minutes=1)
ERROR_BEHAVIOURS = ("rollback", "proceed")


def new_capture_id() -> str:
    return "cap_" + secrets.token_urlsafe(18)


def open_capture(
    conn: Connection,
    document: dict[str, Any],
    *,
    event_count: int,
    requested_by: str,
    facility: str | None,
    behaviour: str,
    now: datetime,
) -> str:
    capture_id = new_capture_id()
    conn.execute(
        insert(EpcisCapture).values(
            capture_id=capture_id,
            created_at=now,
            requested_by=requested_by,
            facility_code=facility,
            error_behaviour=behaviour,
            event_count=event_count,
            state="running",
            document=document,
        )
    )
    return capture_id


def capture_row(conn: Connection, capture_id: str) -> Any:
    return conn.execute(select(EpcisCapture).where(EpcisCapture.capture_id == capture_id)).first()


def orphaned(conn: Connection, now: datetime) -> list[str]:
    return list(
        conn.scalars(
            select(EpcisCapture.capture_id)
            .where(EpcisCapture.state == "running", EpcisCapture.created_at < now - ORPHANED_AFTER)
            .limit(10)
        )
    )


@dataclass
class EventReport:
    """What became of one event of a document (the capture report's entries)."""

    eventID: str
    type: str
    result: str  # captured | duplicate | declared_erroneous | rejected | rolled_back
    errors: list[FieldError] = field(default_factory=list)
    facility: str | None = None
    parcels: list[str] = field(default_factory=list)
    scans: list[dict[str, Any]] = field(default_factory=list)
    no_scan: str | None = None
    readings: int = 0
    unknown_terms: list[str] = field(default_factory=list)
    corrective_event_ids: list[str] = field(default_factory=list)
    voided_scans: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"eventID": self.eventID, "type": self.type, "result": self.result}
        if self.errors:
            out["errors"] = [e.to_dict() for e in self.errors]
        for name in ("facility", "no_scan"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        for name in ("parcels", "scans", "unknown_terms", "corrective_event_ids", "voided_scans", "notes"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        out["readings"] = self.readings
        return out


def run_capture(
    engine: Engine, capture_id: str, *, policy: IngestPolicy, now: datetime
) -> list[EventReport] | None:
    """Run a capture job (see the module doc); its report, or None if another process ran it."""
    with write_transaction(engine) as conn:
        taken = conn.execute(
            update(EpcisCapture)
            .where(EpcisCapture.capture_id == capture_id, EpcisCapture.state == "running")
            .values(claimed_at=now)
        ).rowcount
        if not taken:
            return None
        job = conn.execute(
            select(EpcisCapture.document, EpcisCapture.error_behaviour).where(
                EpcisCapture.capture_id == capture_id
            )
        ).one()
        events = parse_events(job.document)
        savepoint = conn.begin_nested()
        reports, scan_results = process(
            conn, events, where=list_path(job.document), capture_id=capture_id, now=now, policy=policy
        )
        failed = any(r.result == "rejected" for r in reports)
        if failed and job.error_behaviour == "rollback":
            savepoint.rollback()
            scan_results = []
            for r in reports:
                if r.result != "rejected":
                    r.result, r.scans, r.voided_scans = "rolled_back", [], []
        else:
            savepoint.commit()
        conn.execute(
            update(EpcisCapture)
            .where(EpcisCapture.capture_id == capture_id)
            .values(
                state="failed" if failed else "finished",
                finished_at=now,
                report=[r.to_dict() for r in reports],
            )
        )
    for (type_, result), n in Counter(scan_results).items():
        metrics.SCANS.labels(type_, "epcis", result).inc(n)
    log.info(
        "epcis capture",
        extra={
            "fields": {
                "capture_id": capture_id,
                "events": len(reports),
                "results": dict(Counter(r.result for r in reports)),
            }
        },
    )
    return reports


def process(
    conn: Connection,
    events: list[EpcisEvent],
    *,
    where: str,
    capture_id: str,
    now: datetime,
    policy: IngestPolicy,
) -> tuple[list[EventReport], list[tuple[str, str]]]:
    """Steps 2 and 3 of the module doc: reports in document order, and (scan type, result) pairs.

    ``where``: the JSON pointer of the document's event list, for errors.
    """
    stored = store.stored_events(conn, (e.event_id for e in events))
    places = store.facilities_of(conn, (e.location for e in events))
    reports: list[EventReport] = []
    declared_later: list[tuple[str, dict[str, Any], EventReport]] = []
    fresh: list[tuple[int, EpcisEvent]] = []
    to_void: list[int] = []
    report_of_pk: dict[int, EventReport] = {}

    # Pass 1, no writes but declarations: what each event is (new, replay, declaration, conflict).
    for index, event in enumerate(events):
        report = EventReport(event.event_id, event.event_type, "captured")
        report.unknown_terms = cbv.unknown_terms(event.biz_step, event.disposition)
        report.corrective_event_ids = event.corrective_ids
        reports.append(report)
        known = stored.get(event.event_id)
        if known is None:
            report.facility = places.get(event.location) if event.location else None
            fresh.append((index, event))
            # A later copy in the document is judged against this one.
            stored[event.event_id] = store.StoredEvent(
                -1, event.event_hash, event.error_declaration is not None
            )
            continue
        if known.event_hash != event.event_hash:
            report.result = "rejected"
            report.errors = [
                FieldError(f"{where}/{index}/eventID", "already captured with different content (conflict)")
            ]
        elif event.error_declaration is not None and not known.declared and known.pk > 0:
            store.declare_erroneous(conn, known.pk, event.error_declaration)
            stored[event.event_id] = store.StoredEvent(known.pk, known.event_hash, True)
            report.result = "declared_erroneous"
            to_void.append(known.pk)
            report_of_pk[known.pk] = report
        else:
            # A replay; or a declaration of an event earlier in this very document: that copy is
            # stored as sent and takes the declaration below.
            report.result = "duplicate"
            if event.error_declaration is not None and known.pk < 0:
                declared_later.append((event.event_id, event.error_declaration, report))

    # Pass 2: the new events, their identifiers and readings, a few statements for the whole document.
    pks = store.insert_events(
        conn,
        [e for _, e in fresh],
        facilities=[reports[i].facility for i, _ in fresh],
        capture_id=capture_id,
        now=now,
    )
    readings = {i: sensors.readings(e.raw, e.event_time, parse_time) for i, e in fresh}
    store.insert_readings(conn, [(pk, readings[i]) for pk, (i, _) in zip(pks, fresh, strict=True)])
    links_of = derive.links_of_events(conn, [e for _, e in fresh])

    # Pass 3: links and the scans they derive.
    candidates: list[derive.Candidate] = []
    pending_links: list[tuple[int, int, derive.Link]] = []
    sensed: list[tuple[list[sensors.Reading], list[derive.Link]]] = []
    for pk, (index, event), links in zip(pks, fresh, links_of, strict=True):
        report = reports[index]
        report.readings = len(readings[index])
        report.parcels = sorted(link.parcel.tracking_number for link in links)
        pending_links.extend((pk, index, link) for link in links)
        if event.error_declaration is not None:
            # Captured already declared erroneous: stored and linked, but it counts for no parcel.
            report.result = "declared_erroneous"
            to_void.append(pk)
            report_of_pk[pk] = report
            continue
        if links:
            sensed.append((readings[index], links))
            derived, reason = derive.scan_candidates(event, index, links, report.facility, readings[index])
            candidates.extend(derived)
            report.no_scan = reason
            for c in derived:
                report.notes.extend(c.notes)
    pk_of = {e.event_id: pk for pk, (_, e) in zip(pks, fresh, strict=True)}
    for event_id, declaration, report in declared_later:
        pk = pk_of[event_id]
        if pk not in report_of_pk:
            store.declare_erroneous(conn, pk, declaration)
            report.result = "declared_erroneous"
            to_void.append(pk)
            report_of_pk[pk] = report

    scan_of: dict[tuple[int, int], str] = {}
    scan_results: list[tuple[str, str]] = []
    if candidates:
        outcome = store_scans(conn, [c.scan for c in candidates], source="epcis", now=now, policy=policy)
        for c, o in zip(candidates, outcome.outcomes, strict=True):
            entry = {
                "event_id": o.event_id,
                "tracking_number": c.link.parcel.tracking_number,
                "result": o.result,
            }
            if o.type:
                entry["type"] = o.type
            if o.errors:
                entry["errors"] = [e.to_dict() for e in o.errors]
            reports[c.event_index].scans.append(entry)
            scan_results.append((o.type or "unknown", o.result))
            if o.result != "rejected" and o.event_id:
                scan_of[(c.event_index, c.link.parcel.parcel_id)] = o.event_id
    store.insert_links(
        conn,
        [
            (pk, link.parcel.parcel_id, link.via, scan_of.get((index, link.parcel.parcel_id)))
            for pk, index, link in pending_links
        ],
    )
    # Readings are the cold-chain detector's evidence even when the event derives no scan.
    derive.readings_due(conn, sensed, now=now)
    if to_void:
        voided = derive.void_and_rederive(conn, to_void, now=now, policy=policy)
        for pk, scans in voided.items():
            report_of_pk[pk].voided_scans = scans
    return reports, scan_results


class CaptureThread:
    """This process's one capture thread: jobs too large to run in the request (202).

    One thread, so the jobs of one process do not compete with each other
    for the database's write lock (SQLite) or parcel rows (PostgreSQL).
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="epcis-capture")

    def submit(self, engine: Engine, capture_id: str, *, policy: IngestPolicy, clock: Any) -> None:
        self._pool.submit(self._run, engine, capture_id, policy, clock)

    @staticmethod
    def _run(engine: Engine, capture_id: str, policy: IngestPolicy, clock: Any) -> None:
        try:
            run_capture(engine, capture_id, policy=policy, now=clock())
        except Exception:  # the job stays running; the next capture request runs it again
            log.exception("epcis capture failed", extra={"fields": {"capture_id": capture_id}})

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
