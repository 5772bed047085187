"""Hostile input to the scan API: one bad event never fails its batch (issue 11, findings 1, 2, 3, 6).

Each bad kind (a control character in a text field or a nested one, a time
that overflows when converted to UTC, a time before 2000, a Unix time, a
non-finite or huge number) is its own rejection naming its field, while the
good events of the batch are stored; on SQLite and on PostgreSQL, whose text
and jsonb refuse NUL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.conftest import T0, Personas
from tests.helpers import at, journey, registration, scan
from tracker.core.inputs import EARLIEST, LATEST
from tracker.core.models import Parcel, ScanEvent
from tracker.scans.schemas import RejectedEvent, ScanEventIn, ScanSubmission, content_hashes

URL = "/api/v1/scans"


def _count(engine: Any, table: Any = ScanEvent) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)))


def _good_events() -> list[dict[str, Any]]:
    events = []
    for n in range(200):
        tn = f"TRKG{n:06d}"
        for i, e in enumerate(journey(tn, T0 - timedelta(hours=8))[:5]):
            events.append({**e, "event_id": f"{tn}-{i}"})
    # Tab and newline are the two control characters text may hold.
    events[0]["note"] = "gate 3\tbay 7\nleft by the door"
    return events


def _arrival(n: int, **changes: Any) -> dict[str, Any]:
    tn = f"TRKX{n:06d}"
    return {**scan(f"bad-{n}", tn, "arrived", at(T0, -30), facility="ST-SH-01"), **changes}


def _delivery(n: int, **changes: Any) -> dict[str, Any]:
    tn = f"TRKX{n:06d}"
    event = scan(f"bad-{n}", tn, "delivered", at(T0, -20), courier_id="C-SH011", lat=31.2, lon=121.45)
    return {**event, "pod": {"signed_by": "本人", "relation": "self"}, **changes}


#: (the bad event, the field its rejection must name)
BAD: list[tuple[dict[str, Any], str]] = [
    (_arrival(1, note="a\u0000b"), "note"),
    (_arrival(2, note="bell \u0007"), "note"),
    (_arrival(3, note="C1 \u0085 next line"), "note"),
    (_arrival(4, note="x" * 1001), "note"),
    (_arrival(5, event_id="bad-\u0000-5"), "event_id"),
    (_arrival(6, reason="del\u007f"), "reason"),
    (_arrival(7, facility="ST-SH-01\u0000"), "facility"),
    (_delivery(8, pod={"signed_by": "a\u0000b", "relation": "self"}), "pod.signed_by"),
    (
        _arrival(9, type="damaged", damage={"severity": "minor", "description": "esc \u001b[2J"}),
        "damage.description",
    ),
    (_arrival(10, occurred_at="0001-01-01T00:00:00+01:00"), "occurred_at"),
    (_arrival(11, occurred_at="9999-12-31T23:59:59-05:00"), "occurred_at"),
    (_arrival(12, occurred_at="1970-01-01T00:00:00Z"), "occurred_at"),
    (_arrival(13, occurred_at="1999-12-31T23:59:59+00:00"), "occurred_at"),
    (_arrival(14, occurred_at=0), "occurred_at"),
    (_arrival(15, occurred_at="1785000000"), "occurred_at"),
    (_arrival(16, occurred_at=at(T0, 60)), "occurred_at"),  # an hour ahead: more than the clock skew
    (_delivery(17, lat="NaN"), "lat"),
    (_delivery(18, lon="-Infinity"), "lon"),
    (_delivery(19, lat=5.507605922391574e22), "lat"),
    (_delivery(20, accuracy_m=1e308), "accuracy_m"),
    (_arrival(21, temperature_c=1e30), "temperature_c"),
    (_arrival(22, tracking_number="TRKX\u0000000022"), "tracking_number"),
]


def test_one_bad_event_of_every_kind_among_1000_good_ones_fails_only_itself(
    personas: Personas, engine: Any
) -> None:
    good = _good_events()
    body_events: list[dict[str, Any]] = []
    where: dict[int, str] = {}
    step = len(good) // len(BAD)
    for k, (event, _field) in enumerate(BAD):
        body_events.extend(good[k * step : (k + 1) * step])
        where[len(body_events)] = _field
        body_events.append(event)
    body_events.extend(good[len(BAD) * step :])

    answer = personas.admin.post(URL, json={"events": body_events})

    assert answer.status_code == 200, answer.get_json()
    report = answer.get_json()
    assert (report["accepted"], report["duplicates"], report["rejected"]) == (1000, 0, len(BAD))
    for index, field in where.items():
        result = report["results"][index]
        assert result["result"] == "rejected", (index, result)
        assert [e["field"] for e in result["errors"]] == [field], (index, result)
    messages = {report["results"][i]["errors"][0]["message"] for i in where}
    assert "must not contain control characters (U+0000)" in messages
    assert "must lie from 2000-01-01 to before 2100-01-01 (UTC)" in messages
    assert _count(engine) == 1000
    with engine.connect() as conn:
        assert (
            conn.scalar(select(func.count()).select_from(Parcel).where(Parcel.tracking_number.like("TRKX%")))
            == 0
        )
        note = conn.scalar(select(ScanEvent.note).where(ScanEvent.event_id == good[0]["event_id"]))
    assert note == "gate 3\tbay 7\nleft by the door"


def test_a_lone_event_with_a_nul_is_a_422_naming_the_field(personas: Personas, engine: Any) -> None:
    answer = personas.admin.post(URL, json=_delivery(1, pod={"signed_by": "\u0000"}))

    assert answer.status_code == 422
    assert answer.get_json()["error"]["fields"] == [
        {"field": "pod.signed_by", "message": "must not contain control characters (U+0000)"}
    ]
    assert _count(engine) == 0


def test_a_note_s_line_breaks_are_stored_as_newlines(personas: Personas, engine: Any) -> None:
    answer = personas.admin.post(URL, json=_arrival(1, note="line one\r\nline two\rline three"))

    assert answer.status_code == 201, answer.get_json()
    with engine.connect() as conn:
        assert conn.scalar(select(ScanEvent.note)) == "line one\nline two\nline three"


# -- finding 3: a later copy of an event id in the same batch ----------------------------------


def _results(answer: Any) -> list[tuple[str, str | None]]:
    body = answer.get_json()
    return [(r["result"], (r.get("errors") or [{}])[0].get("field")) for r in body["results"]]


def test_after_x_is_stored_two_copies_of_a_different_x_are_both_conflicts(
    personas: Personas, engine: Any
) -> None:
    x = _arrival(1)
    assert personas.admin.post(URL, json=x).status_code == 201
    changed = {**x, "note": "not what was stored"}

    twice = personas.admin.post(URL, json={"events": [changed, changed]})
    then_the_original = personas.admin.post(URL, json={"events": [changed, x]})

    assert _results(twice) == [("rejected", "event_id"), ("rejected", "event_id")]
    assert _results(then_the_original) == [("rejected", "event_id"), ("duplicate", None)]
    assert _count(engine) == 1


def test_copies_of_a_new_event_in_one_batch_are_settled_against_the_first(
    personas: Personas, engine: Any
) -> None:
    y = _arrival(2)
    other = {**y, "note": "another content, the same id"}

    answer = personas.admin.post(URL, json={"events": [y, y, other]})

    assert _results(answer) == [("accepted", None), ("duplicate", None), ("rejected", "event_id")]
    assert _count(engine) == 1


# -- parcels: the same rules ---------------------------------------------------------------------


def test_a_parcel_with_a_hostile_field_is_a_422_naming_it_and_stores_nothing(
    personas: Personas, engine: Any
) -> None:
    def refused(body: dict[str, Any]) -> list[str]:
        answer = personas.merchant.post("/api/v1/parcels", json=body)
        assert answer.status_code == 422, answer.get_json()
        return [f["field"] for f in answer.get_json()["error"]["fields"]]

    base = registration("TRKP000001")
    far = (T0 + timedelta(days=400)).isoformat()
    assert refused({**base, "recipient": {"name": "李\u0000", "phone": "13912345678"}}) == ["recipient.name"]
    assert refused({**base, "destination": {**base["destination"], "address": "1号\u0000"}}) == [
        "destination.address"
    ]
    assert refused({**base, "ordered_at": "0001-01-01T00:00:00+01:00"}) == ["ordered_at"]
    window = {"start": at(T0, 60), "end": "9999-12-31T23:59:59-05:00"}
    assert refused({**base, "appointment": window}) == ["appointment.end"]
    assert refused({**base, "ordered_at": far}) == ["ordered_at"]
    later = (T0 + timedelta(days=400, hours=2)).isoformat()
    assert refused({**base, "appointment": {"start": far, "end": later}}) == [
        "appointment.start",
        "appointment.end",
    ]
    assert refused({**base, "weight_kg": "NaN"}) == ["weight_kg"]
    assert refused({**base, "service_level": "2\u00001"}) == ["service_level"]
    assert _count(engine, Parcel) == 0


# -- the schema never raises, whatever an event holds ---------------------------------------------

_hostile_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _hostile_text
    | st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "2026-11-20T10:00:00+08:00", "NaN", "0.5"]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_hostile_text, inner, max_size=3),
    max_leaves=8,
)
_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda m: f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
)
#: Any wall time of years 1 to 9999 at any offset: the ends overflow when converted to UTC.
_timestamps = st.builds(lambda at, offset: at.isoformat() + offset, st.datetimes(), _offsets)
_FIELDS = [
    "event_id",
    "occurred_at",
    "facility",
    "courier_id",
    "lat",
    "lon",
    "accuracy_m",
    "temperature_c",
    "pod",
    "damage",
    "reason",
    "note",
]


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(_FIELDS),
    value=_json | _timestamps,
    nested=st.sampled_from(["signed_by", "description", None]),
)
def test_whatever_one_event_holds_its_batch_validates(field: str, value: Any, nested: str | None) -> None:
    good = _arrival(1)
    bad = _delivery(2, type="damaged", damage={"severity": "minor"})
    if nested == "signed_by":
        bad["pod"] = {"signed_by": value}
    elif nested == "description":
        bad["damage"] = {"severity": "minor", "description": value}
    else:
        bad[field] = value

    events, _ = ScanSubmission.model_validate({"events": [good, bad]}).events()

    assert isinstance(events[0], ScanEventIn)
    assert isinstance(events[1], ScanEventIn | RejectedEvent)
    if isinstance(events[1], ScanEventIn):
        event = events[1]
        assert EARLIEST <= event.occurred_at < LATEST and event.occurred_at.utcoffset() == timedelta(0)
        # What the store computes next, for the batch at once: the same as one by one.
        assert content_hashes([events[0], event]) == [events[0].content_hash(), event.content_hash()]
