"""The scan API, on SQLite and on PostgreSQL: what couriers and facilities rely on."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from psycopg.errors import DataError
from sqlalchemy import func, select

from tests.conftest import T0, FakeClock, Personas
from tests.helpers import at, journey, registration, scan
from tracker.core import bulk
from tracker.core.models import NotificationEvent, Parcel, ScanEvent
from tracker.scans import ingest


def _count_events(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(ScanEvent))


def _thousand_events(courier: str = "C-SH011") -> list[dict[str, Any]]:
    events = []
    for n in range(200):
        tn = f"TRKB{n:06d}"
        for i, e in enumerate(journey(tn, T0 - timedelta(hours=8), courier)[:5]):
            events.append({**e, "event_id": f"{tn}-{i}"})
    return events


def test_it_accepts_1000_good_events_and_rejects_the_bad_one_by_field(
    personas: Personas, engine: Any
) -> None:
    events = _thousand_events()
    bad = scan("bad-1", "TRKB000001", "arrived", "2026-11-20T10:00:00", facility="SC-SH-01")
    body = {"events": [*events[:500], bad, *events[500:]]}

    first = personas.admin.post("/api/v1/scans", json=body)

    assert first.status_code == 200
    assert (first.json["accepted"], first.json["duplicates"], first.json["rejected"]) == (1000, 0, 1)
    rejected = first.json["results"][500]
    assert rejected["event_id"] == "bad-1" and rejected["result"] == "rejected"
    assert rejected["errors"][0]["field"] == "occurred_at"
    assert "timezone" in rejected["errors"][0]["message"]
    assert _count_events(engine) == 1000

    again = personas.admin.post("/api/v1/scans", json=body)

    assert (again.json["accepted"], again.json["duplicates"], again.json["rejected"]) == (0, 1000, 1)
    assert _count_events(engine) == 1000


def _states(engine: Any, prefix: str) -> dict[str, tuple[Any, ...]]:
    columns = [
        c
        for c in Parcel.__table__.columns
        # A pickup code is drawn at random when the parcel is seen waiting at its point, and
        # checked by the collected scan that follows it: both depend on what arrived first.
        if c.name
        not in ("id", "tracking_number", "updated_at", "first_seen_at", "pickup_code", "pickup_code_check")
    ]
    with engine.connect() as conn:
        rows = conn.execute(
            select(Parcel.tracking_number, *columns).where(Parcel.tracking_number.like(f"{prefix}%"))
        ).all()

    def strip(value: Any) -> Any:
        # Event ids carry the prefix ("ATRK...-03"); facility codes may contain its letter.
        return (
            value.removeprefix(prefix)
            if isinstance(value, str) and value.startswith(prefix + "TRK")
            else value
        )

    return {row[0].removeprefix(prefix): tuple(strip(v) for v in row[1:]) for row in rows}


def test_it_derives_identical_parcel_state_from_shuffled_batches(personas: Personas, engine: Any) -> None:
    from tracker.sim.simulator import simulate_day

    day = simulate_day(T0, seed=3, parcels=60)

    def renamed(prefix: str) -> list[dict[str, Any]]:
        return [
            {**e, "event_id": prefix + e["event_id"], "tracking_number": prefix + e["tracking_number"]}
            for e in day.events
        ]

    in_order = renamed("A")
    shuffled = renamed("B")
    random.Random(1).shuffle(shuffled)

    assert personas.admin.post("/api/v1/scans", json={"events": in_order}).json["rejected"] == 0
    for start in range(0, len(shuffled), 37):
        answer = personas.admin.post("/api/v1/scans", json={"events": shuffled[start : start + 37]})
        assert answer.json["rejected"] == 0

    a, b = _states(engine, "A"), _states(engine, "B")
    assert len(a) == 60
    assert a == b


def test_it_refuses_a_courier_key_reporting_as_another_courier(personas: Personas, engine: Any) -> None:
    events = journey("TRKC000001", T0 - timedelta(hours=6), courier="C-SH012")[5:]

    answer = personas.courier.post("/api/v1/scans", json={"events": events})

    assert answer.status_code == 403
    message = answer.json["error"]["message"]
    assert "C-SH011" in message and "C-SH012" in message
    assert _count_events(engine) == 0


def test_it_refuses_a_facility_key_scanning_at_another_facility(personas: Personas, engine: Any) -> None:
    event = scan("e1", "TRKC000002", "arrived", at(T0, -30), facility="ST-SH-02")

    answer = personas.station.post("/api/v1/scans", json=event)

    assert answer.status_code == 403
    assert "ST-SH-01" in answer.json["error"]["message"] and "ST-SH-02" in answer.json["error"]["message"]
    assert _count_events(engine) == 0


def test_it_stamps_a_bound_keys_scans_with_its_courier_and_facility(personas: Personas) -> None:
    personas.station.post("/api/v1/scans", json=scan("s1", "TRKD000001", "arrived", at(T0, -30)))
    personas.courier.post("/api/v1/scans", json=scan("s2", "TRKD000001", "out_for_delivery", at(T0, -20)))

    record = personas.ops.get("/api/v1/parcels/TRKD000001").json

    assert [e.get("facility") for e in record["events"]] == ["ST-SH-01", None]
    assert [e.get("courier_id") for e in record["events"]] == [None, "C-SH011"]


def test_it_rejects_a_naive_timestamp_naming_occurred_at(personas: Personas) -> None:
    answer = personas.courier.post(
        "/api/v1/scans", json=scan("n1", "TRKE000001", "arrived", "2026-11-20T10:00:00")
    )

    assert answer.status_code == 422
    assert answer.json["error"]["fields"][0]["field"] == "occurred_at"


def _errors(answer: Any) -> dict[str, str]:
    """A rejected lone event answers in the one error shape (``{"error": {..., "fields"}}``)."""
    return {e["field"]: e["message"] for e in answer.json["error"]["fields"]}


def test_it_names_each_bad_field_of_an_event(personas: Personas, clock: FakeClock) -> None:
    cases = [
        (scan("v1", "TRKE000002", "teleported", at(T0)), "type"),
        (scan("v2", "TRKE000002", "arrived", at(T0), lat=91.0, lon=121.0), "lat"),
        (scan("v3", "TRKE000002", "arrived", at(T0), lat=31.0, lon=181.0), "lon"),
        (scan("v4", "TRKE000002", "arrived", at(T0, 60)), "occurred_at"),
        ({"event_id": "v5", "type": "arrived", "occurred_at": at(T0)}, "tracking_number"),
        (scan("v6", "TRKE000002", "damaged", at(T0)), "damage"),
        (scan("v7", "TRKE000002", "arrived", at(T0), facility="NOPE-1"), "facility"),
        (scan("v8", "TRKE000002", "arrived", at(T0), colour="red"), "colour"),
    ]
    for body, field in cases:
        answer = personas.admin.post("/api/v1/scans", json=body)
        assert answer.status_code == 422, body
        assert field in _errors(answer), (body, answer.json)


def test_it_accepts_a_small_clock_skew_but_not_more(personas: Personas) -> None:
    near = personas.courier.post("/api/v1/scans", json=scan("k1", "TRKE000003", "arrived", at(T0, 4)))
    far = personas.courier.post("/api/v1/scans", json=scan("k2", "TRKE000003", "arrived", at(T0, 6)))

    assert near.status_code == 201
    assert far.status_code == 422
    assert "future" in _errors(far)["occurred_at"]


def test_it_answers_duplicate_for_a_replay_and_conflict_for_different_content(personas: Personas) -> None:
    event = scan("r1", "TRKF000001", "arrived", at(T0, -10), facility="SC-SH-01")
    assert personas.admin.post("/api/v1/scans", json=event).status_code == 201

    replay = personas.admin.post("/api/v1/scans", json=event)
    changed = personas.admin.post("/api/v1/scans", json={**event, "facility": "ST-SH-01"})

    assert replay.status_code == 200 and replay.json["duplicates"] == 1
    assert changed.status_code == 409 and changed.json["error"]["code"] == "conflict"
    assert "conflict" in _errors(changed)["event_id"]


def test_a_batch_mixing_stored_and_new_events_stores_the_new_ones_and_judges_the_rest(
    personas: Personas, engine: Any
) -> None:
    # On PostgreSQL the batch's plain insert fails on the stored ids and is done again
    # with ON CONFLICT (tracker.core.bulk.insert_events): nothing new may be lost there.
    first = scan("m1", "TRKF000003", "arrived", at(T0, -30), facility="SC-SH-01")
    second = scan("m2", "TRKF000003", "departed", at(T0, -25), facility="SC-SH-01")
    assert personas.admin.post("/api/v1/scans", json={"events": [first, second]}).json["accepted"] == 2
    new = scan("m3", "TRKF000003", "arrived", at(T0, -10), facility="ST-SH-01")
    body = {"events": [new, first, {**second, "facility": "ST-SH-01"}]}

    answer = personas.admin.post("/api/v1/scans", json=body)
    parcel = personas.ops.get("/api/v1/parcels/TRKF000003").json

    assert [r["result"] for r in answer.json["results"]] == ["accepted", "duplicate", "rejected"]
    assert _count_events(engine) == 3
    assert [e["event_id"] for e in parcel["events"]] == ["m1", "m2", "m3"]
    assert parcel["last_facility"] == "ST-SH-01"


def test_the_bulk_lookups_never_split_one_tracking_number_into_two(personas: Personas, engine: Any) -> None:
    # On PostgreSQL the batch's tracking numbers and ids go to the server as one
    # comma-separated text (tracker.core.bulk._joined): a comma inside a value
    # would look up two parcels. The API refuses such numbers; the store must too.
    for n in (1, 2):
        answer = personas.admin.post(
            "/api/v1/scans", json=scan(f"k{n}", f"TRKK00000{n}", "arrived", at(T0, -30), facility="SC-SH-01")
        )
        assert answer.status_code == 201
    with engine.begin() as conn:
        ids = bulk.parcel_ids(conn, ["TRKK000001", "TRKK000002"])
        assert len(ids) == 2
        assert not _looked_up(lambda: bulk.parcel_ids(conn, ["TRKK000001,TRKK000002"]))
        assert [r.id for r in bulk.lock_parcels(conn, ["id"], sorted(ids.values()))] == sorted(ids.values())


def _looked_up(lookup: Any) -> Any:
    """What ``lookup`` found; nothing when it refused its input."""
    try:
        return lookup()
    except ValueError:
        return None


def test_it_judges_an_event_id_repeated_within_one_batch(personas: Personas, engine: Any) -> None:
    event = scan("w1", "TRKF000002", "arrived", at(T0, -10))
    body = {"events": [event, event, {**event, "type": "departed"}]}

    answer = personas.courier.post("/api/v1/scans", json=body)

    assert [r["result"] for r in answer.json["results"]] == ["accepted", "duplicate", "rejected"]
    assert _count_events(engine) == 1


def test_it_creates_an_unregistered_parcel_from_a_scan_and_fills_it_in_later(personas: Personas) -> None:
    personas.admin.post(
        "/api/v1/scans", json=scan("u1", "TRKG000001", "arrived", at(T0, -30), facility="SC-SH-01")
    )
    before = personas.ops.get("/api/v1/parcels/TRKG000001").json

    registered = personas.merchant.post("/api/v1/parcels", json=registration("TRKG000001"))
    after = personas.ops.get("/api/v1/parcels/TRKG000001").json

    assert before["registered"] is False and before["status"] == "in_transit"
    assert registered.status_code == 200 and registered.json["result"] == "completed"
    assert after["registered"] is True and after["status"] == "in_transit"
    assert after["recipient"]["phone"] == "13800001234"
    assert len(after["events"]) == 1


def test_it_registers_idempotently_and_refuses_a_different_registration(personas: Personas) -> None:
    body = registration("TRKG000002")
    first = personas.merchant.post("/api/v1/parcels", json=body)
    again = personas.merchant.post("/api/v1/parcels", json=body)
    different = personas.merchant.post("/api/v1/parcels", json={**body, "weight_kg": 3.0})

    assert (first.status_code, again.status_code, different.status_code) == (201, 200, 409)


def test_it_names_bad_registration_fields(personas: Personas) -> None:
    body = registration(
        "TRKG000003",
        service_level="warp",
        origin_facility="WH-XX-99",
        pickup_point="ST-SH-01",
        appointment={"start": at(T0, 60), "end": at(T0, 30)},
    )

    answer = personas.merchant.post("/api/v1/parcels", json=body)

    assert answer.status_code == 422
    fields = {f["field"] for f in answer.json["error"]["fields"]}
    assert fields == {"appointment.end"}
    body.pop("appointment")
    answer = personas.merchant.post("/api/v1/parcels", json=body)
    fields = {f["field"] for f in answer.json["error"]["fields"]}
    assert fields == {"service_level", "origin_facility", "pickup_point"}


def test_it_shows_ops_the_timeline_in_occurred_at_order(personas: Personas) -> None:
    events = journey("TRKH000001", T0 - timedelta(hours=7))
    personas.admin.post("/api/v1/scans", json={"events": list(reversed(events))})

    record = personas.ops.get("/api/v1/parcels/TRKH000001").json

    assert [e["event_id"] for e in record["events"]] == [e["event_id"] for e in events]
    assert record["status"] == "delivered"
    assert record["delivered_at"] is not None


def test_it_requires_a_valid_key(personas: Personas) -> None:
    event = scan("a1", "TRKI000001", "arrived", at(T0))
    missing = personas.anonymous.post("/api/v1/scans", json=event)
    wrong = personas.anonymous.post("/api/v1/scans", json=event, headers={"Authorization": "Bearer trk_nope"})

    assert missing.status_code == 401 and "missing" in missing.json["error"]["message"]
    assert wrong.status_code == 401 and "unknown" in wrong.json["error"]["message"]


def test_it_keeps_roles_apart(personas: Personas) -> None:
    assert (
        personas.merchant.post("/api/v1/scans", json=scan("m1", "TRKI000002", "arrived", at(T0))).status_code
        == 403
    )
    assert personas.courier.post("/api/v1/parcels", json=registration("TRKI000002")).status_code == 403
    # A station reads no parcels; a courier reads only those of its day (tests/merchants), else 404.
    assert personas.station.get("/api/v1/parcels/TRKI000002").status_code == 403
    assert personas.courier.get("/api/v1/parcels/TRKI000002").status_code == 404
    assert personas.courier.patch("/api/v1/parcels/TRKI000002", json={}).status_code == 403
    assert personas.ops.get("/api/v1/parcels/TRKI000404").status_code == 404


def test_it_answers_malformed_json_with_the_parse_error(personas: Personas) -> None:
    answer = personas.courier.post("/api/v1/scans", data='{"events": [', content_type="application/json")

    assert answer.status_code == 400
    assert "malformed JSON" in answer.json["error"]["message"]


def test_it_refuses_an_oversized_batch_and_an_oversized_body(
    personas: Personas, app: Any, engine: Any
) -> None:
    events = [scan(f"o{n}", "TRKJ000001", "arrived", at(T0, -n)) for n in range(5001)]
    too_many = personas.courier.post("/api/v1/scans", json={"events": events})
    app.config["MAX_CONTENT_LENGTH"] = 2048
    too_big = personas.courier.post("/api/v1/scans", json={"events": events[:100]})

    assert too_many.status_code == 413 and "5000" in too_many.json["error"]["message"]
    assert too_big.status_code == 413
    assert _count_events(engine) == 0


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_parcel_write_the_server_refuses_undoes_the_whole_batch(
    personas: Personas, engine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parcels' UPDATE is sent pipelined (tracker.core.bulk.pipelined): its error
    # reaches ingest after it has gone on to build the outbox rows. It must still
    # fail the batch, leaving no event, parcel state or notification behind.
    body = {"events": journey("TRKP000001", T0 - timedelta(hours=8))[:3]}
    real = ingest.state_columns
    monkeypatch.setattr(ingest, "state_columns", lambda state: {**real(state), "event_count": "three"})

    with pytest.raises(DataError, match="integer"):
        personas.admin.post("/api/v1/scans", json=body)

    assert _count_events(engine) == 0
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(NotificationEvent)) == 0
        assert conn.scalar(select(Parcel.event_count).where(Parcel.tracking_number == "TRKP000001")) is None
    monkeypatch.setattr(ingest, "state_columns", real)
    again = personas.admin.post("/api/v1/scans", json=body)
    assert again.json["accepted"] == 3
    assert personas.ops.get("/api/v1/parcels/TRKP000001").json["status"] == "in_transit"
