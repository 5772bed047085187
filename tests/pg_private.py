"""A PostgreSQL server of the test's own, to stop and start at will.

The fault tests (``tests/service/test_faults.py``) take the database away
from a running tracker; doing that to the machine's shared server at
127.0.0.1:5432 would break every other test running beside them. So
:class:`PrivatePostgres` makes a throw-away cluster with ``initdb`` in a
temporary folder, on a free loopback port, and runs ``pg_ctl`` on it.

``initdb`` and ``postgres`` refuse to run as root: as root, every command
runs as the ``postgres`` user through ``runuser``, and the folder belongs to
that user. Durability is switched off (``fsync=off``): an immediate stop is
a crash of the server process, not of the machine, so committed data is still
recovered from the WAL at the next start, which is all the tests need.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from tests.live import free_port

BIN = Path(os.environ.get("TRACKER_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def unavailable() -> str | None:
    """Why no private server can be made here (None: it can)."""
    if not (BIN / "initdb").exists():
        return f"no initdb in {BIN} (set TRACKER_TEST_PG_BIN)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
    return None


class PrivatePostgres:
    """A cluster in a temporary folder; :meth:`close` stops it and removes everything.

    With ``standby_of``, the cluster is a hot standby of that one, made the way
    PostgreSQL's documentation says: ``pg_basebackup -R`` (which writes
    ``standby.signal`` and the ``primary_conninfo`` to stream from) and started
    with ``pg_ctl``; initdb's default ``pg_hba.conf`` with ``-A trust`` already lets
    loopback connections replicate.
    """

    def __init__(self, standby_of: PrivatePostgres | None = None) -> None:
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_root = os.geteuid() == 0
        # Under /tmp, not pytest's tmp_path: the postgres user cannot enter root's 0700 folders.
        self.root = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if self._as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        try:
            if standby_of is None:
                self._run(
                    "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--locale=C", "--no-sync",
                )  # fmt: skip
            else:
                self._run(
                    "pg_basebackup", "-h", "127.0.0.1", "-p", str(standby_of.port), "-U", "postgres",
                    "-D", str(self.data), "-R", "-X", "stream", "-c", "fast", "--no-sync",
                )  # fmt: skip
            self.start()
        except BaseException:
            self.close()
            raise

    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        command = [str(BIN / program), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def start(self, wait: bool = True) -> None:
        """Start (again, with the same data); with ``wait``, until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c full_page_writes=off -c max_connections=50"
        )
        waiting = ["-w", "-t", "30"] if wait else ["-W"]
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, *waiting, "start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop now: ``immediate`` drops every connection without a goodbye, as a crash would."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def accepting(self) -> bool:
        result = subprocess.run(
            [str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "1"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def wait_accepting(self, timeout: float = 30) -> float:
        """Block until the server accepts connections; the monotonic time it first did."""
        deadline = time.monotonic() + timeout
        while not self.accepting():
            if time.monotonic() > deadline:
                raise AssertionError(f"private PostgreSQL did not come back:\n{self.log.read_text()}")
            time.sleep(0.02)
        return time.monotonic()

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with suppress(subprocess.SubprocessError):  # already gone: the folder goes anyway
                self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
