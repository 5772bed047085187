"""``tracker demo`` as a newcomer runs it: the server it starts counts what it serves.

The demo loads its day in the command's own process, then serves from a
fresh one (the metrics library must be set up for gunicorn's workers before
it is first imported), so ``/metrics`` shows the request, scan and sweep
counters, not only the database gauges.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.live import free_port

pytestmark = pytest.mark.slow


def _sample(text: str, name: str) -> float:
    """The sum of every sample of ``name`` in an exposition text."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_the_demo_server_exports_its_counters(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"), "TRACKER_LOG_LEVEL": "WARNING"}
    env.pop("TRACKER_DATABASE_URL", None)
    with (tmp_path / "demo.log").open("wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", "demo", "--port", str(port), "--parcels", "40"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            # A worker still booting on a loaded machine holds the accepted connection: a timeout.
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.3)
        else:
            pytest.fail(f"the demo did not serve: {(tmp_path / 'demo.log').read_text()[-2000:]}")
        for _ in range(5):
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200

        metrics = requests.get(f"{base}/metrics", timeout=5).text
        # A newcomer can verify the sample parcels: each link comes with its four digits.
        welcome = (tmp_path / "demo.log").read_text()
        for tn in ("DEMOPICKUP01", "DEMOFAILED01", "DEMOWINDOW01", "DEMORATED001"):
            assert re.search(rf"{base}/track/{tn}\s+verify [0-9]{{4}}\s", welcome), welcome
        assert re.search(r"route plan [0-9]+ for ST-SH-01", welcome), welcome
        sample = requests.get(
            f"{base}/api/v1/track/DEMOPICKUP01", headers={"X-Verification": "7001"}, timeout=5
        )
        assert re.fullmatch(r"[0-9]{6}", sample.json()["pickup_code"])
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=30)

    assert _sample(metrics, 'tracker_http_requests_total{endpoint="system.readyz"') >= 1
    assert "tracker_parcels{" in metrics  # and the database gauges, as before
