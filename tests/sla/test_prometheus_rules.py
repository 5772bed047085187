"""The Prometheus rules pass promtool's checks and their own unit tests.

The unit tests live beside the rules (deploy/prometheus/tests/*_test.yml);
this module runs them, and checks that they show every alert both firing and
not firing. Skipped without promtool (``apt-get install prometheus``).
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULE_FILES = sorted(PROMETHEUS.glob("rules/*.yml"))
TEST_FILES = sorted(PROMETHEUS.glob("tests/*_test.yml"))
PROMTOOL = shutil.which("promtool")

pytestmark = [
    pytest.mark.promtool,
    pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"),
]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=600, check=False
    )


def test_it_has_rules_and_tests_to_run():
    assert RULE_FILES and TEST_FILES


def test_it_accepts_every_rule_file():
    result = promtool("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_accepts_the_prometheus_config():
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda path: path.name)
def test_it_passes_the_rule_unit_tests(test_file: Path):
    result = promtool("test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_shows_every_alert_both_firing_and_not_firing():
    alerts = {
        name for path in RULE_FILES for name in re.findall(r"^\s*- alert:\s*(\S+)", path.read_text(), re.M)
    }
    # "alertname: X" followed by "exp_alerts: []" is a not-firing case,
    # by a list of alerts a firing one.
    cases = [
        (name, quiet == "[]")
        for path in TEST_FILES
        for name, quiet in re.findall(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:[ \t]*(\[\])?", path.read_text())
    ]
    assert alerts
    for alert in sorted(alerts):
        assert (alert, False) in cases, f"no test shows {alert} firing"
        assert (alert, True) in cases, f"no test shows {alert} not firing"
