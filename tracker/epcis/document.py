"""An EPCIS 2.0 document: validated against the official schema, read into events (pure).

A capture is refused whole unless the document passes, with every error at
once, each named by the JSON pointer of what is wrong
(``/epcisBody/eventList/3/eventTime``):

1. no string or key holds ``\\u0000`` (PostgreSQL's ``jsonb`` cannot store
   it; checked first, so the schema sees no such text);
2. the official GS1 EPCIS 2.0 JSON schema (``schema/``, see its SOURCE.md)
   accepts the document, an ``EPCISDocument`` or an ``EPCISQueryDocument``
   (the REST binding takes both at ``/capture``);
3. what tracker needs beyond the schema: an ``eventID`` of at most
   :data:`MAX_ID_LENGTH` characters, times from 2000 to 2099 (UTC), at most
   :data:`MAX_EPCS` identifiers per event.

The schema is checked with jsonschema-rs (a Rust validator): every error with
its path, and about 30 ms for a 1,000-event document where the pure-Python
``jsonschema`` takes 7.5 s on this machine (``fastjsonschema`` 0.7 s, but it
stops at the first error).

:func:`parse_events` then reads each event into an :class:`EpcisEvent`:
the fields tracker indexes, its identity (``eventID``, or the canonical
hash of :mod:`tracker.epcis.canonical` when it has none) and the event as
received, which is what is stored and answered back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs

from tracker.core.errors import FieldError
from tracker.core.inputs import EARLIEST, LATEST
from tracker.epcis.canonical import event_hash

SCHEMA_FILE = "EPCIS-JSON-Schema-bundled.json"
MAX_ID_LENGTH = 500
MAX_EPCS = 10_000
#: Errors listed in one refusal; the rest are counted.
MAX_ERRORS = 100

EVENT_TYPES = (
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
)

#: (field, role) of every identifier list or field an event may carry.
EPC_FIELDS = (
    ("epcList", "epc"),
    ("childEPCs", "child"),
    ("inputEPCList", "input"),
    ("outputEPCList", "output"),
)


@cache
def _validator() -> Any:
    text = (
        resources.files("tracker.epcis").joinpath("schema").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    )
    return jsonschema_rs.Draft7Validator(json.loads(text), validate_formats=True)


def pointer(path: Any) -> str:
    """A JSON pointer (RFC 6901) from a sequence of keys and indexes."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else "/"


