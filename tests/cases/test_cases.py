"""Cases open once, keep their whole history, and customer complaints stay."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import T0
from tracker.cases import store as cases
from tracker.cases.reasons import Reason
from tracker.core.db import write_transaction
from tracker.core.errors import Conflict, ValidationFailed
from tracker.core.models import Case
from tracker.core.vocabulary import CaseType


@pytest.fixture
def parcel_id(personas: Any, engine: Any) -> int:
    personas.merchant.post(
        "/api/v1/parcels",
        json={"tracking_number": "TRKCASE0001", "service_level": "211", "destination": {"city": "上海"}},
    )
    with engine.connect() as conn:
        return int(
            conn.exec_driver_sql("SELECT id FROM parcels WHERE tracking_number = 'TRKCASE0001'").scalar()
        )


def test_it_opens_a_case_once_and_records_changed_reasons(engine: Any, parcel_id: int) -> None:
    with write_transaction(engine) as conn:
        first, opened = cases.open_case(conn, parcel_id, CaseType.STALE, [Reason("silent", "24 h")], now=T0)
        again, reopened = cases.open_case(conn, parcel_id, CaseType.STALE, [Reason("silent", "24 h")], now=T0)
        same, _ = cases.open_case(
            conn, parcel_id, CaseType.STALE, [Reason("silent", "30 h")], now=T0 + timedelta(hours=6)
        )
        trail = cases.history(conn, first, zone=UTC)
        count = conn.scalar(select(func.count()).select_from(Case))

    assert opened and not reopened and first == again == same
    assert count == 1
    assert [step["action"] for step in trail] == ["opened", "updated"]


def test_it_closes_a_system_case_when_the_parcel_moves_on_but_never_a_complaint(
    engine: Any, parcel_id: int
) -> None:
    with write_transaction(engine) as conn:
        stale, _ = cases.open_case(conn, parcel_id, CaseType.STALE, [Reason("silent", "24 h")], now=T0)
        cases.open_case(
            conn,
            parcel_id,
            CaseType.CUSTOMER_DISPUTE,
            [Reason("not_received", "customer says so")],
            now=T0,
            actor="customer",
        )
        closed_stale = cases.close_case(conn, parcel_id, CaseType.STALE, now=T0, why="new scan")
        closed_dispute = cases.close_case(conn, parcel_id, CaseType.CUSTOMER_DISPUTE, now=T0, why="new scan")
        trail = cases.history(conn, stale, zone=UTC)

    assert closed_stale and not closed_dispute
    assert trail[-1]["action"] == "closed" and trail[-1]["note"] == "new scan"


def test_it_keeps_the_audit_trail_of_acknowledge_and_resolve(engine: Any, parcel_id: int) -> None:
    with write_transaction(engine) as conn:
        case_id, _ = cases.open_case(
            conn, parcel_id, CaseType.DAMAGE, [Reason("damaged_scan", "SC-SH-01")], now=T0
        )
        cases.acknowledge(conn, case_id, now=T0 + timedelta(minutes=5), actor="ops:1", note="looking")
        with pytest.raises(ValidationFailed):
            cases.resolve(conn, case_id, "shrug", now=T0, actor="ops:1")
        cases.resolve(
            conn, case_id, "compensated", now=T0 + timedelta(hours=1), actor="ops:1", note="paid 20元"
        )
        with pytest.raises(Conflict):
            cases.resolve(conn, case_id, "confirmed", now=T0, actor="ops:1")
        trail = cases.history(conn, case_id, zone=UTC)
        # A new damage case may open after the last one was resolved.
        _, opened = cases.open_case(conn, parcel_id, CaseType.DAMAGE, [Reason("damaged_scan", "ST")], now=T0)

    assert [(s["action"], s["actor"]) for s in trail] == [
        ("opened", "system"),
        ("acknowledged", "ops:1"),
        ("resolved", "ops:1"),
    ]
    assert trail[-1]["data"] == {"resolution": "compensated"} and trail[-1]["note"] == "paid 20元"
    assert opened
