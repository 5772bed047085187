"""The scan API's database connections: no ping per batch, and a dropped connection costs no scan.

A production pool (``make_engine``) pings each connection at checkout, one
round trip; a scan batch instead takes a connection that is not pinged and
runs again, once, when the connection turns out dead before the commit
(:func:`tracker.core.db.run_write`). PostgreSQL's: its pool pings, its
server drops connections.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event, func, select, text

from tests.conftest import T0, Personas
from tests.helpers import journey
from tests.tracking.test_reads import ON_POSTGRES, statements_sent
from tracker.core.db import run_write
from tracker.core.models import ScanEvent
from tracker.scans.ingest import IngestPolicy, store_scans
from tracker.scans.schemas import ScanEventIn


def _batch(prefix: str, parcels: int = 20) -> list[dict[str, Any]]:
    events = []
    for n in range(parcels):
        tn = f"TRK{prefix}{n:05d}"
        events += [
            {**e, "event_id": f"{tn}-{i}"}
            for i, e in enumerate(journey(tn, T0 - timedelta(hours=8), "C-SH011")[:3])
        ]
    return events


def _stored(engine: Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(
            select(func.count()).select_from(ScanEvent).where(ScanEvent.event_id.like(f"TRK{prefix}%"))
        )


def _drop(engine: Engine, pids: list[int]) -> int:
    with engine.connect() as admin:
        return admin.execute(
            text("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM unnest(:pids) AS pid) t"),
            {"pids": pids},
        ).scalar()


@ON_POSTGRES
@pytest.mark.committing  # the app's own pool (make_engine, pre-ping on), not the rolled-back test engine
def test_a_scan_batch_on_the_production_pool_sends_no_ping(personas: Personas, engine: Engine) -> None:
    personas.admin.post("/api/v1/scans", json={"events": _batch("P")})  # a fresh connection: never pinged
    with statements_sent(engine) as sent:
        answer = personas.admin.post("/api/v1/scans", json={"events": _batch("Q")})
    assert answer.status_code == 200
    assert answer.json["accepted"] == 60
    ping = engine.dialect._dialect_specific_select_one  # what the pool's ping sends
    assert sent, "the batch sent no statement"
    assert ping not in sent, sent


@ON_POSTGRES
@pytest.mark.committing  # the app's own pool, and connections the server drops
def test_a_scan_batch_on_connections_the_server_dropped_is_stored_once(
    personas: Personas, app: Any, engine: Engine
) -> None:
    writer = app.extensions["tracker"].unpinged
    assert writer is not engine  # not the pinged pool
    with writer.connect() as one, writer.connect() as two:  # two connections left in the pool
        backends = [conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() for conn in (one, two)]
    assert _drop(engine, backends) == 2

    answers = [personas.admin.post("/api/v1/scans", json={"events": _batch(p)}) for p in ("R", "S")]

    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json["accepted"] for a in answers] == [60, 60]
    assert (_stored(engine, "R"), _stored(engine, "S")) == (60, 60)


def _scans_work(engine: Engine, prefix: str, on_connection: Any) -> tuple[Any, list[int]]:
    """``run_write``'s work: store a batch of six scans; and the backend of each try, as they run.

    ``on_connection(conn, backends)`` runs at the start of each try.
    """
    events = [ScanEventIn.model_validate(e) for e in _batch(prefix, parcels=2)]
    policy = IngestPolicy(clock_skew=timedelta(0))
    backends: list[int] = []

    def work(conn: Any) -> Any:
        backends.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        on_connection(conn, backends)
        return store_scans(conn, events, source="admin", now=T0, policy=policy)

    return work, backends


@ON_POSTGRES
@pytest.mark.committing  # real commits, and a connection the server drops
def test_a_connection_lost_at_the_commit_is_not_written_twice(engine: Engine, network: Any) -> None:
    # The commit may have happened: running the batch again would answer its scans
    # "duplicate" to the client that sent them once. The error goes to the client,
    # whose retry finds out what was stored.
    def drop_at_commit(conn: Any, backends: list[int]) -> None:
        event.listen(conn, "commit", lambda _conn: _drop(engine, [backends[-1]]))

    work, backends = _scans_work(engine, "C", drop_at_commit)
    with pytest.raises(Exception) as raised:
        run_write(engine, work)
    assert getattr(raised.value, "connection_invalidated", False), raised.value
    assert len(backends) == 1
    assert _stored(engine, "C") == 0  # dropped before its commit reached the server


@ON_POSTGRES
@pytest.mark.committing  # real commits, and a connection the server drops
def test_a_connection_dropped_before_the_batch_runs_it_once_more(engine: Engine, network: Any) -> None:
    def drop_first(conn: Any, backends: list[int]) -> None:
        if len(backends) == 1:
            _drop(engine, backends)  # mid-transaction: the batch's next statement finds it dead

    work, backends = _scans_work(engine, "D", drop_first)
    report = run_write(engine, work)

    assert len(backends) == 2 and backends[0] != backends[1]
    assert report.count("accepted") == 6
    assert _stored(engine, "D") == 6


@ON_POSTGRES
@pytest.mark.committing  # the app's own pools
def test_scan_batches_reuse_one_connection_and_public_reads_keep_their_own(personas: Personas) -> None:
    # The batches share the pool without a ping (a worker keeps its idle connections
    # once), in a transaction; the public reads go over the connection the request
    # thread keeps (tracker.core.replicas.HeldConnections), outside one.
    sent: list[tuple[int, bool, str]] = []
    execute = psycopg.Cursor.execute

    def recording(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append((cursor.connection.info.backend_pid, cursor.connection.autocommit, str(query)))
        return execute(cursor, query, *args, **kwargs)

    def requests(prefix: str) -> list[int]:
        return [
            personas.admin.post("/api/v1/scans", json={"events": _batch(prefix, parcels=2)}).status_code,
            personas.admin.get(f"/api/v1/track/TRK{prefix}00000").status_code,
            personas.admin.get(f"/track/TRK{prefix}00001").status_code,
            personas.admin.post(
                "/api/v1/scans", json={"events": _batch(prefix + "2", parcels=2)}
            ).status_code,
        ]

    assert requests("W") == [200, 200, 200, 200]  # fills the caches (keys, ...) and opens the connections
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(psycopg.Cursor, "execute", recording)
        assert requests("X") == [200, 200, 200, 200]

    reads = [(pid, ac) for pid, ac, query in sent if query.lstrip().startswith("SELECT json_build_array")]
    writes = [(pid, ac) for pid, ac, query in sent if query.lstrip().startswith("UPDATE parcels")]
    assert len(reads) == 2 and len(writes) == 2, sent
    assert len({pid for pid, _ in reads}) == 1 and len({pid for pid, _ in writes}) == 1, sent  # reused
    assert reads[0][0] != writes[0][0]
    assert [ac for _, ac in reads] == [True, True] and [ac for _, ac in writes] == [False, False]
