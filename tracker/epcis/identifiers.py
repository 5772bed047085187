"""GS1 identifiers in EPCIS events: EPC URNs and GS1 Digital Link URIs (pure).

An EPCIS event names things and places by URI, in one of two spellings of
the same GS1 key (GS1 EPC Tag Data Standard, GS1 Digital Link standard)::

    urn:epc:id:sscc:4012345.0111111111          (EPC pure identity URN)
    https://id.gs1.org/00/040123451111111118     (GS1 Digital Link, any host)

:func:`canonical` turns either into one canonical Digital Link on
``id.gs1.org`` (host, query string and extra path segments dropped), so the
two spellings compare equal: the event hash uses it (:mod:`tracker.epcis.canonical`),
parcels are found by the SSCC in it (:func:`sscc_of`), and locations are
looked up by it (:func:`location_key`). A URI of another form (a ``geo:``
read point, a company's own URN) is its own canonical form.

Covered URN schemes: ``sgtin``, ``sscc``, ``sgln``, ``grai``, ``giai``,
``pgln`` (``urn:epc:id:``) and ``lgtin`` (``urn:epc:class:``); others
(``sgcn``, ``gdti``, patterns) are kept as given.
"""

from __future__ import annotations

import re

DIGITAL_LINK_HOST = "https://id.gs1.org"

#: Primary-key application identifiers a Digital Link path may start with.
_PRIMARY_AIS = (
    "00",
    "01",
    "253",
    "255",
    "401",
    "402",
    "414",
    "417",
    "8003",
    "8004",
    "8006",
    "8010",
    "8017",
    "8018",
)
_DL_PATH = re.compile(r"^https?://[^/?#]+(?:/[^?#]*?)?/(" + "|".join(_PRIMARY_AIS) + r")/([^?#]*)")
_SSCC = re.compile(r"^\d{18}$")


def check_digit(digits: str) -> str:
    """The GS1 mod-10 check digit of ``digits`` (weights 3, 1, 3... from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _sgtin(parts: list[str]) -> str | None:
    if len(parts) != 3 or not (parts[0] + parts[1]).isdigit() or len(parts[0] + parts[1]) != 13:
        return None
    company, item, serial = parts
    body = item[0] + company + item[1:]
    return f"/01/{body}{check_digit(body)}/21/{serial}"


def _lgtin(parts: list[str]) -> str | None:
    if len(parts) != 3 or not (parts[0] + parts[1]).isdigit() or len(parts[0] + parts[1]) != 13:
        return None
    company, item, lot = parts
    body = item[0] + company + item[1:]
    return f"/01/{body}{check_digit(body)}/10/{lot}"


def _sscc(parts: list[str]) -> str | None:
    if len(parts) != 2 or not (parts[0] + parts[1]).isdigit() or len(parts[0] + parts[1]) != 17:
        return None
    company, serial = parts
    body = serial[0] + company + serial[1:]
    return f"/00/{body}{check_digit(body)}"


def _sgln(parts: list[str]) -> str | None:
    if len(parts) != 3 or not (parts[0] + parts[1]).isdigit() or len(parts[0] + parts[1]) != 12:
        return None
    company, location, extension = parts
    gln = company + location
    path = f"/414/{gln}{check_digit(gln)}"
    # Extension "0" is the GLN itself (TDS: no AI 254).
    return path if extension == "0" else f"{path}/254/{extension}"


def _pgln(parts: list[str]) -> str | None:
    if len(parts) != 2 or not (parts[0] + parts[1]).isdigit() or len(parts[0] + parts[1]) != 12:
        return None
    gln = parts[0] + parts[1]
    return f"/417/{gln}{check_digit(gln)}"


def _grai(parts: list[str]) -> str | None:
    if len(parts) != 3 or not (parts[0] + parts[1]).isdigit() or len(parts[0] + parts[1]) != 12:
        return None
    company, asset, serial = parts
    body = company + asset
    return f"/8003/0{body}{check_digit(body)}{serial}"


def _giai(parts: list[str]) -> str | None:
    if len(parts) != 2 or not parts[0].isdigit():
        return None
    return f"/8004/{parts[0]}{parts[1]}"


_URN_SCHEMES = {
    "urn:epc:id:sgtin:": _sgtin,
    "urn:epc:id:sscc:": _sscc,
    "urn:epc:id:sgln:": _sgln,
    "urn:epc:id:pgln:": _pgln,
    "urn:epc:id:grai:": _grai,
    "urn:epc:id:giai:": _giai,
    "urn:epc:class:lgtin:": _lgtin,
}


def canonical(uri: str) -> str:
    """``uri`` as a canonical GS1 Digital Link when it is a GS1 key; else as given (trimmed)."""
    uri = uri.strip()
    for prefix, convert in _URN_SCHEMES.items():
        if uri.startswith(prefix):
            path = convert(uri[len(prefix) :].split("."))
            return DIGITAL_LINK_HOST + path if path else uri
    match = _DL_PATH.match(uri)
    if match:
        return f"{DIGITAL_LINK_HOST}/{match.group(1)}/{match.group(2).rstrip('/')}"
    return uri


def sscc_of(uri: str) -> str | None:
    """The 18-digit SSCC an EPC or Digital Link names, or None (not an SSCC, or a bad check digit)."""
    key = canonical(uri)
    prefix = f"{DIGITAL_LINK_HOST}/00/"
    if not key.startswith(prefix):
        return None
    sscc = key[len(prefix) :].split("/", 1)[0]
    if not _SSCC.match(sscc) or check_digit(sscc[:-1]) != sscc[-1]:
        return None
    return sscc


def is_valid_sscc(value: str) -> bool:
    return bool(_SSCC.match(value)) and check_digit(value[:-1]) == value[-1]


def gln_of(uri: str) -> str | None:
    """The 13-digit GLN of a location without an extension (SGLN ``.0`` or Digital Link ``/414/``)."""
    key = canonical(uri)
    prefix = f"{DIGITAL_LINK_HOST}/414/"
    if not key.startswith(prefix) or "/254/" in key:
        return None
    return key[len(prefix) :]


def location_key(uri: str) -> str:
    """The form under which a read point or business location is mapped to a facility."""
    return canonical(uri)
