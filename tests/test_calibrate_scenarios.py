"""benchmarks/calibrate_scenarios.py: policy parsing, the numbers and targets, bad input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "calibrate_scenarios.py"


@pytest.fixture(scope="module")
def calib():
    spec = importlib.util.spec_from_file_location("calibrate_scenarios", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(agent: str, survived: list[int], n_steps: int = 100) -> list[dict]:
    return [{"agent": agent, "chronic": f"{k:02d}", "seed": 0, "steps": s,
             "steps_survived": s, "game_over": int(s < n_steps), "actions_taken": 1,
             "seconds": 0.01 * s, "max_steps": n_steps} for k, s in enumerate(survived)]


def test_split_policies_keeps_options_together(calib):
    assert calib.split_policies("do_nothing, reconnect,greedy[horizon=3,discount=0.7]") == [
        "do_nothing", "reconnect", "greedy[horizon=3,discount=0.7]"]
    with pytest.raises(SystemExit, match="comma-separated agent names"):
        calib.split_policies("greedy[horizon=3")


def test_summarize_ratios_and_targets(calib):
    policies = ["do_nothing", "reconnect", "greedy", "greedy[horizon=6]"]
    df = pd.DataFrame(_rows("do_nothing", [10, 20, 30, 100])
                      + _rows("reconnect", [40, 60, 100, 100])
                      + _rows("greedy", [50, 70, 100, 100])
                      + _rows("greedy[horizon=6]", [100, 100, 100, 100]))
    n = calib.summarize(df, policies)
    assert n["do_nothing/game_overs"] == 3 and n["do_nothing/game_over_fraction"] == 0.75
    assert n["reconnect/survival_mean"] == 75.0
    assert n["greedy/survival_vs_reconnect"] == pytest.approx(320 / 300)
    assert n["greedy[horizon=6]/survival_vs_reconnect"] == pytest.approx(400 / 300)
    # the targets use the plain greedy, not the one with options
    assert n["targets/do_nothing_game_overs"] == 1.0
    assert n["targets/reconnect_game_overs"] == 1.0
    assert n["targets/greedy_vs_reconnect"] == 0.0 and n["targets/met"] == 0.0
    text = calib.format_report(df, policies, n)
    assert "FAILED greedy survives >= 1.10" in text and "3 / 4" in text
    assert "10 x" in text  # per-chronic table marks game overs


def test_summarize_without_reconnect_has_no_targets(calib):
    df = pd.DataFrame(_rows("do_nothing", [10, 100]))
    n = calib.summarize(df, ["do_nothing"])
    assert n["do_nothing/game_overs"] == 1 and not any(k.startswith("targets/") for k in n)


@pytest.mark.parametrize("argv, message", [
    ([], "exactly one of --params"),
    (["--env", "PowerGrid-case14-hard-v0", "--case", "case14"], "exactly one of --params"),
    (["--case", "case14"], "--case needs --seed"),
    (["--env", "PowerGrid-case14-hard-v0", "--set", "n_chronics=2"], "needs --case"),
    (["--params", "/nonexistent/folder"], "is not a folder"),
    (["--env", "PowerGrid-case14-hard-v0", "--steps", "0"], "at least 1"),
])
def test_bad_arguments_fail_before_any_run(calib, capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        calib.main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_policy_or_env_is_refused_with_a_close_name(calib, capsys):
    for argv in (["--env", "PowerGrid-case14-hard-v0", "--policies", "greedyy"],
                 ["--env", "PowerGrid-case14-hardd-v0"]):
        with pytest.raises(SystemExit) as exc:
            calib.main(argv)
        assert exc.value.code == 2
        assert "Did you mean" in capsys.readouterr().err