def _nul_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, sub in value.items():
            if "\x00" in key:
                yield (*path, key)
            yield from _nul_paths(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from _nul_paths(sub, (*path, index))


def validate(document: Any) -> list[FieldError]:
    """Every reason to refuse ``document``, each with its JSON pointer; empty when it may be captured."""
    errors = [
        FieldError(pointer(p), "contains \\u0000, which cannot be stored") for p in _nul_paths(document)
    ]
    if errors:
        return errors[:MAX_ERRORS]
    found = list(_validator().iter_errors(document))
    paths = [tuple(e.instance_path) for e in found]
    for error, path in zip(found, paths, strict=True):
        # An if/then branch fails at the event *and* at the field to blame: name the field.
        if any(len(other) > len(path) and other[: len(path)] == path for other in paths):
            continue
        errors.append(FieldError(pointer(path), _message(error.message)))
    if not errors:
        errors = [e for i, event in enumerate(events_of(document)) for e in _tracker_rules(i, event)]
    if len(errors) > MAX_ERRORS:
        errors = [*errors[:MAX_ERRORS], FieldError("/", f"and {len(errors) - MAX_ERRORS} more errors")]
    return errors


def _message(message: str) -> str:
    # jsonschema-rs quotes the whole instance for some errors; a client needs the reason, not its data.
    return message if len(message) <= 300 else message[:297] + "..."


def events_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    body = document.get("epcisBody") or {}
    if "queryResults" in body:  # an EPCISQueryDocument
        return list((body["queryResults"].get("resultsBody") or {}).get("eventList") or [])
    return list(body.get("eventList") or [])


def list_path(document: dict[str, Any]) -> str:
    """The JSON pointer of the document's event list."""
    if "queryResults" in (document.get("epcisBody") or {}):
        return "/epcisBody/queryResults/resultsBody/eventList"
    return "/epcisBody/eventList"


def _tracker_rules(index: int, event: dict[str, Any]) -> Iterator[FieldError]:
    where = f"/epcisBody/eventList/{index}"
    event_id = event.get("eventID")
    if isinstance(event_id, str) and len(event_id) > MAX_ID_LENGTH:
        yield FieldError(f"{where}/eventID", f"at most {MAX_ID_LENGTH} characters")
    for name in ("eventTime", "recordTime"):
        at = parse_time(event.get(name))
        if at is not None and not EARLIEST <= at < LATEST:
            yield FieldError(f"{where}/{name}", "must lie from 2000-01-01 to before 2100-01-01 (UTC)")
    declared = parse_time((event.get("errorDeclaration") or {}).get("declarationTime"))
    if declared is not None and not EARLIEST <= declared < LATEST:
        yield FieldError(
            f"{where}/errorDeclaration/declarationTime", "must lie from 2000-01-01 to before 2100-01-01 (UTC)"
        )
    count = sum(len(event.get(name) or ()) for name, _ in EPC_FIELDS)
    if count > MAX_EPCS:
        yield FieldError(where, f"names {count} identifiers; at most {MAX_EPCS} are taken per event")


def parse_time(value: Any) -> datetime | None:
    """An EPCIS dateTime (the schema has checked its form) in UTC; None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    try:
        return at.astimezone(UTC)
    except OverflowError:
        return None


@dataclass(frozen=True)
class EpcisEvent:
    """One event of a document: what tracker indexes, and the event as received."""

    #: ``eventID`` as sent, or the canonical hash when the event has none.
    event_id: str
    event_hash: str
    event_type: str
    event_time: datetime
    time_zone_offset: str | None
    action: str | None
    biz_step: str | None
    disposition: str | None
    read_point: str | None
    biz_location: str | None
    parent_id: str | None
    #: (identifier, role) pairs: role ``epc``, ``child``, ``input``, ``output`` or ``parent``.
    epcs: tuple[tuple[str, str], ...]
    error_declaration: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def location(self) -> str | None:
        """Where it happened (linking, authorisation): the business location, else the read point."""
        return self.biz_location or self.read_point

    @property
    def corrective_ids(self) -> list[str]:
        return list((self.error_declaration or {}).get("correctiveEventIDs") or [])


def parse_events(document: dict[str, Any]) -> list[EpcisEvent]:
    """The document's events, in order (the document has passed :func:`validate`)."""
    out = []
    for raw in events_of(document):
        digest = event_hash(raw)
        epcs = [(str(e), role) for name, role in EPC_FIELDS for e in raw.get(name) or ()]
        if raw.get("parentID"):
            epcs.append((str(raw["parentID"]), "parent"))
        event_time = parse_time(raw.get("eventTime"))
        assert event_time is not None, "validated documents have an eventTime"
        out.append(
            EpcisEvent(
                event_id=str(raw.get("eventID") or digest),
                event_hash=digest,
                event_type=str(raw.get("type")),
                event_time=event_time,
                time_zone_offset=raw.get("eventTimeZoneOffset"),
                action=raw.get("action"),
                biz_step=raw.get("bizStep"),
                disposition=raw.get("disposition"),
                read_point=(raw.get("readPoint") or {}).get("id"),
                biz_location=(raw.get("bizLocation") or {}).get("id"),
                parent_id=raw.get("parentID"),
                epcs=tuple(dict.fromkeys(epcs)),
                error_declaration=raw.get("errorDeclaration"),
                raw=raw,
            )
        )
    return out
