"""scan_events partitioned by month on PostgreSQL: made ahead, dropped whole, idempotent across months.

Through the real scan API (an admin key) and the real commands (``tracker db
upgrade``, ``tracker db partitions list|ensure|drop-before`` through Click's
runner) on a database of the test's own (dropping partitions under the
session's shared database would pull tables from under the other tests'
cleanup). The commands read the real clock, so the months are this one and
the next three, and the app's clock is moved through them; a run that
crosses the end of a month at midnight UTC would see other month names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from tests.conftest import POSTGRES_URL, FakeClock
from tests.helpers import at, scan
from tracker.app import create_app
from tracker.cli import main
from tracker.core import partitions
from tracker.core.db import create_database, drop_database, make_engine, write_transaction
from tracker.core.vocabulary import Role
from tracker.keys.store import create_key
from tracker.scans.directory import load_network
from tracker.settings import Settings
from tracker.sim.simulator import build_network

Post = Callable[[dict[str, Any]], tuple[int, str]]


@pytest.fixture
def database() -> Iterator[str]:
    admin = make_engine(POSTGRES_URL, pool_size=1)
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: no server here
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}")
    finally:
        admin.dispose()
    url = create_database(POSTGRES_URL, "tracker_partitions")
    yield url
    drop_database(POSTGRES_URL, url)


def _tracker(database: str, tmp_path: Any, *args: str, answer: str | None = None) -> Result:
    env = {"TRACKER_DATABASE_URL": database, "TRACKER_INSTANCE_PATH": str(tmp_path / "cli")}
    return CliRunner().invoke(main, list(args), env=env, input=answer)


def _migrated_with_api(
    database: str, settings: Settings, tmp_path: Any, clock: FakeClock
) -> tuple[Engine, Post, Callable[[], None]]:
    """The database migrated by ``tracker db upgrade``, the network loaded, a poster of scans."""
    upgraded = _tracker(database, tmp_path, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    engine = make_engine(database)
    with write_transaction(engine) as conn:
        network = build_network()
        load_network(conn, network.facilities, network.couriers)
        key = create_key(conn, Role.ADMIN, now=clock.now)
    app = create_app(settings.but(database_url=database), clock=clock)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {key}"}

    def post(event: dict[str, Any]) -> tuple[int, str]:
        answer = client.post("/api/v1/scans", json=event, headers=auth)
        if answer.status_code >= 400:
            return answer.status_code, answer.json["error"]["code"]
        return answer.status_code, "duplicate" if answer.json.get("duplicates") else "accepted"

    def close() -> None:
        app.extensions["tracker"].engine.dispose()
        engine.dispose()

    return engine, post, close


def _where(engine: Engine) -> dict[str, list[str]]:
    """Event ids by the partition that holds them."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT tableoid::regclass::text, event_id FROM scan_events ORDER BY 2")
        ).all()
    found: dict[str, list[str]] = {}
    for table, event_id in rows:
        found.setdefault(table, []).append(event_id)
    return found


