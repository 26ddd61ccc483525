"""Friendly edges of the command line: close names before any work, --env, no nan figures."""

from __future__ import annotations

import pytest

from gym_powergrid.cli import build_parser, main


def test_unknown_env_id_suggests_a_close_one(capsys):
    assert main(["run", "PowerGrid-case15-v0", "--steps", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'PowerGrid-case14-v0'?" in err
    assert main(["info", "PowerGrid-case118-dc-v1"]) == 2
    assert "Did you mean 'PowerGrid-case118-dc-v0'?" in capsys.readouterr().err


def test_unknown_agent_fails_before_env_and_workers(monkeypatch, capsys):
    import gym_powergrid.agents.compare as compare
    import gym_powergrid.agents.executors as executors
    import gym_powergrid.runner as runner

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the names were checked")

    monkeypatch.setattr(executors, "run_tasks", forbidden)
    monkeypatch.setattr(compare, "chronic_names", forbidden)
    assert main(["bench", "--agents", "do-nothing", "gredy", "--quick", "--no-progress"]) == 2
    assert "Did you mean 'greedy'?" in capsys.readouterr().err
    monkeypatch.setattr(runner, "build_env", forbidden)
    assert main(["run", "case14", "-a", "reconect", "--steps", "1"]) == 2
    assert "Did you mean 'reconnect'?" in capsys.readouterr().err
    assert main(["bench", "--env", "PowerGrid-case41-v0", "--quick"]) == 2
    assert "Did you mean" in capsys.readouterr().err


def test_bench_accepts_env_option():
    args = build_parser().parse_args(["bench", "--env", "PowerGrid-case14-v0", "--env",
                                      "case30", "--quick"])
    assert args.env_options == ["PowerGrid-case14-v0", "case30"] and args.quick


def test_quick_preset_prefers_chronics_where_agents_differ():
    from gym_powergrid.agents.compare import QUICK, chronic_names

    assert chronic_names("PowerGrid-case14-v0", QUICK["n_chronics"],
                         prefer=QUICK["prefer_chronics"]) == ["03_mar", "08_aug"]
    # an env without those names falls back to its first chronics
    assert chronic_names("PowerGrid-case14-v0", 2, prefer=("nope",)) == ["01_jan", "02_feb"]


@pytest.mark.parametrize("agent", ["reconnect", "do-nothing"])
def test_no_nan_look_ahead_figure(agent, capsys):
    assert main(["run", "PowerGrid-case14-v0", "-a", agent, "--steps", "3",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out
    assert "look-ahead" not in out  # nothing was evaluated in 3 quiet steps
