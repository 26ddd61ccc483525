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
    pytest.importorskip("torch_geometric", reason="torch_geometric is not installed "
                        '(pip install "gym-powergrid[graph]")')
    import torch
    from torch_geometric.data import Batch
    from torch_geometric.nn import GCNConv

    from gym_powergrid.envs.graph import to_pyg

    e = GraphObservation(gym.make("PowerGrid-case14-v0"))
    obs, _ = e.reset(seed=0)
    data = to_pyg(obs)
    x, ei, ea, ids = compact_graph(obs)
    assert data.num_nodes == 14 and data.edge_index.shape[1] == 40  # 20 lines, both directions
    assert data.x.dtype == torch.float32 and data.edge_index.dtype == torch.int64
    np.testing.assert_array_equal(data.x.numpy(), x)
    np.testing.assert_array_equal(data.edge_index[:, :20].numpy(), ei)
    np.testing.assert_array_equal(data.edge_index[:, 20:].numpy(), ei[::-1])
    np.testing.assert_array_equal(data.edge_attr[:20].numpy(), ea)
    np.testing.assert_array_equal(data.busbar.numpy(), ids)
    data.validate(raise_on_error=True)
    assert to_pyg(obs, undirected=False).edge_index.shape[1] == 20
    # a busbar split: three elements of substation 1 move to its busbar 1 (node 14 + 1)
    helper = e.unwrapped.action_helper
    action = helper.do_nothing()
    action[helper.substation_element_indices(1)[-3:]] = 1
    obs2, *_ = e.step(action)
    data2 = to_pyg(obs2)
    assert data2.num_nodes == 15 and data2.busbar[-1].item() == 14 + 1
    assert data2.edge_index.shape[1] == 40 and int(data2.edge_index.max()) == 14
    # a GNN layer runs on one graph and on a batch of graphs
    conv = GCNConv(data.num_node_features, 8)
    assert conv(data.x, data.edge_index).shape == (14, 8)
    batch = Batch.from_data_list([data, data2])
    out = conv(batch.x, batch.edge_index)
    assert out.shape == (data.num_nodes + data2.num_nodes, 8) and torch.isfinite(out).all()
    e.close()


def test_to_pyg_without_torch_geometric_says_how_to_install(monkeypatch):
    import sys

    from gym_powergrid.envs.graph import to_pyg
    from gym_powergrid.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "torch_geometric", None)
    monkeypatch.setitem(sys.modules, "torch_geometric.data", None)
    with pytest.raises(MissingExtraError, match=r'pip install "gym-powergrid\[graph\]"'):
        to_pyg({})
