"""A real PgBouncer in transaction mode in front of the test PostgreSQL (issue 17).

Transaction pooling hands each transaction whichever server connection is
free, so nothing may rely on session state: no server-side prepared
statements (PgBouncer 1.18 here, before 1.21's support for them: tracker
runs with ``TRACKER_DATABASE_PREPARED_STATEMENTS=false``), no session
advisory locks (the sweep's lease is a table row), no ``SET`` other than the
parameters PgBouncer tracks per client (``TimeZone`` is one).

PgBouncer refuses to run as root, so as root it runs as ``postgres`` from a
folder that user can read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.live import free_port

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)


class PgBouncer:
    def __init__(self, database_url: str) -> None:
        assert PGBOUNCER is not None
        target = make_url(database_url)
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="pgbouncer-"))
        self.folder.chmod(0o777)
        users = self.folder / "users.txt"
        users.write_text(f'"{target.username}" ""\n')
        ini = self.folder / "pgbouncer.ini"
        self.log = self.folder / "pgbouncer.log"
        ini.write_text(
            "[databases]\n"
            f"* = host={target.host or '127.0.0.1'} port={target.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "auth_type = trust\n"
            f"auth_file = {users}\n"
            "pool_mode = transaction\n"
            # Fewer server connections than the instances' pools hold: they must share.
            "default_pool_size = 8\n"
            "max_client_conn = 200\n"
            "unix_socket_dir =\n"
            f"logfile = {self.log}\n"
        )
        for path in (users, ini):
            path.chmod(0o644)
        command = [PGBOUNCER, str(ini)]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "postgres"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.url = target.set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)
        self._wait()

    def _wait(self) -> None:
        import psycopg

        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        deadline = time.monotonic() + 15
        while True:
            assert self.process.poll() is None, self.log.read_text() if self.log.exists() else "no log"
            try:
                with psycopg.connect(dsn, connect_timeout=2, prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def server_connections(self) -> int:
        """Server connections PgBouncer opened, from its log (proof the traffic went through it)."""
        return self.log.read_text().count("new connection to server") if self.log.exists() else 0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
