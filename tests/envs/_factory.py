"""Small, deterministic environments built in memory for rule tests (no shipped data needed)."""

from __future__ import annotations

import numpy as np

from gym_powergrid.chronics.chronic import Chronic
from gym_powergrid.core.powerflow import NumbaPowerFlow
from gym_powergrid.core.results import Injections
from gym_powergrid.envs import PowerGridEnv
from gym_powergrid.grid import Topology, load_grid, load_net

_GRIDS: dict = {}


def grid_and_net(case: str = "case14"):
    if case not in _GRIDS:
        _GRIDS[case] = (load_grid(case), load_net(case))
    return _GRIDS[case]


def base_flows(case: str = "case14", line_status=None) -> np.ndarray:
    grid, _ = grid_and_net(case)
    topo = Topology.reference(grid)
    if line_status is not None:
        topo = Topology(topo.prod_node, topo.load_node, topo.line_or_node, topo.line_ex_node,
                        np.asarray(line_status, bool))
    res = NumbaPowerFlow(grid).run_ac(topo, Injections.reference(grid))
    assert res.converged
    return res.line_a_or


def make_chronic(case: str = "case14", n_steps: int = 48, limits=None, maintenance=None,
                 hazards=None, wave: float = 0.0, name: str = "a") -> Chronic:
    """Reference injections (optionally with a daily wave), limits x10 of base flows."""
    grid, _ = grid_and_net(case)
    t = np.arange(n_steps)
    f = (1.0 + wave * np.sin(2 * np.pi * t / 24.0))[:, None]
    lp = grid.load_p_mw[None, :] * f
    lq = grid.load_q_mvar[None, :] * f
    pp = grid.prod_p_mw[None, :] * f
    pv = np.repeat(grid.prod_vm_pu[None, :], n_steps, 0)
    m = np.zeros((n_steps, grid.n_line), int) if maintenance is None else maintenance
    h = np.zeros((n_steps, grid.n_line), int) if hazards is None else hazards
    if limits is None:
        limits = np.maximum(base_flows(case) * 10.0, 1.0)
    dts = np.datetime64("2019-01-07T00:00") + t * np.timedelta64(60, "m")
    return Chronic(name, pp, pv, lp, lq, pp, pv, lp, lq, m, h, dts, t, limits)


def make_env(case: str = "case14", chronics=None, **kwargs) -> PowerGridEnv:
    grid, net = grid_and_net(case)
    if chronics is None:
        chronics = [make_chronic(case)]
    return PowerGridEnv(net, chronics=chronics, **kwargs)


def cascade_pair(case: str = "case14") -> tuple[int, int, np.ndarray]:
    """Lines (l1, l2) and limits such that l1 hard-overflows at once and its loss makes l2
    hard-overflow (cascade of depth 2)."""
    grid, _ = grid_and_net(case)
    base = base_flows(case)
    for l1 in np.argsort(-base):
        status = grid.line_in_service.copy()
        status[l1] = False
        try:
            after = base_flows(case, status)
        except AssertionError:
            continue
        ratio = np.divide(after, base, out=np.zeros_like(base), where=base > 1e-6)
        ratio[l1] = 0
        l2 = int(np.argmax(ratio))
        if ratio[l2] > 1.8:
            limits = np.maximum(base * 10.0, 1.0)
            limits[l1] = base[l1] / 1.7  # hard overflow at once
            limits[l2] = base[l2] * 1.05  # fine before, > 1.5x after l1 breaks
            return int(l1), l2, limits
    raise RuntimeError("no cascade pair found")
