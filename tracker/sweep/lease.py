"""Who sweeps: one holder of the ``sweep`` lease per installation at a time.

Every ``tracker serve`` worker (and every ``tracker sweep --every``) runs a
sweep loop; before each sweep it tries to take or renew the lease with one
conditional UPDATE::

    UPDATE leases SET holder = me, expires_at = now + ttl
    WHERE name = 'sweep' AND (holder = me OR expires_at < now)

Exactly one row changed: this process sweeps; none: someone else holds a
lease that has not expired, so this process waits for its next turn. A
holder that dies stops renewing, and another process takes over once its
lease expires (``ttl``, a few sweep intervals). No session-level advisory
lock is involved, so this survives a transaction-mode pooler such as
PgBouncer; and the sweep itself stays safe to run twice at once (it claims
rows with ``SKIP LOCKED``), so a takeover racing a slow holder costs work,
never correctness.

Takes a connection; the caller owns the (short) transaction.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, case, or_, update

from tracker.core.db import upsert
from tracker.core.models import Lease

SWEEP = "sweep"


def holder_name() -> str:
    """This process, recognisably for an operator: host, pid and a random tail."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(conn: Connection, name: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``; whether it is ours."""
    # The row exists once per installation; creating it is a no-op after the first time.
    # It is born expired (before ``now``), so the first asker of a fresh installation
    # takes it at once: born at ``now`` it failed ``expires_at < now``, and two workers
    # asking together on a fresh database could both fail and leave a whole interval
    # unswept.
    conn.execute(
        upsert(conn, Lease)
        .values(name=name, holder="", expires_at=now - ttl, acquired_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    taken = conn.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(
            holder=holder,
            expires_at=now + ttl,
            # When the current holder's tenure began: kept on renewal, reset on takeover.
            acquired_at=case((Lease.holder == holder, Lease.acquired_at), else_=now),
        )
    )
    return taken.rowcount == 1


def release(conn: Connection, name: str, holder: str, *, now: datetime) -> None:
    """Give the lease up (on a clean stop), so another process need not wait for it to expire."""
    conn.execute(update(Lease).where(Lease.name == name, Lease.holder == holder).values(expires_at=now))
