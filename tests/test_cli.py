"""The gym-powergrid command: run, info, bench and help, in-process and once as a process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gym_powergrid.cli import build_parser, main

FIXTURE_ENV = "agents._fixture:make_env"


def test_help_lists_commands_and_pypownet_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("run", "bench", "info", "new-env", "cosim"):
        assert cmd in out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    for pypownet_option in ("--niter", "--start-id", "--loop-mode", "--game-over-mode",
                            "--latency", "-lv", "machine_logs.csv"):
        assert pypownet_option in out
    assert main([]) == 0  # no command: help


def test_pypownet_spellings_parse_like_ours():
    p = build_parser()
    a = p.parse_args(["run", "-p", "folder", "-a", "GreedySearch", "-n", "12", "-lv", "level0",
                      "-s", "3", "-lm", "fixed", "-m", "hard", "-la", "0.5", "-vv"])
    b = p.parse_args(["run", "--parameters", "folder", "--agent", "GreedySearch", "--steps",
                      "12", "--level", "level0", "--chronic", "3", "--loop-mode", "fixed",
                      "--game-over-mode", "hard", "--render-latency", "0.5", "-v", "-v"])
    assert vars(a) == vars(b)
    assert a.chronic == [3] and a.verbose == 2 and a.steps == 12


def test_run_prints_a_summary_and_writes_logs(tmp_path, capsys):
    out_dir = tmp_path / "out"
    totals = tmp_path / "totals.json"
    code = main(["run", FIXTURE_ENV, "--agent", "greedy", "--steps", "4", "--episodes", "2",
                 "--chronic", "b", "--seed", "3", "--output", str(out_dir), "--json",
                 str(totals), "--no-progress", "-m", "soft", "--config",
                 "max_number_loads_game_over=10"])
    assert code == 0
    out = capsys.readouterr().out
    assert "greedy on case14" in out and "survived" in out and "candidate actions" in out
    assert (out_dir / "steps.csv").exists() and (out_dir / "runner.log").exists()
    data = json.loads(totals.read_text())
    assert data["steps"] == 8 and data["episodes"] == 2


def test_run_with_agent_options_and_replay(tmp_path, capsys):
    out_dir = tmp_path / "rec"
    assert main(["run", FIXTURE_ENV, "-a", "random-action", "--agent-option", "p=0.02", "-n",
                 "3", "--output", str(out_dir), "--record-actions", "--no-progress",
                 "--seed", "0"]) == 0
    assert main(["run", FIXTURE_ENV, "-a", "replay", "--agent-option",
                 f"path={out_dir / 'actions.csv'}", "-n", "3", "--no-progress"]) == 0
    assert "replay on case14" in capsys.readouterr().out


def test_run_reports_bad_input(capsys):
    assert main(["run", FIXTURE_ENV, "--agent", "gredy", "-n", "1", "--no-progress"]) == 2
    assert "Did you mean 'greedy'" in capsys.readouterr().err
    assert main(["run", FIXTURE_ENV, "--agent-option", "oops", "-n", "1"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_info_describes_an_env(capsys):
    assert main(["info", FIXTURE_ENV]) == 0
    out = capsys.readouterr().out
    assert "14 substations" in out and "20 lines" in out and "MultiBinary(76)" in out
    assert "chronics        2 (a, b)" in out and "hard_overflow_coefficient" in out
    assert main(["info", FIXTURE_ENV, "--json", "-m", "hard"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["grid"]["lines"] == 20 and data["configuration"]["game_over_mode"] == "hard"
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "PowerGrid-case14-v0" in out and "greedy" in out


def test_bench_in_process(tmp_path, capsys):
    js = tmp_path / "bench.json"
    code = main(["bench", FIXTURE_ENV, "--agents", "do-nothing", "reconnect", "--chronics",
                 "1", "--seeds", "0", "--steps", "5", "--workers", "1", "--output",
                 str(tmp_path / "b"), "--json", str(js), "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "survival mean" in out and "reconnect" in out
    data = json.loads(js.read_text())
    assert data[f"{FIXTURE_ENV}/do-nothing/survival_mean"] <= 5
    assert (tmp_path / "b" / "survival.png").stat().st_size > 1000
    assert {p.name for p in (tmp_path / "b").iterdir()} >= {"episodes.csv", "agents.csv"}


def test_python_dash_m_help_in_a_subprocess():
    res = subprocess.run([sys.executable, "-m", "gym_powergrid", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "gym-powergrid" in res.stdout and "bench" in res.stdout


def _shipped() -> list[str]:
    from gym_powergrid.envs.sources import shipped_environments

    return shipped_environments()


@pytest.mark.skipif("case14" not in _shipped(), reason="shipped case14 not generated yet")
def test_run_and_info_on_the_shipped_case14_env(capsys):
    # searching every step (the default greedy searches only in danger: no speed to print)
    assert main(["run", "PowerGrid-case14-v0", "--agent", "greedy", "--steps", "5",
                 "--agent-option", "search_above=0", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "greedy on PowerGrid-case14-v0" in out and "candidate actions" in out
    assert main(["info", "PowerGrid-case14-v0"]) == 0
    assert "14 substations" in capsys.readouterr().out


def test_new_env_and_cosim_are_delegated(capsys):
    for command in ("new-env", "cosim"):
        with pytest.raises(SystemExit) as exc:
            main([command, "--help"])
        assert exc.value.code == 0
        assert f"gym-powergrid {command}" in capsys.readouterr().out
