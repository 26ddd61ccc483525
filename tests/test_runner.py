"""The Runner plays episodes, handles game overs per mode and writes documented logs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from agents._fixture import make_env

from gym_powergrid.agents import Agent, make_agent
from gym_powergrid.runner import (
    LIST_COLUMNS,
    STEP_COLUMNS,
    EpisodeSummary,
    Runner,
    RunSummary,
    format_table,
    load_steps_csv,
)


class CutLoads(Agent):
    """Switches off every line of the substation of the last load (isolates it) each step."""

    def act(self, observation):
        helper = self.action_helper
        sub = int(self.grid.load_sub_idx[-1])
        _, lines = helper.get_lines_status_switches_of_substation(helper.do_nothing(), sub)
        a = helper.do_nothing()
        on = np.asarray(self.state.line_status)[lines] != 0
        a[helper.offset_status + lines[on]] = 1
        return a


def test_runner_writes_the_documented_files(tmp_path):
    env = make_env(maintenance={(3, 5): 3})
    agent = make_agent("greedy", env, seed=0)
    out = tmp_path / "run"
    summary = Runner(env, agent, output_dir=out, progress=False, record_actions=True).run(
        episodes=2, max_steps=6, chronics=["b", "a"], seed=1)
    assert isinstance(summary, RunSummary)
    assert [e.chronic for e in summary.episodes] == ["b", "a"]
    assert {p.name for p in out.iterdir()} == {"runner.log", "steps.csv", "episodes.csv",
                                               "summary.json", "actions.csv"}
    df = load_steps_csv(out / "steps.csv")
    assert len(df) == 12
    components = [c for c in df.columns if c.startswith("reward_")]
    assert components == ["reward_loads_cut", "reward_prods_cut", "reward_action_cost",
                          "reward_distance_to_reference", "reward_line_usage"]
    assert [c for c in df.columns if not c.startswith("reward_")] == list(STEP_COLUMNS)
    np.testing.assert_allclose(df["reward"], df[components].sum(axis=1), rtol=1e-9, atol=1e-9)
    assert df["step"].tolist() == list(range(1, 7)) * 2
    for col in LIST_COLUMNS:
        assert all(isinstance(v, list) for v in df[col])
    assert 5 in sum(df["lines_maintenance"], [])
    assert df["episode"].tolist() == [0] * 6 + [1] * 6
    raw = pd.read_csv(out / "steps.csv")  # plain pandas works too
    assert raw.shape == df.shape
    eps = pd.read_csv(out / "episodes.csv")
    assert eps["steps"].tolist() == [6, 6]
    np.testing.assert_allclose(eps["cumulative_reward"],
                               df.groupby("episode")["reward"].sum().to_numpy(), rtol=1e-9)
    meta = json.loads((out / "summary.json").read_text())
    assert meta["settings"]["agent"] == "greedy" and meta["totals"]["steps"] == 12
    assert meta["totals"]["candidates_per_second"] > 0
    log = (out / "runner.log").read_text()
    assert "run settings" in log and "ep 1 step 6" in log and "totals" in log
    actions = np.loadtxt(out / "actions.csv", delimiter=",", dtype=int)
    assert actions.shape == (12, env.action_helper.action_length)
    assert [list(np.flatnonzero(a)) for a in actions] == df["actions"].tolist()


def test_soft_mode_counts_game_overs_and_goes_on():
    env = make_env(max_number_loads_game_over=0, margin=3.0)
    s = Runner(env, CutLoads(env), progress=False).run(episodes=1, max_steps=5, chronics=["a"])
    ep = s.episodes[0]
    assert ep.steps == 5 and ep.game_overs == 5 and ep.steps_survived == 0
    assert ep.game_over_reasons == {"too_many_loads_cut": 5}


def test_hard_mode_and_stop_on_game_over_end_the_episode():
    env = make_env(max_number_loads_game_over=0, margin=3.0, game_over_mode="hard")
    ep = Runner(env, CutLoads(env), progress=False).run(max_steps=5).episodes[0]
    assert ep.steps == 1 and ep.game_overs == 1
    env = make_env(max_number_loads_game_over=0, margin=3.0)
    ep = Runner(env, CutLoads(env), progress=False, stop_on_game_over=True).run(
        max_steps=5).episodes[0]
    assert ep.steps == 1 and ep.first_game_over_reason == "too_many_loads_cut"


def test_episode_runs_to_the_end_of_the_chronic_without_a_budget():
    env = make_env(n_steps=12, margin=3.0)
    ep = Runner(env, make_agent("do-nothing", env), progress=False).run(
        chronics=["a"]).episodes[0]
    assert ep.steps == 11 and ep.steps_survived == 11 and ep.game_overs == 0


def test_summary_table_and_totals():
    eps = [EpisodeSummary(0, "a", 0, steps=10, steps_survived=10, cumulative_reward=-5.0,
                          seconds=0.1),
           EpisodeSummary(1, "b", None, steps=4, steps_survived=3, cumulative_reward=-9.0,
                          game_overs=1, game_over_reasons={"diverged": 1}, seconds=0.04)]
    s = RunSummary("PowerGrid-case14-v0", "greedy", eps, {"candidates_per_second": 1234.0})
    t = s.totals()
    assert t["steps"] == 14 and t["steps_survived_mean"] == 6.5 and t["game_overs"] == 1
    text = s.format_table()
    assert "greedy on PowerGrid-case14-v0" in text and "diverged x1" in text
    assert "1,234 candidate actions evaluated per second" in text
    lines = format_table(["a", "bb"], [[1, "x"], [22, "yy"]]).splitlines()
    assert lines[0] == " a  bb" or lines[0].split() == ["a", "bb"]
    assert len({len(line) for line in lines[:2]}) == 1


def test_bad_arguments():
    env = make_env()
    r = Runner(env, make_agent("do-nothing", env), progress=False)
    with pytest.raises(ValueError, match="episodes"):
        r.run(episodes=0)
    with pytest.raises(ValueError, match="max_steps"):
        r.run(max_steps=0)
