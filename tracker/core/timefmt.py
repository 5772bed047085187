"""The one form of a time in every answer and every reason (pure: stdlib only).

Ops answers once spoke UTC, the public API the local offset, and case reasons
said ``CST`` (China Standard Time or US Central?) or a bare minute. Every place
that turns an instant into text for a reader calls :func:`iso_local`, so
the API speaks one language: ISO 8601 in the configured local zone
(``Settings.timezone``), to the second, the offset always written out
(``2026-12-01T09:51:00+08:00``): never ``Z``, never an abbreviation.

The zone is passed in: domain code never reads settings; views pass
``runtime().settings.timezone``.

Case reasons written by detection keep their instants in UTC, as stored
data should (the sweep compares them to tell new evidence from evidence a
person already judged, so their text must not change with a setting); the
answers show them local through :func:`localize_text`, as every other time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

__all__ = ["iso_local", "iso_local_or_none", "localize_text"]

#: An ISO 8601 instant with an offset, as Python writes one (minutes or
#: seconds, optional fraction): the times inside stored reason texts.
_INSTANT = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[+-]\d{2}:\d{2}|Z)")


def iso_local(at: datetime, zone: tzinfo) -> str:
    """``at`` as ISO 8601 in ``zone``, seconds precision, offset always shown.

    A naive ``at`` is read as UTC (the database stores UTC).
    """
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(zone).isoformat(timespec="seconds")


def iso_local_or_none(at: datetime | None, zone: tzinfo) -> str | None:
    """:func:`iso_local`, passing ``None`` through (an optional field)."""
    return iso_local(at, zone) if at is not None else None


def localize_text(text: str, zone: tzinfo) -> str:
    """``text`` with every ISO 8601 instant in it rewritten by :func:`iso_local`.

    ``"found 2026-12-01T01:51+00:00"`` reads ``"found 2026-12-01T09:51:00+08:00"``
    in Asia/Shanghai. A text already local is unchanged; anything that only
    looks like an instant (a month 13) is left as written.
    """

    def local(match: re.Match[str]) -> str:
        try:
            return iso_local(datetime.fromisoformat(match.group()), zone)
        except ValueError:
            return match.group()

    return _INSTANT.sub(local, text)
