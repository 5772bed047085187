"""Batches stored at once that share parcels and event ids: each event once, no deadlock (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tracker.core.db import write_transaction
from tracker.core.models import Parcel, ScanEvent
from tracker.scans.ingest import IngestPolicy, store_scans
from tracker.scans.schemas import ScanEventIn

START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@pytest.mark.committing  # one connection per thread
def test_overlapping_batches_at_once_store_each_event_once_and_fold_it_once(
    engine: Any, network: Any
) -> None:
    # 60 parcels with 8 scans each, one time-ordered stream; every thread sends
    # its slices of it and, as a client retrying, its neighbour's slices too.
    stream = [
        ScanEventIn.model_validate(
            {
                "event_id": f"cc-{p:03d}-{k}",
                "tracking_number": f"TRKC{p:06d}",
                "type": "arrived" if k % 2 == 0 else "departed",
                "occurred_at": (START + timedelta(minutes=10 * k + p % 7)).isoformat(),
                "facility": "SC-SH-01",
            }
        )
        for k in range(8)
        for p in range(60)
    ]
    slices = [stream[i : i + 40] for i in range(0, len(stream), 40)]
    threads = 4
    work = [
        [s for n, s in enumerate(slices) if n % threads in (t, (t + 1) % threads)] for t in range(threads)
    ]
    policy = IngestPolicy(clock_skew=timedelta(minutes=5))
    now = START + timedelta(days=1)
    failures: list[BaseException] = []

    def send(batches: list[list[ScanEventIn]]) -> None:
        try:
            for batch in batches:
                with write_transaction(engine) as conn:
                    store_scans(conn, batch, source="facility", now=now, policy=policy)
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    workers = [threading.Thread(target=send, args=(batches,)) for batches in work]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    assert failures == []
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(ScanEvent)) == len(stream)
        parcels = conn.execute(select(Parcel.tracking_number, Parcel.event_count, Parcel.last_event_id)).all()
    assert len(parcels) == 60
    assert {count for _, count, _ in parcels} == {8}
    assert all(last == f"cc-{number[-3:]}-7" for number, _, last in parcels)
