"""The embedded set-up needs no PostgreSQL driver: the README's demo command installs none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Runs `tracker demo --no-serve` in a fresh interpreter where psycopg cannot be imported.
SCRIPT = """
import sys
class NoPsycopg:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ImportError("psycopg is not installed (simulated)")
        return None
sys.meta_path.insert(0, NoPsycopg())
from tracker.cli import main
main(["demo", "--no-serve", "--parcels", "60"])
"""


def test_it_runs_the_demo_without_the_postgresql_driver(tmp_path: Path) -> None:
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(tmp_path / "instance"), "TRACKER_LOG_LEVEL": "WARNING"}
    env.pop("TRACKER_DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "/track/TRK" in result.stdout
