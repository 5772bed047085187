"""A real ``tracker serve`` (gunicorn) for tests that need the production server.

Used by the crash, metrics, Prometheus and browser tests. Environment for the
server comes from the test process (``monkeypatch.setenv``) plus ``env``.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
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


def png_rows(png: bytes) -> list[list[tuple[int, int, int]]]:
    """The RGB pixels of a PNG as Chromium writes screenshots (8 bits, RGB or RGBA, not interlaced).

    For a few checks of colour in small clips, where Pillow would be one more dependency.
    """
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, data, width = 8, b"", 0
    height = depth = colour = interlace = 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, chunk = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            data += chunk
    assert depth == 8 and colour in (2, 6) and not interlace, (depth, colour, interlace)
    size = 3 if colour == 2 else 4
    stride = width * size
    raw = zlib.decompress(data)
    rows, above = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):  # undo the row's filter (PNG spec, section 9)
            left = line[i - size] if i >= size else 0
            up, corner = above[i], (above[i - size] if i >= size else 0)
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min(
                    (abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner)
                )
                line[i] = (line[i] + near[2]) & 0xFF
        rows.append([tuple(line[x : x + 3]) for x in range(0, stride, size)])
        above = line
    return rows
