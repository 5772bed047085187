"""``scripts/eval_eta.py`` runs end to end on a tiny world, so it cannot rot (its targets are not checked here)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest


def load_eval() -> Any:
    script = Path(__file__).resolve().parents[2] / "scripts" / "eval_eta.py"
    spec = importlib.util.spec_from_file_location("eval_eta", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_the_eta_evaluation_replays_days_and_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    evaluation = load_eval()
    code = evaluation.main(
        ["--seed", "3", "--days", "1", "--warmup-days", "1", "--parcels", "40", "--read-every", "4",
         "--time-limit", "0.1", "--shapes", "regional,hub"]
    )  # fmt: skip
    result = json.loads(capsys.readouterr().out)

    assert code in (0, 1) and result["met"] is (code == 0)
    assert set(result["shapes"]) == {"regional", "hub"}
    for scores in result["shapes"].values():
        assert scores["parcels"] == 80
        days = scores["day_accuracy"]["overall"]
        assert days["of"] > 0 and 0.0 <= days["share"] <= 1.0
        assert set(scores["day_accuracy"]["by_stage"]) <= {"info_received", "in_transit", "failed_attempt"}
        windows = scores["window_coverage"]["overall"]
        assert windows["of"] > 0 and 0.0 <= windows["share"] <= 1.0
        # Shown windows: a day is at most the 13 delivery hours, a route window at most 2.
        assert 0 < scores["median_width_hours"]["day"] <= 13
        assert 0 < scores["median_width_hours"]["window"] <= 2
    overall = result["overall"]
    assert overall["days_judged"] > 0 and overall["windows_judged"] > 0
    assert set(result["targets"]) == {"day_accuracy", "window_coverage", "window_median_hours"}
