"""The simple baselines act validly, are seeded, and are found by name or import path."""

from __future__ import annotations

import numpy as np
import pytest

from gym_powergrid.agents import (
    AGENTS,
    Agent,
    DoNothing,
    RandomLineSwitch,
    RandomNodeSplitting,
    RandomSwitch,
    agent_name,
    make_agent,
    resolve_agent,
)
from gym_powergrid.envs import validate_action

STEPPING = [n for n in AGENTS if n != "replay"]


@pytest.mark.parametrize("name", STEPPING)
def test_every_registered_agent_acts_validly(env, name):
    agent = make_agent(name, env, seed=3)
    assert isinstance(agent, Agent)
    assert agent_name(agent) == name
    obs = env.unwrapped._last_obs if hasattr(env, "unwrapped") else None
    for _ in range(4):
        action = agent.act(obs)
        assert env.action_space.contains(action), name
        validate_action(action, env.action_helper.action_length)
        obs, reward, terminated, truncated, info = env.step(action)
        agent.feed_reward(action, obs, reward, info)
        if terminated or truncated:
            obs, _ = env.reset()


def test_do_nothing_is_all_zeros(env):
    assert not DoNothing(env).act(None).any()
    assert not Agent(env).act(None).any()  # the base class is pypownet's do-nothing


def test_random_switch_activates_exactly_one_switch(env):
    agent = RandomSwitch(env, seed=0)
    picks = {int(np.flatnonzero(agent.act(None))[0]) for _ in range(200)}
    assert all(int(agent.act(None).sum()) == 1 for _ in range(20))
    assert len(picks) > 30  # spread over the vector


def test_random_line_switch_touches_one_line_status(env):
    agent = RandomLineSwitch(env, seed=0)
    off = env.action_helper.offset_status
    for _ in range(20):
        a = agent.act(None)
        assert a.sum() == 1 and a[off:].sum() == 1


def test_random_node_splitting_stays_in_one_substation(env):
    agent = RandomNodeSplitting(env, seed=0)
    sub_of = env.action_helper.node_switch_sub
    off = env.action_helper.offset_status
    for _ in range(30):
        a = agent.act(None)
        assert not a[off:].any()
        assert len(np.unique(sub_of[a[:off] != 0])) <= 1


@pytest.mark.parametrize("name", ["random-switch", "random-action", "random-line-switch",
                                  "random-node-splitting"])
def test_random_agents_are_seeded(env, name):
    a1, a2, a3 = (make_agent(name, env, seed=s) for s in (7, 7, 8))
    seq1 = [a1.act(None) for _ in range(10)]
    seq2 = [a2.act(None) for _ in range(10)]
    seq3 = [a3.act(None) for _ in range(10)]
    assert all(np.array_equal(x, y) for x, y in zip(seq1, seq2))
    assert not all(np.array_equal(x, y) for x, y in zip(seq1, seq3))
    a1.seed(7)
    assert np.array_equal(a1.act(None), seq2[0])


def test_resolve_names_aliases_and_import_paths(tmp_path):
    assert resolve_agent("greedy").name == "greedy"
    assert resolve_agent("GreedySearch") is resolve_agent("greedy")
    assert resolve_agent("RandomPointAction") is RandomSwitch
    assert resolve_agent("do_nothing") is DoNothing
    assert resolve_agent("gym_powergrid.agents.baselines:RandomSwitch") is RandomSwitch
    f = tmp_path / "my_agents.py"
    f.write_text("from gym_powergrid.agents import Agent\n\nclass Mine(Agent):\n    pass\n")
    assert resolve_agent(f"{f}:Mine").__name__ == "Mine"
    with pytest.raises(ValueError, match="Did you mean 'greedy'"):
        resolve_agent("gredy")
    with pytest.raises(ValueError, match="has no attribute"):
        resolve_agent("gym_powergrid.agents:Nope")


def test_make_agent_passes_options_and_returns_instances(env):
    agent = make_agent("random-action", env, seed=0, p=0.0)
    assert not agent.act(None).any()
    assert make_agent(agent, env) is agent
    with pytest.raises(ValueError, match="probability"):
        make_agent("random-action", env, p=2)


def test_agent_needs_a_powergrid_env():
    with pytest.raises(TypeError, match="PowerGridEnv"):
        DoNothing(object())
