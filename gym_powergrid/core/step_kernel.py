"""The whole game transition in one numba call: legality, switches, countdowns, outages,
power flow and cascade, cut elements and game over.

This is the fast path of :class:`~gym_powergrid.envs.PowerGridEnv` (numba backend). It composes
the rules of :mod:`gym_powergrid.core.game_rules`, as the pandapower backend's Python loop
does; tests check both give the same episodes.

Arrays (``P`` prods, ``D`` loads, ``L`` lines, ``S`` substations):

* ``topo`` int8 (pypownet layout, mutated), ``line_unavail``, ``line_over``, ``line_cd``
  (int32, L, mutated), ``sub_cd`` (int32, S, mutated);
* ``rules_i`` int64 ``[max_subs, max_lines, max_total, line_cooldown, node_cooldown,
  n_soft_steps, n_hard_broken, n_soft_broken, easy, max_loads_cut, max_prods_cut]``,
  ``rules_f`` float64 ``[hard_coefficient]``;
* outputs: ``applied`` (int8, the legal part of the action), ``line_event`` (int8 bit flags
  per line, ``EV_*``), ``sub_event`` (int8, S), ``broken_seq`` (int32, L, lines broken in
  order), ``report`` (int64, ``RP_*``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .borrow import borrow as B
from .game_rules import (  # noqa: F401  (re-exported: the packed-rules layout)
    EV_BROKEN,
    EV_HAZARD,
    EV_ILLEGAL_RECONNECTION,
    EV_LINE_COOLDOWN,
    EV_MAINTENANCE,
    EV_SUB_COOLDOWN,
    FLAG_DIVERGED,
    FLAG_LOADS,
    FLAG_NONE,
    FLAG_PRODS,
    ISLAND_DEAD,
    ISLAND_DIVERGES,
    N_RULES_I,
    R_EASY,
    R_HARD_BROKEN,
    R_LINE_CD,
    R_MAX_LINES,
    R_MAX_LOADS_CUT,
    R_MAX_PRODS_CUT,
    R_MAX_SUBS,
    R_MAX_TOTAL,
    R_N_SOFT,
    R_NODE_CD,
    R_SOFT_BROKEN,
    begin_step,
    cascade_level,
    count_overflows,
    cut_flag,
    dead_island_settles,
    island_without_slack,
    isolated_elements,
)
from .obs_kernel import fill_observation
from .pf_kernel import (
    AC_FAST_DECOUPLED,
    AC_NEWTON,
    DC,
    LN_A_OR,
    run_powerflow,
    run_powerflow_dc,
    run_powerflow_fdpf,
    run_powerflow_newton,
)
from .status import PFStatus

CONVERGED = int(PFStatus.CONVERGED)
ISLAND = int(PFStatus.ISLAND)

(RP_REPLACED, RP_N_BROKEN, RP_DEPTH, RP_FLAG, RP_LOADS_CUT, RP_PRODS_CUT, RP_STATUS,
 RP_ITER) = range(8)
N_REPORT = 8


@njit(cache=True, inline="always")
def powerflow(fixed, ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v, out_mask,
              out_res, ws_i, ws_f):
    """:func:`~.pf_kernel.run_powerflow`; with ``fixed`` 1 (a constant: a one-mode kernel) and
    a constant ``ac``, that mode's own version (numba prunes the other calls before typing)."""
    if fixed == 0:
        return run_powerflow(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v, out_mask,
                             out_res, ws_i, ws_f)
    if ac == AC_NEWTON:
        return run_powerflow_newton(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v,
                                    out_mask, out_res, ws_i, ws_f)
    if ac == AC_FAST_DECOUPLED:
        return run_powerflow_fdpf(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v,
                                  out_mask, out_res, ws_i, ws_f)
    return run_powerflow_dc(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v, out_mask,
                            out_res, ws_i, ws_f)


@njit(cache=True, inline="always")
def solve_cascade(topo, line_unavail, line_over, rules_i, rules_f, inj, limits_a, fixed, ac,
                  max_iter, tol, grid_i, grid_f, bus_v, out_mask, out_res, ws_i, ws_f, line_event,
                  broken_seq, report):
    """Power flow and cascade (:mod:`.game_rules`), then isolated elements and game over."""
    n_line = line_unavail.shape[0]
    n_prod = grid_i[1]
    n_load = grid_i[2]
    n_nodes = n_prod + n_load + 2 * n_line
    n_bus = 2 * grid_i[0]
    line_off = 3 * n_prod + 3 * n_load
    line_a = np.empty(n_line)
    n_broken = 0
    depth = 0
    pypower = ac == AC_FAST_DECOUPLED
    while True:
        start = bus_v.copy() if pypower else bus_v[:, :0]
        status, n_iter = powerflow(fixed, ac, True, max_iter, tol, grid_i, grid_f, topo, inj,
                                   bus_v, out_mask, out_res, ws_i, ws_f)
        report[RP_ITER] += n_iter
        if status == CONVERGED:
            island = island_without_slack(grid_i, topo, inj, out_mask[:n_bus])
            if island == ISLAND_DEAD and pypower:
                if dead_island_settles(grid_i, grid_f, topo, out_mask[:n_bus], start, tol):
                    for b in range(n_bus):  # the island keeps its voltages, as in pypownet
                        if not out_mask[b]:
                            bus_v[0, b] = start[0, b]
                            bus_v[1, b] = start[1, b]
                else:
                    island = ISLAND_DIVERGES
            if island == ISLAND_DIVERGES:
                status = ISLAND
                out_res[:] = 0.0
                out_mask[:n_bus] = False
                out_mask[n_bus:] = True
            elif island == ISLAND_DEAD:
                isolated_elements(grid_i, topo, out_mask[n_bus:n_bus + n_prod],
                                  out_mask[n_bus + n_prod:])
        report[RP_STATUS] = status
        if status != CONVERGED:
            report[RP_FLAG] = FLAG_DIVERGED
            break
        for k in range(n_line):
            line_a[k] = out_res[line_off + 8 * k + LN_A_OR]
        if rules_i[R_EASY] != 0:
            break
        n_new = cascade_level(topo, n_nodes, line_a, limits_a, line_over, line_unavail, rules_i,
                              rules_f[0], line_event, broken_seq, n_broken)
        if n_new == n_broken:
            break
        n_broken = n_new
        depth += 1
    report[RP_N_BROKEN] = n_broken
    report[RP_DEPTH] = depth
    if report[RP_FLAG] == FLAG_NONE:
        count_overflows(topo, n_nodes, line_a, limits_a, line_over)
        loads_cut = 0
        prods_cut = 0
        for p in range(n_prod):
            if out_mask[n_bus + p]:
                prods_cut += 1
        for d in range(n_load):
            if out_mask[n_bus + n_prod + d]:
                loads_cut += 1
        report[RP_LOADS_CUT] = loads_cut
        report[RP_PRODS_CUT] = prods_cut
        report[RP_FLAG] = cut_flag(loads_cut, prods_cut, rules_i)


