"""Power-flow pass of the scenario generator: base-topology flows and thermal limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..core.game_rules import ISLAND_DIVERGES, island_without_slack
from ..core.pf_kernel import pack_injections, pack_topology
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


def base_topology_dc_currents(grid: GridArrays, prod_p: np.ndarray, prod_v: np.ndarray,
                              load_p: np.ndarray, load_q: np.ndarray) -> np.ndarray:
    """(T, n_line) origin currents (A) of a DC power flow per row, every branch in service."""
    pf = NumbaPowerFlow(grid)
    topo = Topology.reference(grid)
    prod_q = np.asarray(grid.prod_q_mvar, dtype=np.float64)
    out = np.zeros((prod_p.shape[0], grid.n_line))
    for t in range(prod_p.shape[0]):
        res = pf.run_dc(topo, Injections(prod_p[t], prod_v[t], load_p[t], load_q[t], prod_q))
        if res.converged:
            out[t] = res.line_a_or
    return out


def n1_sample_rows(converged: np.ndarray, total_load: np.ndarray, n_samples: int) -> np.ndarray:
    """Rows of the N-1 pass: half at the highest total loads, half spread over the year.

    Args:
        converged: (T,) rows whose base-topology power flow converged (the only candidates).
        total_load: (T,) total load of each row.
        n_samples: number of rows wanted.

    Returns:
        Sorted unique row indices (at most ``n_samples``).
    """
    total = np.where(converged, total_load, -np.inf)
    order = np.argsort(-total, kind="stable")[: int(converged.sum())]
    n_peak = (n_samples + 1) // 2
    rest = np.sort(order[n_peak:])
    spread = rest[np.linspace(0, rest.size - 1, n_samples - n_peak).astype(np.int64)
                  ] if rest.size else rest
    return np.unique(np.concatenate([order[:n_peak], spread]))


@dataclass(frozen=True, eq=False)
class Contingencies:
    """Single-branch outages (N-1) at sampled steps, from :func:`contingency_flows`.

    Attributes:
        worst_a: (S, n_line) max over the sized outages of each branch's origin current (A),
            diverged contingencies skipped.
        fragile_mask: (n_line,) outages (sized or checked) that, at some sampled step, had no
            AC solution, lowered the lowest bus voltage by more than ``max_vm_drop_pu`` or
            isolated more loads or productions than ``max_cut``, or (with ``max_cut``) left
            lines in service outside the slack's island with something to serve (the game's
            ``diverged`` rule: pypownet has no solution there).
    """

    worst_a: np.ndarray
    fragile_mask: np.ndarray


def contingency_flows(grid: GridArrays, prod_p: np.ndarray, prod_v: np.ndarray,
                      load_p: np.ndarray, load_q: np.ndarray,
                      outages: np.ndarray, tick=None, *, checked: np.ndarray | None = None,
                      max_vm_drop_pu: float | None = None,
                      max_cut: tuple[int, int] | None = None) -> Contingencies:
    """Worst current of every branch over single-branch outages (N-1), per sampled step.

    Args:
        grid: the grid.
        prod_p, prod_v, load_p, load_q: (S, n) injections of the sampled steps.
        outages: indices of the branches taken out one at a time for the sizing (non-bridges).
        tick: called with the number of power flows run after each outage (progress bars).
        checked: more outages tested for fragility only (not in ``worst_a``), e.g. bridges.
        max_vm_drop_pu: an outage lowering the lowest energised bus voltage by more than this
            (p.u.) below the base topology's at the same step is fragile (None: only
            divergence and ``max_cut`` count).
        max_cut: ``(loads, productions)``: an outage isolating more is fragile, as is one
            that leaves an island of lines in service with a load or a production to serve
            (:func:`gym_powergrid.core.game_rules.island_without_slack`), a game over whatever
            it isolates (None: no limit, islands allowed).

    Returns:
        The worst currents and the fragile outages.
    """
    pf = NumbaPowerFlow(grid)
    base = Topology.reference(grid)
    prod_q = np.asarray(grid.prod_q_mvar, dtype=np.float64)
    worst = np.zeros((prod_p.shape[0], grid.n_line))
    fragile = np.zeros(grid.n_line, dtype=bool)
    base_vm = np.full(prod_p.shape[0], np.inf)
    if max_vm_drop_pu is not None:
        for s in range(prod_p.shape[0]):
            pf.reset_voltages()
            res = pf.run_ac(base, Injections(prod_p[s], prod_v[s], load_p[s], load_q[s], prod_q))
            if res.converged:
                base_vm[s] = res.bus_vm_pu[res.bus_energized_mask].min()
    sized = np.asarray(outages, dtype=np.int64).tolist()
    extra = [] if checked is None else np.asarray(checked, dtype=np.int64).tolist()
    for k, c in enumerate(sized + extra):
        status = base.line_status.copy()
        status[c] = False
        topo = Topology(base.prod_node, base.load_node, base.line_or_node, base.line_ex_node,
                        status)
        topo_arr = pack_topology(topo.prod_node, topo.load_node, topo.line_or_node,
                                 topo.line_ex_node, topo.line_status)
        pf.reset_voltages()
        for s in range(prod_p.shape[0]):
            res = pf.run_ac(topo, Injections(prod_p[s], prod_v[s], load_p[s], load_q[s], prod_q))
            if not res.converged:
                fragile[c] = True
                pf.reset_voltages()
                continue
            if k < len(sized):
                np.maximum(worst[s], res.line_a_or, out=worst[s])
            if max_vm_drop_pu is not None and (res.bus_vm_pu[res.bus_energized_mask].min(
                    initial=np.inf) < base_vm[s] - max_vm_drop_pu):
                fragile[c] = True
            if max_cut is not None and (int(res.load_cut_mask.sum()) > max_cut[0]
                                        or int(res.prod_cut_mask.sum()) > max_cut[1]):
                fragile[c] = True
            if max_cut is not None and not fragile[c] and island_without_slack(
                    pf.grid_i, topo_arr, pack_injections(prod_p[s], prod_q, prod_v[s],
                                                         load_p[s], load_q[s]),
                    res.bus_energized_mask) == ISLAND_DIVERGES:
                fragile[c] = True
        if tick is not None:
            tick(prod_p.shape[0])
    return Contingencies(worst_a=worst, fragile_mask=fragile)


def thermal_limits(grid: GridArrays, line_a: np.ndarray, line_a_n1: np.ndarray | None,
                   cfg: GeneratorConfig, rng: np.random.Generator,
                   bridges: np.ndarray | None = None, protected: np.ndarray | None = None,
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
    much more; with ``cfg.stress_bridges`` False they are never ``bridges`` (no action
    relieves a branch whose outage splits the grid, and its break isolates what it feeds).
    Limits are compared in
    MVA (``sqrt(3) V I``) to floor them at ``cfg.limit_floor_fraction`` of the median, so that
    nearly idle branches do not get absurdly small limits. Limits are rounded to 3 significant
    digits.

    Args:
        grid: the grid.
        line_a: (N, n_line) base-topology currents at the origin end, all chronics stacked.
        line_a_n1: (S, n_line) worst N-1 currents at sampled peak steps, or None.
        cfg: generator configuration.
        rng: random generator.
        bridges: (n_line,) branches whose outage splits the grid (used when
            ``cfg.stress_bridges`` is False).
        protected: (n_line,) branches whose own outage the game would not survive (the
            fragile outages of ``secure_outages``): never stressed, and sized so that their
            worst N-1 current is ``cfg.n1_ratio[0]`` of their limit, the largest margin, so
            that overloads do not break them.

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
    allowed = np.ones(n_line, dtype=bool)
    if not cfg.stress_bridges and bridges is not None:
        allowed &= ~np.asarray(bridges, dtype=bool)
    if protected is not None:
        allowed &= ~np.asarray(protected, dtype=bool)
    if not allowed.all():
        amplification = np.where(allowed, amplification, np.inf)
        eligible &= allowed
        n_stressed = min(n_stressed, int((allowed & (q_mva > 0)).sum()))
    if eligible.sum() < n_stressed:
        eligible = np.zeros(n_line, dtype=bool)
        eligible[np.argsort(amplification, kind="stable")[:n_stressed]] = True
        eligible &= allowed
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
    if protected is not None:
        n1_ratio = np.where(protected, cfg.n1_ratio[0], n1_ratio)
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
