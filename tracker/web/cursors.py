"""Page cursors and ``next`` links: one encoding and one refusal for every list of the API.

A cursor is the last row's place in the list's order, written as text and sent
as unpadded URL-safe base64: opaque, so clients pass it back rather than build
one. Each list says what its text holds (a time and an id, a parcel id, a sort
key); :func:`decode` reads it with the list's parser and turns whatever that
parser refuses into the one ``ValueError`` (:data:`NOT_OURS`). The query models
call the decoder from a field validator, so a forged cursor is the same 422
naming ``cursor`` on every list.

``next`` is the URL of this request with the new cursor in place of the old
one, the filters kept (:func:`next_page_url`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import request
from sqlalchemy import and_, or_

from tracker.core.inputs import BIGINT_MAX, check_instant, unpadded_base64

T = TypeVar("T")

#: What a cursor this API did not give out is told, on every list.
NOT_OURS = "not a cursor this API gave out"


def encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def text_of(cursor: str) -> str:
    """The text inside ``cursor``; ``ValueError`` when it is not base64 of UTF-8."""
    return unpadded_base64(cursor).decode()


def decode(cursor: str, parse: Callable[[str], T]) -> T:
    """``parse`` of the cursor's text; anything it (or the base64) refuses is :data:`NOT_OURS`."""
    try:
        return parse(text_of(cursor))
    except (ValueError, TypeError):
        raise ValueError(NOT_OURS) from None


def encode_time_id(at: datetime, row_id: int) -> str:
    """A cursor for a list ordered by a time, then an id."""
    return encode(f"{at.isoformat()}|{row_id}")


def parse_time_id(text: str) -> tuple[datetime, int]:
    """The text of :func:`encode_time_id`, bounded like every time and id of a request:
    a forged cursor is a 422, not a database error."""
    at, _, row_id = text.partition("|")
    instant = check_instant(datetime.fromisoformat(at))
    if not 1 <= int(row_id) <= BIGINT_MAX:
        raise ValueError("no id")
    return instant, int(row_id)


def decode_time_id(cursor: str) -> tuple[datetime, int]:
    return decode(cursor, parse_time_id)


def older_than(cursor: str, at: Any, row_id: Any) -> Any:
    """The rows after ``cursor`` in a newest-first list ordered by (``at``, ``row_id``) descending."""
    last_at, last_id = decode_time_id(cursor)
    return or_(at < last_at, and_(at == last_at, row_id < last_id))


def next_page_url(cursor: str, **pinned: str) -> str:
    """This request's URL with ``cursor`` (and the ``pinned`` parameters) in place of its own."""
    params = {k: v for k, v in request.args.items() if k != "cursor" and k not in pinned}
    params.update(pinned)
    params["cursor"] = cursor
    return f"{request.path}?{urlencode(params)}"


def page_and_next(
    rows: Sequence[Any], limit: int, cursor_of: Callable[[Any], str], **pinned: str
) -> tuple[Sequence[Any], str | None]:
    """The first ``limit`` of ``rows`` (read one more than a page, to know whether another
    follows) and the URL of the next page, ``None`` on the last."""
    page = rows[:limit]
    return page, next_page_url(cursor_of(page[-1]), **pinned) if len(rows) > limit else None
