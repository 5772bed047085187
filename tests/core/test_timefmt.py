"""The one time form (tracker.core.timefmt): answers and reason texts in the local zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tracker.core.timefmt import iso_local, localize_text

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_an_instant_reads_local_to_the_second_with_its_offset() -> None:
    assert iso_local(datetime(2026, 12, 1, 1, 51, tzinfo=UTC), SHANGHAI) == "2026-12-01T09:51:00+08:00"
    # The database hands back naive UTC on SQLite.
    assert iso_local(datetime(2026, 12, 1, 1, 51), SHANGHAI) == "2026-12-01T09:51:00+08:00"


def test_stored_reason_texts_show_their_instants_local() -> None:
    stored = (
        "minor damage recorded by a arrived scan at HUB-SH, 2026-12-01T01:51+00:00; "
        "last seen whole: departed at WH-HZ, 2026-11-30T23:05:30.250000+00:00 and 2026-11-30T16:00Z"
    )

    assert localize_text(stored, SHANGHAI) == (
        "minor damage recorded by a arrived scan at HUB-SH, 2026-12-01T09:51:00+08:00; "
        "last seen whole: departed at WH-HZ, 2026-12-01T07:05:30+08:00 and 2026-12-01T00:00:00+08:00"
    )


def test_localizing_is_idempotent_and_leaves_other_text_alone() -> None:
    local = "promised by 2026-11-20T23:00:00+08:00, TRK2026-11-20T99:99+00:00 is not a time, 20 s apart"

    assert localize_text(local, SHANGHAI) == local
    assert localize_text(localize_text(local, UTC), SHANGHAI) == local
