"""The package builds cleanly: no setuptools warning, and the wheel carries every data file."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_it_builds_a_wheel_without_warnings_that_holds_the_data_files(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert built.returncode == 0, built.stderr
    assert "Warning" not in built.stdout + built.stderr
    (wheel,) = tmp_path.glob("tracker-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    migrations = {
        p.relative_to(ROOT).as_posix() for p in (ROOT / "tracker/core/migrations/versions").glob("*.py")
    }
    assert migrations <= names
    for needed in (
        "tracker/core/migrations/env.py",
        "tracker/sla/service_levels.toml",
        "tracker/static/tracker.css",
        "tracker/translations/zh_Hans_CN/LC_MESSAGES/messages.mo",
        "tracker/templates/tracking/base.html",
    ):
        assert needed in names
    assert not any("__pycache__" in name for name in names)
