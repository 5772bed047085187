"""Rows to facts: the one place the detection package reads the database (store).

The pure detectors (:mod:`tracker.detection.facts` and the modules built on
it) know nothing of SQLAlchemy; :mod:`tracker.detection.evaluate`, the damage
hotspots (:mod:`tracker.detection.hotspots`) and the scorecards
(:mod:`tracker.detection.scorecards`) load rows with the helpers here and
turn them into facts the same way, so a verdict computed by the sweep and a
rate shown on a scorecard read the same evidence.

Every loader takes a ``Connection`` (it never begins or commits) and a list
of parcel ids or a ``SELECT`` of them, and costs one query, whatever the
number of parcels.

Customer reports: customers report through the tracking page
(:mod:`tracker.tracking.feedback`); every report is a ``feedback`` row, kept
forever, and the complaints among them (``not_received``, ``damaged``,
``late``) are evidence for detection. :func:`load_reports` reads them over
``ix_feedback_parcel_id_created_at`` as
:class:`~tracker.detection.facts.CustomerReport` facts. Ratings and
appointments are not reports.

Sensor readings: EPCIS events linked to a parcel (:mod:`tracker.epcis`) keep
their sensor reports in ``epcis_readings``. An event that derived a scan
carrying a temperature is evidence through that scan already (the reading
furthest outside the parcel's range); the temperatures no scan carries (a
``sensor_reporting`` event derives no scan at all) are read by
:func:`load_readings` as :class:`~tracker.detection.facts.SensorReading`
facts for the cold-chain detector. Read with SQL on the tables, not through
``tracker.epcis``, which sits above detection.

Voided scans: a scan derived from an EPCIS event declared erroneous has
``voided_at`` set and is evidence no more; every loader here skips it, and
the readings of an erroneous event or a voided link with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, or_, select

from tracker.core.models import (
    EpcisEvent,
    EpcisParcelLink,
    EpcisReading,
    Facility,
    Feedback,
    FeedbackKind,
    Parcel,
    ScanEvent,
)
from tracker.detection.facts import (
    CustomerReport,
    DamageNote,
    EventFact,
    FacilityFact,
    ParcelFact,
    ProofOfDelivery,
    ReportKind,
    SensorReading,
    TemperatureRange,
)

ParcelIds = Sequence[int] | Select[Any]

#: The feedback kinds that are complaints (ratings and appointments are not).
_REPORT_KINDS = [FeedbackKind(k.value) for k in ReportKind]

#: The scan columns the detectors read.
EVENT_COLUMNS = (
    ScanEvent.event_id,
    ScanEvent.parcel_id,
    ScanEvent.type,
    ScanEvent.occurred_at,
    ScanEvent.received_at,
    ScanEvent.facility_code,
    ScanEvent.courier_code,
    ScanEvent.lat,
    ScanEvent.lon,
    ScanEvent.accuracy_m,
    ScanEvent.temperature_c,
    ScanEvent.pod,
    ScanEvent.damage,
    ScanEvent.reason,
)

PARCEL_COLUMNS = (
    Parcel.id,
    Parcel.tracking_number,
    Parcel.dest_lat,
    Parcel.dest_lon,
    Parcel.pickup_point,
    Parcel.delivery_otp,
    Parcel.perishable_min_c,
    Parcel.perishable_max_c,
)


def load_facilities(conn: Connection) -> dict[str, FacilityFact]:
    """Every facility with its kind and position (the network is small and read whole)."""
    return {
        code: FacilityFact(code, kind, lat, lon)
        for code, kind, lat, lon in conn.execute(
            select(Facility.code, Facility.kind, Facility.lat, Facility.lon)
        )
    }


def events_of(conn: Connection, parcel_ids: ParcelIds) -> dict[int, list[Any]]:
    """The scan rows of these parcels, grouped by parcel id (unordered); voided scans do not count."""
    grouped: dict[int, list[Any]] = {}
    query = select(*EVENT_COLUMNS).where(ScanEvent.parcel_id.in_(parcel_ids), ScanEvent.voided_at.is_(None))
    for row in conn.execute(query):
        grouped.setdefault(row.parcel_id, []).append(row)
    return grouped


def parcels_of(conn: Connection, parcel_ids: ParcelIds) -> dict[int, Any]:
    return {row.id: row for row in conn.execute(select(*PARCEL_COLUMNS).where(Parcel.id.in_(parcel_ids)))}


def event_fact(row: Any, tracking_number: str, facilities: Mapping[str, FacilityFact]) -> EventFact:
    facility = facilities.get(row.facility_code) if row.facility_code else None
    pod = row.pod or None
    damage = row.damage or None
    return EventFact(
        event_id=row.event_id,
        tracking_number=tracking_number,
        type=row.type,
        occurred_at=row.occurred_at,
        facility=row.facility_code,
        facility_kind=facility.kind if facility else None,
        courier_id=row.courier_code,
        lat=row.lat,
        lon=row.lon,
        accuracy_m=row.accuracy_m,
        temperature_c=row.temperature_c,
        pod=(
            ProofOfDelivery(
                pod.get("signed_by"), pod.get("relation"), pod.get("photo_sha256"), pod.get("otp")
            )
            if pod
            else None
        ),
        damage=DamageNote(damage["severity"], damage.get("description") or "") if damage else None,
        reason=row.reason,
    )


def parcel_fact(
    row: Any,
    facilities: Mapping[str, FacilityFact],
    reports: Iterable[CustomerReport] = (),
    readings: Iterable[SensorReading] = (),
) -> ParcelFact:
    pickup = facilities.get(row.pickup_point) if row.pickup_point else None
    perishable = (
        TemperatureRange(row.perishable_min_c, row.perishable_max_c)
        if row.perishable_min_c is not None and row.perishable_max_c is not None
        else None
    )
    return ParcelFact(
        tracking_number=row.tracking_number,
        destination_lat=row.dest_lat,
        destination_lon=row.dest_lon,
        pickup_point=row.pickup_point,
        pickup_point_lat=pickup.lat if pickup else None,
        pickup_point_lon=pickup.lon if pickup else None,
        expected_otp=row.delivery_otp,
        perishable=perishable,
        reports=tuple(reports),
        readings=tuple(readings),
    )


def load_reports(conn: Connection, parcel_ids: ParcelIds) -> dict[int, list[CustomerReport]]:
    """Every complaint the customers of these parcels made, by parcel id, oldest first."""
    rows = conn.execute(
        select(Feedback.parcel_id, Feedback.kind, Feedback.created_at)
        .where(Feedback.parcel_id.in_(parcel_ids), Feedback.kind.in_(_REPORT_KINDS))
        .order_by(Feedback.parcel_id, Feedback.created_at, Feedback.id)
    )
    reports: dict[int, list[CustomerReport]] = {}
    for row in rows:
        reports.setdefault(row.parcel_id, []).append(
            CustomerReport(ReportKind(str(row.kind)), row.created_at)
        )
    return reports


def load_readings(conn: Connection, parcel_ids: ParcelIds) -> dict[int, list[SensorReading]]:
    """The temperatures sensors reported for these parcels that no scan carries, by parcel id.

    See the module doc; links voided by an error declaration and erroneous events do not count.
    """
    rows = conn.execute(
        select(
            EpcisParcelLink.parcel_id,
            EpcisReading.id,
            EpcisReading.observed_at,
            EpcisReading.temperature_c,
            EpcisReading.temperature_min_c,
            EpcisReading.temperature_max_c,
            EpcisReading.device_id,
            EpcisEvent.event_id,
            EpcisEvent.facility_code,
        )
        .join(EpcisReading, EpcisReading.event_pk == EpcisParcelLink.event_pk)
        .join(EpcisEvent, EpcisEvent.id == EpcisParcelLink.event_pk)
        .outerjoin(ScanEvent, ScanEvent.event_id == EpcisParcelLink.scan_event_id)
        .where(
            EpcisParcelLink.parcel_id.in_(parcel_ids),
            EpcisParcelLink.voided_at.is_(None),
            EpcisEvent.error_declared_at.is_(None),
            # No scan, or a scan without a temperature (one outside what a scan takes).
            ScanEvent.temperature_c.is_(None),
            or_(
                EpcisReading.temperature_c.is_not(None),
                EpcisReading.temperature_min_c.is_not(None),
                EpcisReading.temperature_max_c.is_not(None),
            ),
        )
        .order_by(EpcisParcelLink.parcel_id, EpcisReading.observed_at, EpcisReading.id)
    )
    found: dict[int, list[SensorReading]] = {}
    for row in rows:
        device = f"device {row.device_id}, " if row.device_id else ""
        found.setdefault(row.parcel_id, []).append(
            SensorReading(
                reading_id=f"epcis-reading-{row.id}",
                observed_at=row.observed_at,
                temperatures_c=tuple(
                    t
                    for t in (row.temperature_c, row.temperature_min_c, row.temperature_max_c)
                    if t is not None
                ),
                facility=row.facility_code,
                source=f"sensor reading, {device}EPCIS event {row.event_id}",
            )
        )
    return found
