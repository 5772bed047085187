"""Ops sees first what matters most: ``GET /api/v1/cases?sort=priority`` (vip, severity, answer due)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

import tracker
from tests.conftest import T0, Personas
from tests.helpers import registration
from tracker.cases import store as cases
from tracker.cases.priority import SEVERITY
from tracker.cases.reasons import Reason
from tracker.console import queue
from tracker.console.labels import CASE_TYPES, REASONS
from tracker.core.db import write_transaction
from tracker.core.models import Case, Parcel
from tracker.core.vocabulary import CaseType, ComplaintKind, CustomerTier
from tracker.detection.fake_delivery import DEFAULT_CONFIG


def _parcel(personas: Personas, engine: Any, tn: str, tier: str = "normal") -> int:
    assert (
        personas.merchant.post("/api/v1/parcels", json=registration(tn, customer_tier=tier)).status_code
        == 201
    )
    with engine.connect() as conn:
        return int(conn.scalar(select(Parcel.id).where(Parcel.tracking_number == tn)))


def _open(engine: Any, parcel_id: int, type_: CaseType, minutes: int, due_hours: float | None = None) -> int:
    with write_transaction(engine) as conn:
        case_id, _ = cases.open_case(
            conn, parcel_id, type_, [Reason("x", "y")], now=T0 + timedelta(minutes=minutes)
        )
        if due_hours is not None:
            conn.execute(
                update(Case).where(Case.id == case_id).values(due_at=T0 + timedelta(hours=due_hours))
            )
    return case_id


def test_vip_first_then_severity_then_the_earliest_answer_due(personas: Personas, engine: Any) -> None:
    stale_normal = _open(engine, _parcel(personas, engine, "TRKPR00001"), CaseType.STALE, 0)
    stale_vip = _open(engine, _parcel(personas, engine, "TRKPR00002", "vip"), CaseType.STALE, 5)
    late_answer = _open(engine, _parcel(personas, engine, "TRKPR00003"), CaseType.COMPLAINT, 1, due_hours=24)
    soon_answer = _open(engine, _parcel(personas, engine, "TRKPR00004"), CaseType.COMPLAINT, 2, due_hours=4)
    lost = _open(engine, _parcel(personas, engine, "TRKPR00005"), CaseType.LOST, 3)
    expected = [stale_vip, lost, soon_answer, late_answer, stale_normal]

    seen: list[int] = []
    url: str | None = "/api/v1/cases?sort=priority&limit=2"
    while url:
        page = personas.ops.get(url)
        assert page.status_code == 200, page.json
        seen += [c["case_id"] for c in page.json["cases"]]
        url = page.json["next"]

    assert seen == expected
    first = personas.ops.get("/api/v1/cases?sort=priority&limit=1").json["cases"][0]
    assert first["customer_tier"] == "vip"
    # Newest first stays the default.
    assert personas.ops.get("/api/v1/cases").json["cases"][0]["case_id"] == stale_vip


def test_a_cursor_of_the_other_order_is_a_422_naming_it(personas: Personas, engine: Any) -> None:
    parcel_id = _parcel(personas, engine, "TRKPR00010")
    _open(engine, parcel_id, CaseType.STALE, 0)
    _open(engine, parcel_id, CaseType.LOST, 1)
    newest = personas.ops.get("/api/v1/cases?limit=1").json["next"]
    cursor = newest.split("cursor=")[1]

    answer = personas.ops.get(f"/api/v1/cases?sort=priority&cursor={cursor}")

    assert answer.status_code == 422
    assert answer.json["error"]["fields"][0]["field"] == "cursor"


def test_every_case_type_has_a_rank_and_a_response_target() -> None:
    # One order for the API and the console (two tables disagreed); a type without a
    # response target made the console's queue a 500.
    assert set(SEVERITY) == set(CaseType)
    assert set(queue.RESPONSE_TARGET) == set(CaseType)


def test_every_case_type_has_words_in_the_console() -> None:
    # Without them the console showed the code ("工单 #4: complaint") on a Chinese page.
    assert set(CASE_TYPES) == {t.value for t in CaseType}


def test_every_reason_a_case_can_give_has_words_in_the_console() -> None:
    # Without them a Chinese case page led each reason with its code (eta_after_promise).
    source = Path(tracker.__file__).parent
    written = {
        code
        for path in source.rglob("*.py")
        for code in re.findall(r'Reason\(\s*"([a-z_]+)"', path.read_text(encoding="utf-8"))
    }
    made = {"damage_hotspot", "damage_rate"} | {f"complaint_{k.value}" for k in ComplaintKind}
    signals = set(DEFAULT_CONFIG.weights)
    assert len(written) > 10 and "silent" in written
    assert written | made | signals <= set(REASONS)


def test_the_due_time_shown_is_the_sooner_of_the_type_s_target_and_the_answer_owed() -> None:
    opened = datetime(2026, 12, 1, 2, tzinfo=UTC)
    owed = opened + timedelta(hours=4)  # a vip customer's complaint
    assert queue.due_at(CaseType.COMPLAINT, CustomerTier.VIP, opened, owed) == owed
    assert queue.due_at(CaseType.COMPLAINT, CustomerTier.NORMAL, opened) == opened + timedelta(hours=24)
    # A lost parcel (4 h) whose customer is owed an answer in 24 h is still due in 4 h.
    later = opened + timedelta(hours=24)
    assert queue.due_at(CaseType.LOST, CustomerTier.NORMAL, opened, later) == opened + timedelta(hours=4)
