"""The transition of any power-flow backend (the pandapower oracle): the rules of
:mod:`gym_powergrid.core.game_rules` in a Python loop around the backend's solver, and the
observation built from a :class:`~gym_powergrid.core.results.PowerFlowResult`.

The numba backends run the same rule functions in one kernel (:mod:`.fast_path`); tests check
both give the same episodes.
"""

from __future__ import annotations

import numpy as np

from ..core.game_rules import (
    ISLAND_DEAD,
    ISLAND_DIVERGES,
    ISLAND_NONE,
    begin_step,
    cascade_level,
    count_overflows,
    cut_flag,
    island_without_slack,
    isolated_elements,
)
from ..core.pf_kernel import pack_injections
from ..core.results import Injections, PowerFlowResult
from ..core.rules import GameState
from ..core.status import PFStatus
from .step_context import FLAG_NAMES, StepContext, step_info

F32, I32, I8 = np.float32, np.int32, np.int8


def injections(ctx: StepContext, t: int, planned: bool = False) -> tuple[Injections, dict | None]:
    """The :class:`Injections` of step ``t`` (after the co-simulation hook, if any)."""
    row, extra = ctx.inj_row(t, planned)
    p, d = ctx.n_prod, ctx.n_load
    inj = Injections(row[:p], row[2 * p:3 * p], row[3 * p:3 * p + d], row[3 * p + d:],
                     row[p:2 * p])
    return inj, extra


def solve(pf, inj: Injections, ac: bool, state: GameState, warm_start: bool = True):
    """One power flow of ``pf`` on the topology of ``state``."""
    from ..grid.topology import Topology

    s = state
    topo = Topology(s.prod_node, s.load_node, s.line_or_node, s.line_ex_node,
                    s.line_status.astype(bool))
    return pf.run_ac(topo, inj, warm_start=warm_start) if ac else pf.run_dc(topo, inj)


def _packed_inj(inj: Injections) -> np.ndarray:
    return pack_injections(inj.prod_p_mw, inj.prod_q_mvar, inj.prod_v_pu, inj.load_p_mw,
                           inj.load_q_mvar)


def reference_transition(ctx: StepContext, grid, grid_i: np.ndarray, state: GameState,
                         action: np.ndarray, pf, ac: bool, simulate: bool, outage_rows=None):
    """Apply an action and advance one step on any backend; returns ``(state, result, flag,
    info, applied, legality)`` (``state`` is not mutated)."""
    st = state.copy()
    c = ctx.chronic
    g = grid
    t = min(st.step + 1, c.n_steps - 1)
    st.step = t
    maint_row, hazard_row = outage_rows if outage_rows is not None else ctx.outage_rows(
        t, simulate)
    applied = np.empty_like(action)
    line_event = np.empty(g.n_line, np.int8)
    sub_event = np.empty(g.n_sub, np.int8)
    rules_i = ctx.rules_i
    replaced = begin_step(action, st.topo, st.line_unavailable, st.line_cooldown,
                          st.sub_cooldown, ctx.node_switch_sub, rules_i, maint_row,
                          hazard_row, applied, line_event, sub_event)
    inj, extra = injections(ctx, t, planned=simulate)
    broken = np.empty(max(g.n_line, 1), np.int32)
    n_broken = depth = 0
    n_nodes = st.n_nodes
    flag = None
    while True:
        result = solve(pf, inj, ac, st)
        island = ISLAND_NONE if not result.converged else island_without_slack(
            grid_i, st.topo, _packed_inj(inj), result.bus_energized_mask)
        if island == ISLAND_DIVERGES:
            result = PowerFlowResult.failure(PFStatus.ISLAND, g.n_bus, g.n_prod, g.n_load,
                                             g.n_line, result.n_iter)
        elif island == ISLAND_DEAD:
            isolated_elements(grid_i, st.topo, result.prod_cut_mask, result.load_cut_mask)
        if not result.converged:
            flag = "diverged"
            break
        if ctx.game_over_mode == "easy":
            break
        n_new = cascade_level(st.topo, n_nodes, result.line_a_or, ctx.limits_a,
                              st.line_overflow_steps, st.line_unavailable, rules_i,
                              float(ctx.rules_f[0]), line_event, broken, n_broken)
        if n_new == n_broken:
            break
        n_broken, depth = n_new, depth + 1
    n_loads = n_prods = 0
    if flag is None:
        count_overflows(st.topo, n_nodes, result.line_a_or, ctx.limits_a, st.line_overflow_steps)
        n_loads = int(result.load_cut_mask.sum())
        n_prods = int(result.prod_cut_mask.sum())
        flag = FLAG_NAMES.get(int(cut_flag(n_loads, n_prods, rules_i)))
    legality, info = step_info(c, ctx.arrays.date_strings[t], t, applied, bool(replaced),
                               line_event, sub_event, broken[:n_broken], depth,
                               int(result.status), flag, n_loads, n_prods, extra)
    return st, result, flag, info, applied, legality


