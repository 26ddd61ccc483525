"""Small in-memory environments for the agent, runner and CLI tests (no shipped data needed).

``make_env()`` is also an env factory for ``gym-powergrid run agents._fixture:make_env``
(``tests/`` is on ``sys.path``, see ``tests/conftest.py``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from gym_powergrid.chronics.chronic import Chronic
from gym_powergrid.core.powerflow import NumbaPowerFlow
from gym_powergrid.core.results import Injections
from gym_powergrid.envs import PowerGridEnv
from gym_powergrid.grid import Topology, load_grid, load_net


@lru_cache(maxsize=4)
def _grid(case: str):
    return load_grid(case), load_net(case)


@lru_cache(maxsize=4)
def base_flows_a(case: str = "case14") -> np.ndarray:
    grid, _ = _grid(case)
    res = NumbaPowerFlow(grid).run_ac(Topology.reference(grid), Injections.reference(grid))
    return np.asarray(res.line_a_or).copy()


def make_chronic(case: str = "case14", n_steps: int = 48, margin: float = 1.15,
                 wave: float = 0.2, maintenance: dict | None = None, name: str = "a",
                 seed: int = 0) -> Chronic:
    """Reference injections times a daily wave (plus noise); limits = margin x base flows.

    ``maintenance`` maps ``(step, line) -> duration``.
    """
    grid, _ = _grid(case)
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)
    f = (1.0 + wave * np.sin(2 * np.pi * t / 24.0))[:, None]
    f = f * (1.0 + 0.02 * rng.standard_normal((n_steps, 1)))
    lp = grid.load_p_mw[None, :] * f
    lq = grid.load_q_mvar[None, :] * f
    pp = grid.prod_p_mw[None, :] * f
    pv = np.repeat(grid.prod_vm_pu[None, :], n_steps, 0)
    m = np.zeros((n_steps, grid.n_line), int)
    for (step, line), d in (maintenance or {}).items():
        m[step, line] = d
    h = np.zeros((n_steps, grid.n_line), int)
    limits = np.maximum(base_flows_a(case) * margin, 1.0)
    dts = np.datetime64("2019-01-07T00:00") + t * np.timedelta64(60, "m")
    return Chronic(name, pp, pv, lp, lq, pp, pv, lp, lq, m, h, dts, t, limits)


def make_env(case: str = "case14", n_chronics: int = 2, n_steps: int = 48,
             margin: float = 1.15, maintenance: dict | None = None, **config) -> PowerGridEnv:
    """An env on ``case`` with ``n_chronics`` in-memory chronics named a, b, ..."""
    _, net = _grid(case)
    chronics = [make_chronic(case, n_steps, margin, maintenance=maintenance, name=chr(97 + i),
                             seed=i) for i in range(n_chronics)]
    return PowerGridEnv(net, chronics=chronics, **config)
