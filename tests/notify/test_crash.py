"""At least once, never twice in one try: a SIGKILLed dispatcher, and two dispatchers at once."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.notify.conftest import Receiver, no_dns
from tracker.core.db import make_engine, write_transaction
from tracker.core.models import NotificationDelivery
from tracker.notify import outbox, signing, subscriptions
from tracker.notify.dispatch import from_settings, utc_now
from tracker.notify.secretbox import SecretBox
from tracker.settings import Settings

pytestmark = pytest.mark.committing  # other processes and connections see the rows


def _pending_notifications(engine: Engine, settings: Settings, url: str, n: int) -> list[str]:
    now = datetime.now(UTC)
    with write_transaction(engine) as conn:
        subscriptions.create(
            conn, url=url, events=["case.opened"], owner_role="ops", merchant_code=None, key_id=None,
            sealed_secret=SecretBox(settings.webhook_secret_key).seal(signing.new_secret()), now=now,
        )  # fmt: skip
        return [
            outbox.enqueue(conn, "case.opened", occurred_at=now, now=now, data={"n": i}) for i in range(n)
        ]


def _dispatcher(database_url: str, settings: Settings, instance: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_INSTANCE_PATH": str(instance),
        "TRACKER_LOG_LEVEL": "WARNING",
        "TRACKER_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        "TRACKER_WEBHOOK_SECRET_KEY": settings.webhook_secret_key,
        "TRACKER_NOTIFY_LEASE": "2",
    }
    return subprocess.Popen([sys.executable, "-m", "tracker.cli", "notify", "dispatch", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _states(engine: Engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(dict(conn.execute(select(NotificationDelivery.state, func.count()).group_by(
            NotificationDelivery.state)).all()))  # fmt: skip


def test_a_dispatcher_killed_mid_run_loses_nothing(
    engine: Engine, database_url: str, settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    ids = _pending_notifications(engine, settings, receiver.url, 40)
    receiver.delay = 0.1
    first = _dispatcher(database_url, settings, tmp_path, "--loop", "--interval", "0.1")
    deadline = time.monotonic() + 60
    while len(receiver.received) < 8:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the dispatcher sent nothing"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)  # reaped, pipes closed
    states = _states(engine)
    assert states["sent"] < 40 and states["pending"] > 0, states  # killed mid-run
    receiver.delay = 0.0
    time.sleep(2.2)  # the dead dispatcher's lease on its rows (TRACKER_NOTIFY_LEASE) runs out
    second = _dispatcher(database_url, settings, tmp_path)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert _states(engine) == Counter({"sent": 40})
    got = [r.headers["webhook-id"] for r in receiver.received]
    assert set(got) == set(ids)  # every one arrived (some twice: at least once)
    assert all(r.json["message_id"] == r.headers["webhook-id"] for r in receiver.received)


def test_two_dispatchers_never_send_the_same_row_in_the_same_try(
    engine: Engine, database_url: str, settings: Settings, receiver: Receiver
) -> None:
    ids = _pending_notifications(engine, settings, receiver.url, 300)
    receiver.delay = 0.002
    engines = [make_engine(database_url), make_engine(database_url)]
    dispatchers = [from_settings(e, settings, resolver=no_dns, clock=utc_now) for e in engines]
    for d in dispatchers:
        d.policy = dataclasses.replace(d.policy, batch=25)
    start = threading.Barrier(2)
    reports = []

    def run(d):  # type: ignore[no-untyped-def]
        start.wait()
        reports.append(d.turn())

    threads = [threading.Thread(target=run, args=(d,)) for d in dispatchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for e in engines:
        e.dispose()
    sent = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(sent) == set(ids) and max(sent.values()) == 1, (
        _states(engine),
        [r.to_dict() for r in reports],
    )
    assert all(r.sent > 0 for r in reports), [r.to_dict() for r in reports]  # both did a share
    with engine.connect() as conn:
        assert set(conn.scalars(select(NotificationDelivery.attempts))) == {1}
