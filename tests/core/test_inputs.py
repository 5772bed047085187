"""The one text rule and the one time rule (tracker.core.inputs), on their own."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from tracker.core.errors import field_errors
from tracker.core.inputs import (
    PRINTABLE,
    DatabaseId,
    Instant,
    Name,
    Note,
    PlanDate,
    Word,
    horizon_errors,
)


class Form(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    word: Word | None = None
    name: Name | None = None
    note: Note | None = None
    at: Instant | None = None
    day: PlanDate | None = None
    id: DatabaseId | None = None


def _errors(**data: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as error:
        Form.model_validate(data)
    return {f.field: f.message for f in field_errors(error.value)}


CONTROLS = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if chr(c) not in "\t\n\r"]


@pytest.mark.parametrize("control", CONTROLS, ids=lambda c: f"U+{ord(c):04X}")
def test_every_control_character_but_tab_and_newline_is_refused_by_name(control: str) -> None:
    assert _errors(name=f"a{control}b") == {
        "name": f"must not contain control characters (U+{ord(control):04X})"
    }
    assert "note" in _errors(note=f"a{control}b")


def test_tab_newline_and_every_script_are_text() -> None:
    text = "张三\t李四\nO'Brien — Zoë 🚚 \u2028 \ufeff"
    assert Form(name=text).name == text


def test_a_carriage_return_is_a_line_break_in_notes_only() -> None:
    assert Form(note="one\r\ntwo\rthree").note == "one\ntwo\nthree"
    assert _errors(word="a\rb") == {"word": "must not contain control characters (U+000D)"}


def test_the_documented_pattern_is_the_rule() -> None:
    documented = re.compile(PRINTABLE)
    for code in range(0x3000):
        char = chr(code)
        try:
            Form(name=f"x{char}x")
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == bool(documented.match(f"x{char}x")), f"U+{code:04X}"


def test_lengths_are_those_of_the_kind() -> None:
    assert Form(word="w" * 32, name="n" * 100, note="n" * 1000)
    assert set(_errors(word="w" * 33, name="n" * 101, note="n" * 1001)) == {"word", "name", "note"}


@pytest.mark.parametrize(
    "sent",
    [
        "0001-01-01T00:00:00+01:00",  # converting to UTC overflows
        "9999-12-31T23:59:59-05:00",  # likewise, the other way
        "1970-01-01T00:00:00Z",
        "1999-12-31T23:59:59.999999Z",
        "2000-01-01T00:30:00+01:00",  # 1999 in UTC
        "2099-12-31T23:59:59-05:00",  # 2100 in UTC
        "2100-01-01T00:00:00Z",
    ],
)
def test_instants_outside_2000_to_2099_in_utc_are_refused(sent: str) -> None:
    assert _errors(at=sent) == {"at": "must lie from 2000-01-01 to before 2100-01-01 (UTC)"}


@pytest.mark.parametrize("sent", [0, 1.7e9, "0.5", "1785000000", True, "tomorrow", "2026-11-20"])
def test_an_instant_is_an_rfc_3339_string_not_a_unix_time(sent: Any) -> None:
    assert set(_errors(at=sent)) == {"at"}


def test_an_instant_needs_an_offset_and_comes_back_in_utc() -> None:
    assert "timezone" in _errors(at="2026-11-20T10:00:00")["at"]
    assert Form(at="2000-01-01T08:00:00+08:00").at == datetime(2000, 1, 1, tzinfo=UTC)
    assert Form(at="2026-11-20T10:00:00+08:00").at == datetime(2026, 11, 20, 2, tzinfo=UTC)
    assert Form(at=datetime(2026, 11, 20, 2, tzinfo=UTC)).at == datetime(2026, 11, 20, 2, tzinfo=UTC)


def test_plan_dates_and_database_ids_have_bounds() -> None:
    assert Form(day="2099-12-31", id=2**63 - 1).day == date(2099, 12, 31)
    assert set(_errors(day="9999-12-31", id=2**63)) == {"day", "id"}
    assert set(_errors(day="1999-12-31", id=0)) == {"day", "id"}


def test_the_horizon_is_a_year_from_now() -> None:
    now = datetime(2026, 11, 20, 4, tzinfo=UTC)
    times = {"a": now + timedelta(days=366), "b": now + timedelta(days=367), "c": None}

    assert [e.field for e in horizon_errors(now, times)] == ["b"]
