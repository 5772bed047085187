"""A failed write never puts a recipient's name or phone into an error text or a log line.

The engine hides bound parameters, and on PostgreSQL the row a NOT NULL or
CHECK violation quotes back is cut from the message as well.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError

from tracker.core.db import make_engine, write_transaction
from tracker.core.logs import JsonFormatter, TextFormatter
from tracker.core.models import Parcel

NAME, PHONE, STREET = "李秘密", "13912345678", "秘密路1号"


@pytest.fixture
def private_engine(database_url: str) -> Iterator[Engine]:
    # The engine the app makes (the suite's rolled-back PostgreSQL engine is built another way).
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _failed_insert(engine: Engine, **broken: Any) -> IntegrityError:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    row = {
        "tracking_number": "TRKP000001",
        "first_seen_at": now,
        "updated_at": now,
        "recipient_name": NAME,
        "recipient_phone": PHONE,
        "dest_address": STREET,
        **broken,
    }
    with pytest.raises(IntegrityError) as failed, write_transaction(engine) as conn:
        conn.execute(insert(Parcel).values(**row))
    return failed.value


def _logged(error: BaseException) -> str:
    """The error as tracker's log handlers write it (JSON and text), traceback and cause included."""
    try:
        raise error
    except IntegrityError:
        record = logging.LogRecord("tracker.http", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    return JsonFormatter().format(record) + TextFormatter().format(record)


def test_the_engine_hides_bound_parameters(private_engine: Engine) -> None:
    assert private_engine.hide_parameters is True


@pytest.mark.parametrize(
    "broken",
    [{"tracking_number": None}, {"status": "bogus"}, {"origin_facility": "NOPE-1"}],
    ids=["not-null", "check", "foreign-key"],
)
def test_a_failed_insert_names_no_recipient(private_engine: Engine, broken: dict[str, Any]) -> None:
    error = _failed_insert(private_engine, **broken)

    texts = {
        "str": str(error),
        "driver": str(error.orig),
        "traceback": "".join(traceback.format_exception(error)),
        "log": _logged(error),
    }
    for where, text in texts.items():
        for secret in (NAME, PHONE, STREET):
            assert secret not in text, f"{secret} in the {where}: {text}"
    # Still useful: the table and what failed.
    assert "parcels" in str(error) and "hidden" in str(error)
