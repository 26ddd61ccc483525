"""Graph observations for GNN policies: busbars as nodes, lines as edges, fixed-size arrays.

:class:`GraphObservation` wraps a :class:`~gym_powergrid.envs.powergrid_env.PowerGridEnv` (or
any wrapper of one) and replaces its observation by a ``Dict`` of fixed-size arrays, so that
SB3, vector envs and any batcher accept it:

==================  =======================  =================================================
key                 shape                    content
==================  =======================  =================================================
``node_features``   (2 n_sub, 6) float32     per busbar: voltage (p.u.), angle (rad), injected
                                             P (MW) and Q (Mvar) (productions - loads),
                                             connected elements, busbar index (0 or 1)
``node_mask``       (2 n_sub,) int8          1 for busbars energised in the slack's island
``edge_index``      (2, n_line) int64        origin and extremity busbar of each line
``edge_features``   (n_line, 8) float32      P/Q at origin, P at extremity (MW, Mvar), current
                                             (A), usage (current / thermal limit), status,
                                             cooldown, steps before reconnectable
``edge_mask``       (n_line,) int8           1 for lines in service between energised busbars
==================  =======================  =================================================

Busbar ``b`` is busbar ``b // n_sub`` of substation ``b % n_sub`` (the core's numbering).
:func:`to_pyg` turns one observation into a PyTorch Geometric ``Data`` holding only the
energised busbars and the lines in service between them.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..errors import require

NODE_FEATURES = ("vm_pu", "va_rad", "p_mw", "q_mvar", "n_elements", "busbar")
EDGE_FEATURES = ("p_or_mw", "q_or_mvar", "p_ex_mw", "a_or", "usage", "status", "cooldown",
                 "steps_before_reconnectable")


class GraphObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Observation wrapper giving the energised-bus graph each step (see the module doc).

    Args:
        env: a PowerGridEnv or a wrapper of one (its ``unwrapped.last_result`` gives the bus
            voltages and angles).

    Raises:
        TypeError: if the wrapped env is not a PowerGridEnv.
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        base = env.unwrapped
        if not hasattr(base, "grid") or not hasattr(base, "last_result"):
            raise TypeError(f"GraphObservation wraps a PowerGridEnv, got "
                            f"{type(base).__name__}")
        g = base.grid
        self._grid = g
        n_bus, n_line = 2 * g.n_sub, g.n_line
        f32 = np.float32
        self.observation_space = spaces.Dict({
            "node_features": spaces.Box(-np.inf, np.inf, (n_bus, len(NODE_FEATURES)), f32),
            "node_mask": spaces.Box(0, 1, (n_bus,), np.int8),
            "edge_index": spaces.Box(0, n_bus - 1, (2, n_line), np.int64),
            "edge_features": spaces.Box(-np.inf, np.inf, (n_line, len(EDGE_FEATURES)), f32),
            "edge_mask": spaces.Box(0, 1, (n_line,), np.int8),
        })

    def observation(self, obs: dict) -> dict:
        g, n = self._grid, self._grid.n_sub
        n_bus = 2 * n
        r = self.env.unwrapped.last_result
        prod_bus = g.prod_sub_idx + n * obs["productions_nodes"].astype(np.int64)
        load_bus = g.load_sub_idx + n * obs["loads_nodes"].astype(np.int64)
        or_bus = g.line_sub_or_idx + n * obs["lines_or_nodes"].astype(np.int64)
        ex_bus = g.line_sub_ex_idx + n * obs["lines_ex_nodes"].astype(np.int64)
        status = obs["lines_status"].astype(bool)
        prod_on = obs["are_prods_cut"] == 0
        load_on = obs["are_loads_cut"] == 0
        energised = (np.asarray(r.bus_energized_mask, bool) if r is not None and r.converged
                     else np.zeros(n_bus, bool))
        x = np.zeros((n_bus, len(NODE_FEATURES)), np.float32)
        if r is not None and r.converged:
            x[:, 0] = np.where(energised, r.bus_vm_pu, 0.0)
            x[:, 1] = np.where(energised, r.bus_va_rad, 0.0)
        x[:, 2] = (np.bincount(prod_bus, obs["active_productions"] * prod_on, n_bus)
                   - np.bincount(load_bus, obs["active_loads"] * load_on, n_bus))
        x[:, 3] = (np.bincount(prod_bus, obs["reactive_productions"] * prod_on, n_bus)
                   - np.bincount(load_bus, obs["reactive_loads"] * load_on, n_bus))
        x[:, 4] = (np.bincount(prod_bus[prod_on], minlength=n_bus)
                   + np.bincount(load_bus[load_on], minlength=n_bus)
                   + np.bincount(or_bus[status], minlength=n_bus)
                   + np.bincount(ex_bus[status], minlength=n_bus))
        x[n:, 5] = 1.0
        limits = obs["thermal_limits"]
        usage = np.divide(obs["ampere_flows"], limits, out=np.zeros_like(limits),
                          where=limits > 0)
        e = np.stack([obs["active_flows_origin"], obs["reactive_flows_origin"],
                      obs["active_flows_extremity"], obs["ampere_flows"], usage,
                      status.astype(np.float32), obs["timesteps_before_lines_reactionable"],
                      obs["timesteps_before_lines_reconnectable"]], axis=1).astype(np.float32)
        edge_mask = status & energised[or_bus] & energised[ex_bus]
        return {"node_features": x, "node_mask": energised.astype(np.int8),
                "edge_index": np.stack([or_bus, ex_bus]).astype(np.int64),
                "edge_features": e, "edge_mask": edge_mask.astype(np.int8)}


def compact_graph(obs: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keep the masked-in nodes and edges of a graph observation, nodes renumbered from 0.

    Returns:
        ``(node_features, edge_index, edge_features, node_ids)``; ``node_ids[i]`` is the busbar
        of compact node ``i``.
    """
    node_mask = np.asarray(obs["node_mask"]).astype(bool)
    edge_mask = np.asarray(obs["edge_mask"]).astype(bool)
    node_ids = np.flatnonzero(node_mask)
    new_id = np.full(node_mask.shape[0], -1, np.int64)
    new_id[node_ids] = np.arange(node_ids.size)
    edge_index = new_id[np.asarray(obs["edge_index"])[:, edge_mask]]
    return (np.asarray(obs["node_features"])[node_ids], edge_index,
            np.asarray(obs["edge_features"])[edge_mask], node_ids)


def to_pyg(obs: dict, undirected: bool = True):
    """One graph observation as a PyTorch Geometric ``Data`` (energised busbars only).

    Args:
        obs: an observation of :class:`GraphObservation` (unbatched).
        undirected: add each line in both directions (edge features repeated), as most GNN
            layers expect.

    Raises:
        MissingExtraError: if torch or torch_geometric is not installed (the message gives
            the pip command).
    """
    torch = require("torch", "graph", "to_pyg")
    Data = require("torch_geometric.data", "graph", "to_pyg").Data
    x, edge_index, edge_attr, node_ids = compact_graph(obs)
    if undirected:
        edge_index = np.concatenate([edge_index, edge_index[::-1]], axis=1)
        edge_attr = np.concatenate([edge_attr, edge_attr], axis=0)
    return Data(x=torch.as_tensor(x), edge_index=torch.as_tensor(edge_index),
                edge_attr=torch.as_tensor(edge_attr), busbar=torch.as_tensor(node_ids))
