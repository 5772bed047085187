"""A real ``tracker serve`` (gunicorn) for tests that need the production server.

Used by the crash, metrics, Prometheus and browser tests. Environment for the
server comes from the test process (``monkeypatch.setenv``) plus ``env``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

#: Debian's Chromium, driven by Playwright in the browser tests.
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (gunicorn's workers)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces: the fields after ")" are plain.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


class LiveServer:
    def __init__(self, database_url: str, instance: Path, **env: str | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {
            "TRACKER_WORKERS": "1",
            # Tests that want the in-process sweeper say so (TRACKER_SWEEP_INTERVAL=...).
            "TRACKER_SWEEP_INTERVAL": "0",
            "TRACKER_LOG_LEVEL": "WARNING",
            **os.environ,
            "TRACKER_DATABASE_URL": database_url,
            "TRACKER_INSTANCE_PATH": str(instance),
            **env,
        }
        # ``NAME=None`` leaves a variable unset: the server's own default applies.
        environ = {name: value for name, value in environ.items() if value is not None}
        self.log = instance.parent / f"server-{self.port}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tracker.cli", "serve", "--port", str(self.port)],
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, previous_worker: int | None = None) -> None:
        """Until ``/readyz`` answers (from a new worker, if ``previous_worker`` died)."""
        deadline = time.monotonic() + 30
        with requests.Session() as session:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.log.read_text()
                try:
                    ready = session.get(f"{self.url}/readyz", timeout=1).status_code == 200
                    if ready and (previous_worker is None or self.worker() not in (None, previous_worker)):
                        return
                except requests.RequestException:
                    pass  # not listening yet, or a worker still booting
                time.sleep(0.05)
        raise AssertionError(f"tracker serve did not become ready:\n{self.log.read_text()}")

    def worker(self) -> int | None:
        found = children(self.process.pid)
        return found[0] if found else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
