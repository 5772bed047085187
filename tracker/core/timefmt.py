"""The one form of a time in every answer and every reason (pure: stdlib only).

Ops answers once spoke UTC, the public API the local offset, and case reasons
said ``CST`` (China Standard Time or US Central?) or a bare minute. Every place
that turns an instant into text for a reader calls :func:`iso_local`, so
the API speaks one language: ISO 8601 in the configured local zone
(``Settings.timezone``), to the second, the offset always written out
(``2026-12-01T09:51:00+08:00``): never ``Z``, never an abbreviation.

The zone is passed in: domain code never reads settings; views pass
``runtime().settings.timezone``.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

__all__ = ["iso_local", "iso_local_or_none"]


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