def reference_observation(ctx: StepContext, keys, st: GameState, r: PowerFlowResult) -> dict:
    """The observation (keys ``keys``, in order) of state ``st`` and result ``r``."""
    c = ctx.chronic
    t = st.step
    tp = min(t + 1, c.n_steps - 1)
    year, month, day, hour, minute, second, weekday = (int(x) for x in ctx.arrays.dates[t])
    obs = {k: v.copy() for k, v in ctx.static_obs.items()}
    obs.update({
        "active_loads": r.load_p_mw.astype(F32), "reactive_loads": r.load_q_mvar.astype(F32),
        "voltage_loads": r.load_v_pu.astype(F32),
        "active_productions": r.prod_p_mw.astype(F32),
        "reactive_productions": r.prod_q_mvar.astype(F32),
        "voltage_productions": r.prod_v_pu.astype(F32),
        "active_flows_origin": r.line_p_or_mw.astype(F32),
        "reactive_flows_origin": r.line_q_or_mvar.astype(F32),
        "voltage_flows_origin": r.line_v_or_pu.astype(F32),
        "active_flows_extremity": r.line_p_ex_mw.astype(F32),
        "reactive_flows_extremity": r.line_q_ex_mvar.astype(F32),
        "voltage_flows_extremity": r.line_v_ex_pu.astype(F32),
        "ampere_flows": r.line_a_or.astype(F32), "thermal_limits": ctx.limits32.copy(),
        "lines_status": st.line_status.astype(I8),
        "are_loads_cut": r.load_cut_mask.astype(I8),
        "are_prods_cut": r.prod_cut_mask.astype(I8),
        "timesteps_before_lines_reconnectable": st.line_unavailable.astype(I32),
        "timesteps_before_lines_reactionable": st.line_cooldown.astype(I32),
        "timesteps_before_nodes_reactionable": st.sub_cooldown.astype(I32),
        "timesteps_before_planned_maintenance": ctx.arrays.maint_fc[t].astype(I32),
        "planned_active_loads": c.load_p_planned_mw[tp].astype(F32),
        "planned_reactive_loads": c.load_q_planned_mvar[tp].astype(F32),
        "planned_active_productions": c.prod_p_planned_mw[tp].astype(F32),
        "planned_voltage_productions": c.prod_v_planned_pu[tp].astype(F32),
        "date_year": np.array([year], I32), "date_month": np.array([month], I32),
        "date_day": np.array([day], I32), "date_hour": np.array([hour], I32),
        "date_minute": np.array([minute], I32), "date_second": np.array([second], I32),
        "date_day_of_week": np.array([weekday], I32),
        "productions_nodes": st.prod_node.astype(I8), "loads_nodes": st.load_node.astype(I8),
        "lines_or_nodes": st.line_or_node.astype(I8),
        "lines_ex_nodes": st.line_ex_node.astype(I8),
    })
    if not r.converged:  # blackout: no solution, every element counts as cut
        obs["are_loads_cut"][:] = 1
        obs["are_prods_cut"][:] = 1
    return {k: obs[k] for k in keys}