@njit(cache=True, inline="always")
def game_step(action, topo, line_unavail, line_over, line_cd, sub_cd, node_switch_sub,
              rules_i, rules_f, maint_row, hazard_row, inj, limits_a, fixed, ac, max_iter, tol,
              grid_i, grid_f, bus_v, out_mask, out_res, ws_i, ws_f,
              applied, line_event, sub_event, broken_seq, report):
    """One game transition; see the module docstring. Never raises. ``fixed``: 0, or 1 when
    ``ac`` is a constant (:func:`powerflow`)."""
    for i in range(report.shape[0]):
        report[i] = 0
    if begin_step(action, topo, line_unavail, line_cd, sub_cd, node_switch_sub, rules_i,
                  maint_row, hazard_row, applied, line_event, sub_event):
        report[RP_REPLACED] = 1
    solve_cascade(topo, line_unavail, line_over, rules_i, rules_f, inj, limits_a, fixed, ac,
                  max_iter, tol, grid_i, grid_f, bus_v, out_mask, out_res, ws_i, ws_f, line_event,
                  broken_seq, report)


def _make_env_step(mode: int | None):
    """The step kernel for power-flow mode ``mode`` (``AC_NEWTON``, ``AC_FAST_DECOUPLED`` or
    ``DC``: a constant down the call tree, so numba compiles that mode's solver only; ``ac`` is
    then ignored), or, with None, for the run-time mode ``ac``."""

    def env_step(action, topo, line_unavail, line_over, line_cd, sub_cd, node_switch_sub,
                 rules_i, rules_f, maint_row, hazard_row, inj, limits_a, ac, max_iter, tol,
                 grid_i, grid_f, bus_v, ws_i, ws_f, planned_row, maint_fc_row, date_row,
                 out_mask, out_res, applied, line_event, sub_event, broken_seq, report,
                 f32, i32, i8, feats):
        """:func:`game_step` then :func:`~gym_powergrid.core.obs_kernel.fill_observation`: a
        whole env step in one call (one dispatch from Python)."""
        # the caller keeps every argument alive: no reference counting below (:mod:`.borrow`)
        action, topo, line_unavail, line_over = B(action), B(topo), B(line_unavail), B(line_over)
        line_cd, sub_cd, node_switch_sub = B(line_cd), B(sub_cd), B(node_switch_sub)
        rules_i, rules_f, maint_row = B(rules_i), B(rules_f), B(maint_row)
        hazard_row = B(hazard_row)
        inj, limits_a, grid_i, grid_f, bus_v = B(inj), B(limits_a), B(grid_i), B(grid_f), B(bus_v)
        ws_i, ws_f, planned_row, maint_fc_row = B(ws_i), B(ws_f), B(planned_row), B(maint_fc_row)
        date_row, out_mask, out_res, applied = B(date_row), B(out_mask), B(out_res), B(applied)
        line_event, sub_event, broken_seq, report = (B(line_event), B(sub_event), B(broken_seq),
                                                     B(report))
        f32, i32, i8, feats = B(f32), B(i32), B(i8), B(feats)
        # (numba decides ``mode is None`` before typing: constants in a one-mode kernel)
        fixed = 0 if mode is None else 1
        m = ac if mode is None else mode
        game_step(action, topo, line_unavail, line_over, line_cd, sub_cd, node_switch_sub,
                  rules_i, rules_f, maint_row, hazard_row, inj, limits_a, fixed, m, max_iter,
                  tol, grid_i, grid_f, bus_v, out_mask, out_res, ws_i, ws_f,
                  applied, line_event, sub_event, broken_seq, report)
        fill_observation(f32, i32, i8, feats, grid_i, out_res, out_mask,
                         report[RP_STATUS] == CONVERGED, topo, line_unavail, line_cd, sub_cd,
                         limits_a, planned_row, maint_fc_row, date_row, applied)

    return njit(cache=True)(env_step)


#: The step kernel of a run-time mode ``ac`` (every solver compiled; the vector kernel's).
env_step = _make_env_step(None)
#: One step kernel per power-flow mode (``AC_NEWTON``, ``AC_FAST_DECOUPLED``, ``DC``): what
#: the env calls, so that a first run compiles the solver it uses only.
ENV_STEP_BY_MODE = {m: _make_env_step(m) for m in (AC_NEWTON, AC_FAST_DECOUPLED, DC)}
