"""Message ids: unique, and in the order the notifications were made."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from tracker.notify.payloads import new_message_ids


def test_message_ids_are_distinct_version_7_uuids_in_the_order_they_were_made() -> None:
    before = datetime.now(UTC)
    first = new_message_ids(300)
    time.sleep(0.002)
    second = new_message_ids(300)

    assert len(set(first + second)) == 600
    assert first == sorted(first) and second == sorted(second)
    assert max(first) < min(second)  # a later batch sorts after an earlier one
    for message_id in first + second:
        assert message_id.startswith("msg_")
        parsed = uuid.UUID(message_id.removeprefix("msg_"))
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    # The id leads with its creation time in milliseconds since the epoch.
    made = datetime.fromtimestamp(int(first[0][4:16], 16) / 1000, UTC)
    assert abs((made - before).total_seconds()) < 1
