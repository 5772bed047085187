"""How ``tracker serve`` sets up its gunicorn workers (:mod:`tracker.server`).

:func:`tracker.server.settle_heap` runs once a worker has built its app; the
worker is a process of its own, so the test builds its app in a child process
too (freezing the test process's heap would change every later test).
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tracker.server import DEFAULTS, TrackerServer
from tracker.settings import Settings

CHILD = """
import gc, json, sys
from pathlib import Path
from tracker.server import YOUNG_GENERATION_THRESHOLD, TrackerServer
from tracker.settings import Settings

settings = Settings(instance_path=Path(sys.argv[1]), sweep_interval=0)
before = gc.get_freeze_count()
TrackerServer(settings, {}).load()
print(json.dumps([before, gc.get_freeze_count(), gc.get_threshold()[0], YOUNG_GENERATION_THRESHOLD]))
"""


def test_a_worker_freezes_the_app_it_built_and_collects_young_objects_less_often(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    before, frozen, young, expected = json.loads(result.stdout.splitlines()[-1])
    # The app's modules and models: well over the 10,000 objects frozen here.
    assert before == 0 and frozen > 10_000
    assert young == expected > 700


def test_each_worker_listens_on_its_own_socket_unless_the_deployment_says_otherwise(tmp_path: Path) -> None:
    server = TrackerServer(Settings(instance_path=tmp_path), {}, DEFAULTS)
    assert server.cfg.reuse_port is True
    image = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    assert image.get("reuse_port", True) is True, "the image's file keeps the kernel dealing connections"


def test_serve_on_a_port_in_use_says_so_and_exits_instead_of_restarting_workers(tmp_path: Path) -> None:
    # With a socket per worker the arbiter binds nothing: without the check each
    # worker failed to bind and was started again, forever, the port never served.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        environ = {
            **os.environ,
            "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
            "TRACKER_INSTANCE_PATH": str(tmp_path),
        }
        result = subprocess.run(
            [sys.executable, "-m", "tracker.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=environ,
            check=False,
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is in use" in result.stderr
    assert "Booting worker" not in result.stderr
