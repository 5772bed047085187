"""A parcel's derived state and the ``parcels`` columns that hold it (pure).

:mod:`tracker.scans.timeline` folds events into a :class:`~tracker.scans.timeline.ParcelState`;
ingest stores that state on the parcel row so that the next batch folds onto
it instead of re-reading every event. These two functions are the mapping
between the two, used by ingest, registration and the sweep; the columns to
select are :data:`tracker.scans.ingest.STATE_COLUMNS`.
"""

from __future__ import annotations

from typing import Any

from tracker.core.vocabulary import EVENT_TYPES, ParcelStatus
from tracker.scans import timeline


def state_from_row(row: Any) -> timeline.ParcelState:
    """The stored state of a parcel (columns as in :data:`STATE_COLUMNS`).

    Written out rather than looped over column names: it runs for every
    parcel of every batch.
    """
    status_event = last_event = None
    if row.status_event_id is not None:
        status_event = timeline.TimelineEvent(
            row.status_event_id, EVENT_TYPES[row.status_event_type], row.status_event_at
        )
    if row.last_event_id is not None:
        last_event = timeline.TimelineEvent(
            row.last_event_id,
            EVENT_TYPES[row.last_event_type],
            row.last_event_at,
            row.last_facility,
            row.last_lat,
            row.last_lon,
        )
    return timeline.ParcelState(
        row.event_count,
        status_event,
        last_event,
        row.first_event_at,
        row.outbound_at,
        row.delivered_at,
        row.ready_for_pickup_at,
    )


def state_columns(state: timeline.ParcelState) -> dict[str, Any]:
    """The parcel columns that hold ``state``."""
    status_event, last = state.status_event, state.last_event
    return {
        "status": state.status or ParcelStatus.INFO_RECEIVED,
        "event_count": state.event_count,
        "status_event_id": status_event.event_id if status_event else None,
        "status_event_type": status_event.type if status_event else None,
        "status_event_at": status_event.occurred_at if status_event else None,
        "last_event_id": last.event_id if last else None,
        "last_event_type": last.type if last else None,
        "last_event_at": last.occurred_at if last else None,
        "last_facility": last.facility_code if last else None,
        "last_lat": last.lat if last else None,
        "last_lon": last.lon if last else None,
        "first_event_at": state.first_event_at,
        "outbound_at": state.outbound_at,
        "delivered_at": state.delivered_at,
        "ready_for_pickup_at": state.ready_for_pickup_at,
    }
