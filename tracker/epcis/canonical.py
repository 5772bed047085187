"""The canonical hash of an EPCIS event: its identity when it has no ``eventID`` (pure).

CBV 2.0 (section 8.9, "event hash ID") defines a syntax-independent hash of an
event: the values of its fields are concatenated in a fixed order into a
*pre-hash string*, each value normalised, and the string's SHA-256 is written
``ni:///sha-256;<hex>?ver=CBV2.0``. Two captures of the same event, whatever
their key order, whitespace, time zone or identifier spelling, get the same
hash; any change of content gives another. tracker stores an event without an
``eventID`` under this hash and uses it to tell a replay from a new event.

What is implemented (after the CBV text and GS1's reference generator,
github.com/RalphTro/epcis-event-hash-generator):

1. ``eventType=<type>``, then the fields in the CBV order
   (:data:`ORDER`): eventTime, eventTimeZoneOffset, epcList, parentID,
   inputEPCList, childEPCs, quantity lists, outputEPCList, action,
   transformationID, bizStep, disposition, persistentDisposition,
   readPoint, bizLocation, bizTransactionList, sourceList, destinationList,
   sensorElementList; each present field as ``name=value``, structures as
   their name followed by their children, a list's entries sorted.
2. Values normalised: times in UTC with milliseconds and ``Z``; numbers
   without trailing zeros; CBV bare words as CBV web URIs
   (``shipping`` -> ``https://ref.gs1.org/cbv/BizStep-shipping``);
   ``gs1:`` measurement types as ``https://gs1.org/voc/...``; EPC URNs as
   canonical GS1 Digital Links (:func:`tracker.epcis.identifiers.canonical`).
3. Every other field (user extensions, ``ilmd``, ``certificationInfo``)
   appended as sorted ``name=value`` strings, recursively.
4. ``eventID``, ``recordTime`` and ``errorDeclaration`` are left out: an
   error declaration is the same event, declared erroneous.

Not implemented, so a hash here may differ from the reference generator's
for some events: CURIE prefixes of extensions are not expanded through the
document's ``@context`` (an extension ``example:x`` hashes as written), and
EPC URN schemes outside :mod:`tracker.epcis.identifiers` stay as given.
Inside tracker that only means two spellings of such an event are two events.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from tracker.epcis.identifiers import canonical as canonical_uri

_QUANTITY = ("epcClass", "quantity", "uom")
_SENSOR_METADATA = (
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
)
_SENSOR_REPORT = (
    "type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time",
    "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue",
    "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev", "percRank",
    "percValue", "uom", "coordinateReferenceSystem",
)  # fmt: skip

#: (field, how its value is written): "value", "epcs", "quantities", "id", "typed:<key>", "sensors".
ORDER: tuple[tuple[str, str], ...] = (
    ("eventTime", "value"),
    ("eventTimeZoneOffset", "value"),
    ("epcList", "epcs"),
    ("parentID", "value"),
    ("inputEPCList", "epcs"),
    ("childEPCs", "epcs"),
    ("quantityList", "quantities"),
    ("childQuantityList", "quantities"),
    ("inputQuantityList", "quantities"),
    ("outputEPCList", "epcs"),
    ("outputQuantityList", "quantities"),
    ("action", "value"),
    ("transformationID", "value"),
    ("bizStep", "value"),
    ("disposition", "value"),
    ("persistentDisposition", "persistent"),
    ("readPoint", "id"),
    ("bizLocation", "id"),
    ("bizTransactionList", "typed:bizTransaction"),
    ("sourceList", "typed:source"),
    ("destinationList", "typed:destination"),
    ("sensorElementList", "sensors"),
)
EXCLUDED = frozenset({"eventID", "recordTime", "errorDeclaration", "type", "@context"})

_CBV_WORDS = {
    "bizStep": "https://ref.gs1.org/cbv/BizStep-",
    "disposition": "https://ref.gs1.org/cbv/Disp-",
    "set": "https://ref.gs1.org/cbv/Disp-",
    "unset": "https://ref.gs1.org/cbv/Disp-",
    "bizTransactionType": "https://ref.gs1.org/cbv/BTT-",
    "sourceType": "https://ref.gs1.org/cbv/SDT-",
    "destinationType": "https://ref.gs1.org/cbv/SDT-",
}
_OLD_CBV = {
    "urn:epcglobal:cbv:bizstep:": "https://ref.gs1.org/cbv/BizStep-",
    "urn:epcglobal:cbv:disp:": "https://ref.gs1.org/cbv/Disp-",
    "urn:epcglobal:cbv:btt:": "https://ref.gs1.org/cbv/BTT-",
    "urn:epcglobal:cbv:sdt:": "https://ref.gs1.org/cbv/SDT-",
    "urn:epcglobal:cbv:er:": "https://ref.gs1.org/cbv/ER-",
}


def event_hash(event: dict[str, Any]) -> str:
    """The event's hash ID, ``ni:///sha-256;<hex>?ver=CBV2.0``."""
    digest = hashlib.sha256(pre_hash(event).encode()).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


