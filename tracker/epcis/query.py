"""The EPCIS 2.0 REST binding's event query and its answer, the EPCIS query document (pure).

``GET /api/v1/epcis/events`` takes the binding's query parameters with the
names the standard fixes (``eventType``, ``GE_eventTime``, ``LT_eventTime``,
``EQ_bizStep``, ``EQ_disposition``, ``EQ_bizLocation``, ``MATCH_epc``,
``MATCH_anyEPC``; lists pipe-delimited: ``EQ_bizStep=shipping|receiving``)
and pages with ``perPage`` and ``nextPageToken``, the next page's URL in a
``Link: <...>; rel="next"`` header (absent on the last page).

Matching, as implemented: ``EQ_bizStep``/``EQ_disposition`` take bare CBV
words or their URIs alike; ``MATCH_epc`` (``epcList`` and ``childEPCs``) and
``MATCH_anyEPC`` (those, ``parentID``, ``inputEPCList``, ``outputEPCList``)
compare identifiers in their canonical form, so an EPC URN finds an event
that wrote the same GS1 key as a Digital Link; EPC *patterns*
(``urn:epc:idpat:...``) are compared as written, not expanded.
``EQ_bizLocation`` compares the URI as written.

The answer is an ``EPCISQueryDocument`` whose events are the documents as
captured, with ``recordTime`` (when tracker captured it, in the local
offset), the ``eventID`` tracker gave an event that had none (its canonical
hash, as the binding asks a server to populate one), and the
``errorDeclaration`` of an event declared erroneous later.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from tracker.core.inputs import BIGINT_MAX, unpadded_base64
from tracker.core.timefmt import iso_local

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
PER_PAGE_DEFAULT = 30
PER_PAGE_MAX = 500


@dataclass(frozen=True)
class EventFilter:
    event_types: list[str] = field(default_factory=list)
    ge_event_time: datetime | None = None
    lt_event_time: datetime | None = None
    biz_steps: list[str] = field(default_factory=list)
    dispositions: list[str] = field(default_factory=list)
    biz_locations: list[str] = field(default_factory=list)
    match_epc: list[str] = field(default_factory=list)
    match_any_epc: list[str] = field(default_factory=list)
    #: The (eventTime, id) of the last event of the previous page.
    after: tuple[datetime, int] | None = None


def split(value: str | None) -> list[str]:
    """A pipe-delimited parameter's values; an empty parameter is no filter."""
    if not value:
        return []
    return [v.strip() for v in value.split("|") if v.strip()]


def encode_token(at: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{pk}".encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[datetime, int]:
    """``ValueError`` for a token tracker did not make."""
    try:
        text = unpadded_base64(token).decode()
        at, pk = text.rsplit("|", 1)
        parsed, key = datetime.fromisoformat(at), int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("not a page token of this server") from exc
    # A key no row can have (the databases compare 64-bit integers only: past that, a 500).
    if parsed.tzinfo is None or not 0 <= key <= BIGINT_MAX:
        raise ValueError("not a page token of this server")
    return parsed, key


def event_out(row: Any, zone: tzinfo) -> dict[str, Any]:
    """A stored event as the query answers it (see the module doc)."""
    event = dict(row.document)
    event.setdefault("eventID", row.event_id)
    event["recordTime"] = iso_local(row.record_time, zone)
    if row.error_declaration is not None and "errorDeclaration" not in event:
        event["errorDeclaration"] = row.error_declaration
    return event


def query_document(events: Iterable[dict[str, Any]], *, now: datetime, zone: tzinfo) -> dict[str, Any]:
    return {
        "@context": [CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": iso_local(now, zone),
        "epcisBody": {
            "queryResults": {
                "queryName": "SimpleEventQuery",
                "resultsBody": {"eventList": list(events)},
            }
        },
    }
