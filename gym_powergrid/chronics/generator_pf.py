"""Power-flow pass of the scenario generator: base-topology flows and thermal limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.powerflow import NumbaPowerFlow
from ..core.results import Injections
from ..grid.arrays import GridArrays
from ..grid.topology import Topology

if TYPE_CHECKING:  # pragma: no cover
    from .generator_config import GeneratorConfig


@dataclass(frozen=True, eq=False)
class BaseFlows:
    """AC power-flow results over a chronic in the base topology (every branch in service).

    Attributes:
        prod_p_mw: (T, n_prod) production active power, slack included.
        line_a_or: (T, n_line) current at the origin end of every branch (A).
        converged_mask: (T,) steps where the power flow converged (other rows are zero).
    """

    prod_p_mw: np.ndarray
    line_a_or: np.ndarray
    converged_mask: np.ndarray


def base_topology_flows(grid: GridArrays, prod_p: np.ndarray, prod_v: np.ndarray,
                        load_p: np.ndarray, load_q: np.ndarray) -> BaseFlows:
    """Run one AC power flow per row of the injections, warm-started from the previous row.

    Args:
        grid: the grid.
        prod_p, prod_v, load_p, load_q: (T, n) injections in grid column order.

    Returns:
        The flows; rows where the power flow diverged are zero and masked out.
    """
    pf = NumbaPowerFlow(grid)
    topo = Topology.reference(grid)
    n_steps = prod_p.shape[0]
    out_p = np.zeros((n_steps, grid.n_prod))
    out_a = np.zeros((n_steps, grid.n_line))
    ok = np.zeros(n_steps, dtype=bool)
    prod_q = np.asarray(grid.prod_q_mvar, dtype=np.float64)
    for t in range(n_steps):
        res = pf.run_ac(topo, Injections(prod_p[t], prod_v[t], load_p[t], load_q[t], prod_q))
        if res.converged:
            ok[t] = True
            out_p[t] = res.prod_p_mw
            out_a[t] = res.line_a_or
        else:
            pf.reset_voltages()
    return BaseFlows(prod_p_mw=out_p, line_a_or=out_a, converged_mask=ok)


def contingency_flows(grid: GridArrays, prod_p: np.ndarray, prod_v: np.ndarray,
                      load_p: np.ndarray, load_q: np.ndarray,
                      outages: np.ndarray, tick=None) -> tuple[np.ndarray, np.ndarray]:
    """Worst current of every branch over single-branch outages (N-1), per sampled step.

    Args:
        grid: the grid.
        prod_p, prod_v, load_p, load_q: (S, n) injections of the sampled steps.
        outages: indices of the branches taken out one at a time (non-bridges).
        tick: called with the number of power flows run after each outage (progress bars).

    Returns:
        (S, n_line) max over the outages of each branch's origin current (A), diverged
        contingencies skipped; and the (n_line,) mask of the outages that diverged at some
        sampled step.
    """
    pf = NumbaPowerFlow(grid)
    base = Topology.reference(grid)
    prod_q = np.asarray(grid.prod_q_mvar, dtype=np.float64)
    worst = np.zeros((prod_p.shape[0], grid.n_line))
    diverged = np.zeros(grid.n_line, dtype=bool)
    for c in np.asarray(outages, dtype=np.int64).tolist():
        status = base.line_status.copy()
        status[c] = False
        topo = Topology(base.prod_node, base.load_node, base.line_or_node, base.line_ex_node,
                        status)
        pf.reset_voltages()
        for s in range(prod_p.shape[0]):
            res = pf.run_ac(topo, Injections(prod_p[s], prod_v[s], load_p[s], load_q[s], prod_q))
            if res.converged:
                np.maximum(worst[s], res.line_a_or, out=worst[s])
            else:
                diverged[c] = True
                pf.reset_voltages()
        if tick is not None:
            tick(prod_p.shape[0])
    return worst, diverged


def thermal_limits(grid: GridArrays, line_a: np.ndarray, line_a_n1: np.ndarray | None,
                   cfg: GeneratorConfig, rng: np.random.Generator,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Thermal limits (A) that make the grid stressed at its peaks.

    Each branch's ``cfg.limit_quantile`` quantile of current ``q`` is divided by a target peak
    loading drawn per branch: in ``cfg.stressed_ratio`` for ``cfg.n_stressed`` branches (drawn
    with probability proportional to their power flow, so that the stressed ones carry power),
    in ``cfg.relaxed_ratio`` for the others. The relaxed branches
    are also sized against single outages: their limit is at least their worst N-1 current
    (high quantile over the sampled peak steps, ``line_a_n1``) divided by a ratio drawn in
    ``cfg.n1_ratio``, so that one outage rarely makes them break at once (hard overflow) but may
    overload them for a while (soft overflow, the agent's cue to act). Stressed branches get the
    same treatment with ``cfg.stressed_n1_ratio`` but never a peak loading below
    ``cfg.stressed_ratio[0]``, nor more than ``cfg.max_overload_hours`` overloaded hours per
    year in the base topology (branches whose flow is nearly flat would otherwise be
    overloaded most of the time); they are preferably branches that single outages do not load
    much more. Limits are compared in
    MVA (``sqrt(3) V I``) to floor them at ``cfg.limit_floor_fraction`` of the median, so that
    nearly idle branches do not get absurdly small limits. Limits are rounded to 3 significant
    digits.

    Args:
        grid: the grid.
        line_a: (N, n_line) base-topology currents at the origin end, all chronics stacked.
        line_a_n1: (S, n_line) worst N-1 currents at sampled peak steps, or None.
        cfg: generator configuration.
        rng: random generator.

    Returns:
        ``(limits_a, stressed_mask)``, both (n_line,).
    """
    n_line = grid.n_line
    q = np.quantile(line_a, cfg.limit_quantile, axis=0) if line_a.size else np.zeros(n_line)
    kv = np.asarray(grid.line_vn_or_kv, dtype=np.float64)
    q_mva = np.sqrt(3.0) * kv * q / 1000.0
    q_n1 = (np.quantile(line_a_n1, cfg.limit_quantile, axis=0)
            if line_a_n1 is not None and line_a_n1.size else q)
    # stressed branches: preferably those a single outage does not load much more (low
    # amplification q_n1 / q), so that they overload at peaks without making every
    # contingency a hard overflow; then drawn with probability proportional to their flow
    with np.errstate(divide="ignore", invalid="ignore"):
        amplification = np.where(q > 0, np.maximum(q_n1, q) / q, np.inf)
    max_amp = cfg.stressed_n1_ratio[1] / cfg.stressed_ratio[1]
    n_stressed = min(int(cfg.n_stressed or 0), int((q_mva > 0).sum()))
    eligible = np.isfinite(amplification) & (amplification <= max_amp)
    if eligible.sum() < n_stressed:
        eligible = np.zeros(n_line, dtype=bool)
        eligible[np.argsort(amplification, kind="stable")[:n_stressed]] = True
    weight = np.where(eligible, q_mva, 0.0)
    n_stressed = min(n_stressed, int((weight > 0).sum()))
    stressed = np.zeros(n_line, dtype=bool)
    if n_stressed:
        pick = rng.choice(n_line, size=n_stressed, replace=False, p=weight / weight.sum())
        stressed[pick] = True
    ratio = np.where(stressed, rng.uniform(*cfg.stressed_ratio, n_line),
                     rng.uniform(*cfg.relaxed_ratio, n_line))
    limit_mva = q_mva / ratio
    n1_ratio = np.where(stressed, rng.uniform(*cfg.stressed_n1_ratio, n_line),
                        rng.uniform(*cfg.n1_ratio, n_line))
    n1_mva = np.sqrt(3.0) * kv * q_n1 / 1000.0 / n1_ratio
    limit_mva = np.maximum(limit_mva, n1_mva)
    # stressed branches keep a peak loading of at least stressed_ratio[0] whatever N-1 says,
    # but are overloaded (base topology) during at most max_overload_hours per year
    limit_mva = np.where(stressed, np.minimum(limit_mva, q_mva / cfg.stressed_ratio[0]),
                         limit_mva)
    if line_a.shape[0]:
        k = int(cfg.max_overload_hours * line_a.shape[0] / 8760.0)
        kth = np.sort(line_a, axis=0)[max(line_a.shape[0] - 1 - k, 0)]
        kth_mva = np.sqrt(3.0) * kv * kth / 1000.0
        limit_mva = np.where(stressed, np.maximum(limit_mva, kth_mva), limit_mva)
    positive = limit_mva[limit_mva > 0]
    floor = cfg.limit_floor_fraction * (float(np.median(positive)) if positive.size else 1.0)
    limit_mva = np.maximum(limit_mva, max(floor, 1e-3))
    limit_a = limit_mva * 1000.0 / (np.sqrt(3.0) * kv)
    return _round_significant(limit_a, 3), stressed


def _round_significant(x: np.ndarray, digits: int) -> np.ndarray:
    exponent = np.floor(np.log10(np.abs(x)))
    scale = 10.0 ** (digits - 1 - exponent)
    return np.round(x * scale) / scale