def pre_hash(event: dict[str, Any]) -> str:
    parts = [f"eventType={event.get('type', '')}"]
    for name, kind in ORDER:
        if name in event and event[name] not in (None, [], {}):
            parts.append(_field(name, kind, event[name]))
    done = {name for name, _ in ORDER} | EXCLUDED
    parts.append(_generic({k: v for k, v in event.items() if k not in done}))
    return "".join(parts)


def _field(name: str, kind: str, value: Any) -> str:
    if kind == "value":
        return f"{name}={_value(name, value)}"
    if kind == "epcs":
        return name + "".join(sorted(f"epc={canonical_uri(str(e))}" for e in value))
    if kind == "quantities":
        return name + "".join(sorted("quantityElement" + _ordered(q, _QUANTITY) for q in value))
    if kind == "id":
        return f"{name}id={canonical_uri(str(value.get('id', '')))}" + _generic(_without(value, ("id",)))
    if kind == "persistent":
        return name + "".join(
            f"{key}={_cbv(key, str(v))}" for key in ("set", "unset") for v in sorted(value.get(key, ()))
        )
    if kind.startswith("typed:"):
        key = kind.split(":", 1)[1]
        return name + "".join(
            sorted(
                f"{key}={canonical_uri(str(entry.get(key, '')))}"
                + (f"type={_cbv(key + 'Type', str(entry['type']))}" if "type" in entry else "")
                for entry in value
            )
        )
    # sensors: each element's metadata then reports, in the CBV order; elements sorted
    elements = []
    for element in value:
        text = "sensorElement"
        if element.get("sensorMetadata"):
            text += "sensorMetadata" + _ordered(element["sensorMetadata"], _SENSOR_METADATA)
        reports = sorted(
            "sensorReport" + _ordered(r, _SENSOR_REPORT) for r in element.get("sensorReport", ())
        )
        text += "".join(reports)
        text += _generic(_without(element, ("sensorMetadata", "sensorReport")))
        elements.append(text)
    return name + "".join(sorted(elements))


def _ordered(obj: dict[str, Any], order: tuple[str, ...]) -> str:
    known = "".join(f"{key}={_value(key, obj[key])}" for key in order if key in obj and obj[key] is not None)
    return known + _generic(_without(obj, order))


def _without(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


def _generic(obj: Any) -> str:
    """Fields outside the CBV order: sorted ``name=value`` strings, recursively."""
    if not isinstance(obj, dict):
        return ""
    out = []
    for key, value in obj.items():
        if isinstance(value, dict):
            out.append(key + _generic(value))
        elif isinstance(value, list):
            out.append(
                key
                + "".join(sorted(_generic(v) if isinstance(v, dict) else f"={_value(key, v)}" for v in value))
            )
        else:
            out.append(f"{key}={_value(key, value)}")
    return "".join(sorted(out))


def _value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(value)
    text = str(value).strip()
    lowered = name.lower()
    if "time" in lowered and "offset" not in lowered and lowered != "timezone":
        return _time(text)
    if name == "type" and not text.startswith(("http://", "https://")):
        # A measurement type: bare or gs1: words are GS1 web vocabulary.
        return (
            "https://gs1.org/voc/" + text.removeprefix("gs1:")
            if ":" not in text or text.startswith("gs1:")
            else text
        )
    return _cbv(name, text)


def _cbv(name: str, text: str) -> str:
    for old, new in _OLD_CBV.items():
        if text.startswith(old):
            return new + text[len(old) :]
    prefix = _CBV_WORDS.get(name)
    if prefix and ":" not in text:
        return prefix + text
    return canonical_uri(text) if ":" in text else text


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _time(text: str) -> str:
    try:
        at = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return text
    if at.tzinfo is None:
        return text
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
