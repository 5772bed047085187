"""The one rule for text, for time and for numbers in every request (pure: pydantic only).

Every request model (scans, parcels, routing, cases, reports, public
feedback) builds its fields from these types, so a class of hostile input is
refused once, the same way, with a 422 naming the field, before anything
reaches the database or the solver.

**Text.** No control characters but tab and newline: the C0 controls
U+0000-U+001F except U+0009 and U+000A, DEL U+007F, and the C1 controls
U+0080-U+009F are refused ("must not contain control characters (U+0000)").
PostgreSQL's ``text`` and ``jsonb`` refuse NUL outright, and the other
controls only ever come from a bug or an attack. Multi-line kinds
(:data:`Note`, :data:`CaseNote`) accept the line breaks browsers send
(CR LF, a lone CR) and store them as LF. The documented lengths, per kind
(a field whose database column is narrower uses :func:`text` with its width):

==============  =====  ==========================================================
kind            chars  for
==============  =====  ==========================================================
:data:`Word`       32  a word of a vocabulary: relation, resolution, service level,
                       customer tier; code filters
:data:`Phrase`     64  a short phrase: a scan's reason, a city, a district
:data:`Name`      100  names and ids: event ids, recipient names, ``signed_by``,
                       ids in a routing problem
:data:`Address`   300  a street address
:data:`Note`     1000  free text: scan notes, damage descriptions, customer comments
:data:`CaseNote` 2000  an operator's note on a case
:data:`Message`  2000  ops' answer to a customer (not blank)
==============  =====  ==========================================================

A console user's name (:data:`Username`) is 1 to 64 letters, digits and
``. _ @ -``: it is written into case histories as ``user:<username>``.

**Time.** :data:`Instant` is an RFC 3339 date-time with an offset (not a
Unix time, not a naive time) from :data:`EARLIEST` (2000-01-01) to before
:data:`LATEST` (2100-01-01), UTC; it is returned in UTC. A time whose conversion to
UTC overflows is out of range too (``0001-01-01T00:00:00+01:00``,
``9999-12-31T23:59:59-05:00`` are a 422, not a 500). Bounds that depend on
*now* cannot be known to a schema (tests and the demo run on their own
clock): they are checked where ``now`` is, with
:func:`horizon_errors`: a scan's ``occurred_at`` at most the configured
clock skew ahead (:mod:`tracker.scans.ingest`), and what is planned
(``ordered_at``, appointments, promises, shifts, a station's plan date) at
most :data:`PLAN_HORIZON` ahead. :data:`PlanDate` is a calendar day in the
same static range.

**Numbers.** A number in a JSON body is a JSON number: :data:`Number` and
:data:`Integer` refuse a string (``"31.2"``) and a boolean (``true``), which
pydantic's lax mode would read as 31.2 and 1.0 (a query parameter is text
by nature and stays lax). Floats are finite (``allow_inf_nan=False`` in every request
model's config: ``"NaN"`` and ``"Infinity"`` are refused); database ids are
at most :data:`BIGINT_MAX` (:data:`DatabaseId`); the routing solver's bounds
live with its schema (:mod:`tracker.routing.schemas`).
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from tracker.core.errors import FieldError

# -- text ---------------------------------------------------------------------------------

#: The refused characters, as a regular-expression class (Python and ECMA alike).
CONTROL_CHARACTERS = r"\x00-\x08\x0b-\x1f\x7f-\x9f"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
#: What the OpenAPI documents (``pattern``): the same class, negated.
PRINTABLE = f"^[^{CONTROL_CHARACTERS}]*$"
_LINE_CLASS = CONTROL_CHARACTERS
# Multi-line kinds also document CR, which they turn into LF.
_LINES_CLASS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"


def no_control_characters(value: str) -> str:
    """``value`` if it holds no control character but tab and newline; else ``ValueError``."""
    bad = _CONTROL.search(value)
    if bad is not None:
        raise ValueError(f"must not contain control characters (U+{ord(bad.group()):04X})")
    return value


def _unix_newlines(value: Any) -> Any:
    return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else value


# Blank: what pydantic's ``str_strip_whitespace`` (Rust's ``trim``) removes, so that a
# required text of spaces is refused whether or not its model strips.
_BLANK = r"\t\n\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_NOT_BLANK = re.compile(f"[^{_BLANK}]")


def not_blank(value: str) -> str:
    """``value`` if it holds a character that is not a space; else ``ValueError``."""
    if _NOT_BLANK.search(value) is None:
        raise ValueError("must not be blank")
    return value


def text(max_length: int, *, min_length: int = 0, multiline: bool = False) -> Any:
    """A text field of at most ``max_length`` characters under the one text rule.

    With ``min_length``, it must also hold a character that is not a space
    ("  " is refused, stripped or not): the OpenAPI's pattern says so too, so a
    client (or a fuzzer) reading it knows that a blank value is not one.
    """
    allowed = _LINES_CLASS if multiline else _LINE_CLASS
    pattern = f"^[^{allowed}]*$"
    if min_length:
        pattern = f"^[^{allowed}]*[^{allowed}{_BLANK}][^{allowed}]*$"
    checks: list[Any] = [
        # The length first: a BeforeValidator under it would turn pydantic's
        # "at least 1 character" into "at least 1 item after validation".
        StringConstraints(min_length=min_length or None, max_length=max_length),
        *([BeforeValidator(_unix_newlines)] if multiline else []),
        AfterValidator(no_control_characters),
        *([AfterValidator(not_blank)] if min_length else []),
        Field(json_schema_extra={"pattern": pattern}),
    ]
    return Annotated[(str, *checks)]


Word = text(32)
Phrase = text(64)
Name = text(100)
Address = text(300)
Note = text(1000, multiline=True)
CaseNote = text(2000, multiline=True)
Message = text(2000, min_length=1, multiline=True)
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
Username = Annotated[str, StringConstraints(pattern=USERNAME_PATTERN, max_length=64)]

# -- time ---------------------------------------------------------------------------------

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
#: How far ahead anything planned may lie: a year (and a leap day).
PLAN_HORIZON = timedelta(days=366)

# RFC 3339's date part must lead; pydantic alone also reads "0.5" or 1e9 as a Unix time.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")


def check_instant(value: datetime) -> datetime:
    """An aware ``value`` in UTC if it lies in [2000-01-01, 2100-01-01); else ``ValueError``.

    Converting year 1 at +01:00 (or 9999-12-31 at -05:00) overflows: that is
    out of range too, never an ``OverflowError``. (Converting first, then
    comparing in UTC, is four times faster than comparing across offsets.)
    """
    if value.tzinfo is None:
        raise ValueError("must carry a UTC offset")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError(f"must lie from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} (UTC)")
    return utc


def _instant(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime:
    # One Python call per value (scans validate thousands): shape, parse, range, UTC.
    if isinstance(value, str):
        if _DATE_TIME.match(value) is None:
            raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-20T09:30:00+08:00")
    elif not isinstance(value, datetime):
        raise ValueError("must be an RFC 3339 date-time string with an offset")
    return check_instant(handler(value))


#: What the OpenAPI states of the range (a year 20xx as written); the exact bound is in UTC.
_YEAR_20XX = r"^20[0-9]{2}-"

Instant = Annotated[
    AwareDatetime,
    WrapValidator(_instant),
    Field(
        description="RFC 3339 with an offset, from 2000-01-01 to before 2100-01-01 (UTC).",
        json_schema_extra={"pattern": _YEAR_20XX},
    ),
]

FIRST_DAY = EARLIEST.date()
LAST_DAY = (LATEST - timedelta(days=1)).date()
PlanDate = Annotated[
    date,
    Field(
        ge=FIRST_DAY,
        le=LAST_DAY,
        description="A calendar day, from 2000-01-01 to 2099-12-31.",
        json_schema_extra={"pattern": _YEAR_20XX},
    ),
]


def horizon_errors(now: datetime, times: dict[str, datetime | None]) -> list[FieldError]:
    """A :class:`FieldError` for each of ``times`` (field: instant) after ``now`` + :data:`PLAN_HORIZON`."""
    latest = now + PLAN_HORIZON
    return [
        FieldError(name, f"lies more than a year ahead (after {latest:%Y-%m-%d}); plans reach a year at most")
        for name, at in times.items()
        if at is not None and at > latest
    ]


# -- opaque tokens ------------------------------------------------------------------------

#: What a page cursor or token given out by this API is made of: unpadded URL-safe base64.
OPAQUE_TOKEN = r"^[A-Za-z0-9_-]*$"


def unpadded_base64(token: str) -> bytes:
    """The bytes of an unpadded URL-safe base64 ``token``; ``ValueError`` for any other
    character. (``base64.urlsafe_b64decode`` skips foreign characters, NUL among
    them, so a forged token would get as far as the parser.)"""
    if re.fullmatch(OPAQUE_TOKEN, token) is None:
        raise ValueError("not unpadded URL-safe base64")
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def opaque_token(max_length: int = 200) -> Any:
    """The type of a list's ``cursor`` (or page token) parameter. Its alphabet is
    documented, and refused by :func:`unpadded_base64`, so that a client knows NUL
    and the like are no cursor."""
    return Annotated[
        str, StringConstraints(max_length=max_length), Field(json_schema_extra={"pattern": OPAQUE_TOKEN})
    ]


# -- numbers ------------------------------------------------------------------------------

#: The largest id a BIGINT column holds (PostgreSQL; SQLite's INTEGER is as wide).
BIGINT_MAX = 2**63 - 1
#: The largest value an INTEGER column holds.
INTEGER_MAX = 2**31 - 1

DatabaseId = Annotated[int, Field(ge=1, le=BIGINT_MAX)]

#: A number in a request body: a JSON number (an integer is one too), never a string or a boolean.
Number = Annotated[float, Strict()]


def _json_integer(value: Any) -> Any:
    # JSON Schema's "integer" is a number without a fraction, so 281.0 is one
    # (a client's JSON library may well write it so); "281" and true are not.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON integer (not a string or a boolean)")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


#: An integer in a request body: a JSON integer (``3`` or ``3.0``), never a
#: string, a boolean or a fraction.
Integer = Annotated[int, BeforeValidator(_json_integer)]