@pytest.mark.postgres
@pytest.mark.committing
def test_events_land_in_their_month_old_months_drop_whole_and_replays_stay_duplicates(
    database: str, settings: Settings, tmp_path: Any
) -> None:
    this_month = partitions.first_of_month(datetime.now(UTC))
    months = [partitions.add_months(this_month, n) for n in range(4)]
    names = [partitions.month_name(month) for month in months]
    moments = [datetime(m.year, m.month, 10, 4, 0, tzinfo=UTC) for m in months]
    clock = FakeClock(moments[0])
    engine, post, close = _migrated_with_api(database, settings, tmp_path, clock)

    def partitions_command(*args: str, answer: str | None = None) -> Result:
        return _tracker(database, tmp_path, "db", "partitions", *args, answer=answer)

    with engine.connect() as conn:
        assert partitions.partitioned(conn)
    # The migration made this month and the next two; ensure, run again, makes nothing.
    listed = partitions_command("list")
    assert listed.exit_code == 0, listed.output
    assert [line.split("\t")[0] for line in listed.output.splitlines()] == [*names[:3], "scan_events_default"]
    again = partitions_command("ensure")
    assert again.exit_code == 0, again.output
    assert again.output.strip() == "every partition was there"

    events = []
    for n, moment in enumerate(moments):
        clock.now = moment
        event = scan(f"ev-{n}", f"TRKPART{n:05d}", "arrived", at(moment), facility="SC-SH-01")
        events.append(event)
        assert post(event) == (201, "accepted")
    # The fourth month has no partition yet: the default one took its event.
    assert _where(engine) == {
        names[0]: ["ev-0"],
        names[1]: ["ev-1"],
        names[2]: ["ev-2"],
        "scan_events_default": ["ev-3"],
    }

    # A replay arrives months later (a later received_at, so another partition if it
    # were stored): the ledger knows the id, the answer is "duplicate", nothing is added.
    clock.now = moments[2]
    assert post(events[1]) == (200, "duplicate")
    changed = {**events[1], "facility": "ST-SH-01"}
    assert post(changed) == (409, "conflict")
    assert sum(len(ids) for ids in _where(engine).values()) == 4

    # The fourth month's partition is made late: its row moves out of the default partition.
    made = partitions_command("ensure", "--ahead", "3")
    assert made.exit_code == 0, made.output
    assert made.output.strip() == f"made {names[3]}"
    assert _where(engine)[names[3]] == ["ev-3"]
    assert "scan_events_default" not in _where(engine)

    # Retention asks first; a no keeps everything.
    kept = partitions_command("drop-before", months[1].isoformat(), answer="n\n")
    assert kept.exit_code != 0
    assert f"drop {names[0]} and every scan in them?" in kept.output
    assert _where(engine)[names[0]] == ["ev-0"]

    # Retention: everything received before the second month goes, as a whole month.
    dropped = partitions_command("drop-before", months[1].isoformat(), "--yes")
    assert dropped.exit_code == 0, dropped.output
    assert dropped.output.strip() == f"dropped {names[0]}"
    assert _where(engine) == {names[1]: ["ev-1"], names[2]: ["ev-2"], names[3]: ["ev-3"]}
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT to_regclass(:t)"), {"t": names[0]}) is None
        ledger = set(conn.scalars(text("SELECT event_id FROM scan_event_ids")))
    assert ledger == {"ev-1", "ev-2", "ev-3"}
    nothing = partitions_command("drop-before", months[1].isoformat(), "--yes")
    assert nothing.output.strip() == f"no whole month ends on or before {months[1]}"

    # Still idempotent in the months that are left; a replay of a dropped month is new again.
    clock.now = moments[3]
    assert post(events[2]) == (200, "duplicate")
    assert post(events[0]) == (201, "accepted")

    listed = partitions_command("list")
    assert listed.exit_code == 0, listed.output
    assert f"{names[1]}\t{months[1]} .. {months[2]}" in listed.output
    assert names[0] not in listed.output
    close()


@pytest.mark.parametrize(
    "command", [["list"], ["ensure"], ["drop-before", "2100-01-01", "--yes"]], ids=lambda c: c[0]
)
def test_sqlite_keeps_one_table_and_the_commands_say_so_and_change_nothing(
    command: list[str], settings: Settings, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    moment = datetime(2030, 1, 10, 4, 0, tzinfo=UTC)
    engine, post, close = _migrated_with_api(url, settings, tmp_path, FakeClock(moment))
    assert post(scan("ev-0", "TRKPART00000", "arrived", at(moment), facility="SC-SH-01")) == (201, "accepted")

    def tables_and_events() -> tuple[list[str], list[str]]:
        with engine.connect() as conn:
            assert not partitions.partitioned(conn)
            tables = list(
                conn.scalars(text("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1"))
            )
            return tables, list(conn.scalars(text("SELECT event_id FROM scan_events")))

    before = tables_and_events()
    assert [t for t in before[0] if t.startswith("scan_event")] == ["scan_events"]
    result = _tracker(url, tmp_path, "db", "partitions", *command)
    assert result.exit_code != 0
    assert "partitions are a PostgreSQL feature" in result.output
    assert "nothing was changed" in result.output
    assert tables_and_events() == before == (before[0], ["ev-0"])
    close()


@pytest.mark.postgres
@pytest.mark.committing
def test_a_month_nobody_made_in_time_is_made_by_the_next_ensure(
    database: str, settings: Settings, tmp_path: Any
) -> None:
    # The migration made this month onwards; last month's scans (a cron run that
    # never happened) wait in the default partition, out of retention's reach.
    last_month = partitions.add_months(partitions.first_of_month(datetime.now(UTC)), -1)
    moment = datetime(last_month.year, last_month.month, 10, 4, 0, tzinfo=UTC)
    engine, post, close = _migrated_with_api(database, settings, tmp_path, FakeClock(moment))
    assert post(scan("ev-late", "TRKPART00009", "arrived", at(moment), facility="SC-SH-01")) == (
        201,
        "accepted",
    )
    assert _where(engine) == {"scan_events_default": ["ev-late"]}

    made = _tracker(database, tmp_path, "db", "partitions", "ensure")
    assert made.exit_code == 0, made.output
    assert made.output.strip() == f"made {partitions.month_name(last_month)}"
    assert _where(engine) == {partitions.month_name(last_month): ["ev-late"]}
    close()
