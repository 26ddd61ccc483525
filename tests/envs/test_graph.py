"""Graph observations (issue 15, item 2)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import gym_powergrid  # noqa: F401 - registers the ids
from gym_powergrid.envs.graph import EDGE_FEATURES, NODE_FEATURES, GraphObservation, compact_graph


@pytest.fixture(scope="module")
def env():
    e = GraphObservation(gym.make("PowerGrid-case14-v0"))
    yield e
    e.close()


def test_graph_matches_the_grid_and_the_power_flow(env):
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    base = env.unwrapped
    g, r = base.grid, base.last_result
    n = g.n_sub
    assert obs["node_features"].shape == (2 * n, len(NODE_FEATURES))
    assert obs["edge_features"].shape == (g.n_line, len(EDGE_FEATURES))
    np.testing.assert_array_equal(obs["edge_index"][0], g.line_sub_or_idx)  # base topology
    np.testing.assert_array_equal(obs["edge_index"][1], g.line_sub_ex_idx)
    assert obs["node_mask"][:n].all() and not obs["node_mask"][n:].any()
    np.testing.assert_allclose(obs["node_features"][:n, 0], r.bus_vm_pu[:n], rtol=1e-6)
    # injected P at each bus = sum of the line flows leaving it
    x = obs["node_features"]
    out = (np.bincount(g.line_sub_or_idx, r.line_p_or_mw, n)
           + np.bincount(g.line_sub_ex_idx, r.line_p_ex_mw, n))
    np.testing.assert_allclose(x[:n, 2], out, atol=1e-3)
    np.testing.assert_array_equal(x[:n, 4], g.sub_n_elements)


def test_graph_follows_topology_changes(env):
    obs, _ = env.reset(seed=0)
    base = env.unwrapped
    action = np.zeros(env.action_space.n, np.int8)
    action[-base.grid.n_line + 5] = 1  # switch line 5 off
    obs, *_ = env.step(action)
    assert obs["edge_mask"][5] == 0 and obs["edge_features"][5, 5] == 0
    x, ei, ea, ids = compact_graph(obs)
    assert ei.shape[1] == int(obs["edge_mask"].sum()) and ei.max() < x.shape[0]
    assert ea.shape == (ei.shape[1], len(EDGE_FEATURES))


def test_env_checkers_accept_it():
    from gymnasium.utils.env_checker import check_env

    e = GraphObservation(gym.make("PowerGrid-case14-v0"))
    check_env(e, skip_render_check=True)
    sb3 = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3.check_env(e, warn=True)
    e.close()


def test_bad_input():
    with pytest.raises(TypeError, match="wraps a PowerGridEnv"):
        GraphObservation(gym.make("CartPole-v1"))


def test_to_pyg():
    pytest.importorskip("torch_geometric", reason="torch_geometric is not installed")
    from gym_powergrid.envs.graph import to_pyg

    e = GraphObservation(gym.make("PowerGrid-case14-v0"))
    obs, _ = e.reset(seed=0)
    data = to_pyg(obs)
    assert data.num_nodes == 14 and data.edge_index.shape[1] == 40
