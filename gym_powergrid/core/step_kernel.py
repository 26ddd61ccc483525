"""The whole game transition in one numba call: legality, switches, countdowns, outages,
power flow and cascade, cut elements and game over.

This is the fast path of :class:`~gym_powergrid.envs.PowerGridEnv` (numba backend). It follows
exactly the rules of :mod:`gym_powergrid.core.rules` (the Python reference used with the
pandapower backend); tests check both give the same episodes.

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

from .obs_kernel import fill_observation
from .pf_kernel import LN_A_OR, run_powerflow
from .status import PFStatus

CONVERGED = int(PFStatus.CONVERGED)

R_MAX_SUBS, R_MAX_LINES, R_MAX_TOTAL, R_LINE_CD, R_NODE_CD = 0, 1, 2, 3, 4
R_N_SOFT, R_HARD_BROKEN, R_SOFT_BROKEN, R_EASY, R_MAX_LOADS_CUT, R_MAX_PRODS_CUT = 5, 6, 7, 8, 9, 10
N_RULES_I = 11

EV_ILLEGAL_RECONNECTION = 1
EV_LINE_COOLDOWN = 2
EV_BROKEN = 4
EV_MAINTENANCE = 8
EV_HAZARD = 16
EV_SUB_COOLDOWN = 1

(RP_REPLACED, RP_N_BROKEN, RP_DEPTH, RP_FLAG, RP_LOADS_CUT, RP_PRODS_CUT, RP_STATUS,
 RP_ITER) = range(8)
N_REPORT = 8
FLAG_NONE, FLAG_DIVERGED, FLAG_LOADS, FLAG_PRODS = 0, 1, 2, 3


@njit(cache=True)
def _break(topo, status_off, line_unavail, line_over, line, steps, line_event, broken_seq,
           n_broken):
    topo[status_off + line] = 0
    line_over[line] = 0
    keep = steps - 1 if steps > 0 else 0
    if line_unavail[line] < keep:
        line_unavail[line] = keep
    line_event[line] |= EV_BROKEN
    broken_seq[n_broken] = line
    return n_broken + 1


@njit(cache=True)
def game_step(action, topo, line_unavail, line_over, line_cd, sub_cd, node_switch_sub,
              rules_i, rules_f, maint_row, hazard_row, inj, limits_a, ac, max_iter, tol,
              grid_i, grid_f, bus_v, out_mask, out_res, ws_i, ws_f,
              applied, line_event, sub_event, broken_seq, report):
    """One game transition; see the module docstring. Never raises."""
    n_nodes = node_switch_sub.shape[0]
    n_line = line_cd.shape[0]
    n_sub = sub_cd.shape[0]
    n_prod = grid_i[1]
    n_load = grid_i[2]
    for i in range(report.shape[0]):
        report[i] = 0
    line_event[:] = 0
    sub_event[:] = 0

    # ---- legality (pypownet: over the limits the whole action becomes do-nothing)
    touched = np.zeros(n_sub, dtype=np.bool_)
    n_subs = 0
    for i in range(n_nodes):
        if action[i] != 0 and not touched[node_switch_sub[i]]:
            touched[node_switch_sub[i]] = True
            n_subs += 1
    n_lines = 0
    for k in range(n_line):
        if action[n_nodes + k] != 0:
            n_lines += 1
    if (n_subs > rules_i[R_MAX_SUBS] or n_lines > rules_i[R_MAX_LINES]
            or n_subs + n_lines > rules_i[R_MAX_TOTAL]):
        applied[:] = 0
        report[RP_REPLACED] = 1
    else:
        for i in range(n_nodes):
            s = node_switch_sub[i]
            if action[i] != 0 and sub_cd[s] > 0:
                applied[i] = 0
                sub_event[s] |= EV_SUB_COOLDOWN
            else:
                applied[i] = action[i]
        for k in range(n_line):
            a = action[n_nodes + k]
            if a != 0 and line_cd[k] > 0:
                a = 0
                line_event[k] |= EV_LINE_COOLDOWN
            elif a != 0 and topo[n_nodes + k] == 0 and line_unavail[k] > 0:
                a = 0
                line_event[k] |= EV_ILLEGAL_RECONNECTION
            applied[n_nodes + k] = a

    # ---- apply switches and start cooldowns
    touched[:] = False
    for i in range(n_nodes):
        if applied[i] != 0:
            topo[i] ^= 1
            touched[node_switch_sub[i]] = True
    for k in range(n_line):
        if applied[n_nodes + k] != 0:
            topo[n_nodes + k] ^= 1
            if rules_i[R_LINE_CD] > 0:
                line_cd[k] = rules_i[R_LINE_CD]
    if rules_i[R_NODE_CD] > 0:
        for s in range(n_sub):
            if touched[s]:
                sub_cd[s] = rules_i[R_NODE_CD]

    # ---- countdowns
    for k in range(n_line):
        if line_cd[k] > 0:
            line_cd[k] -= 1
        if line_unavail[k] > 0:
            line_unavail[k] -= 1
    for s in range(n_sub):
        if sub_cd[s] > 0:
            sub_cd[s] -= 1

    # ---- maintenance and hazards starting now
    for k in range(n_line):
        d = max(maint_row[k], hazard_row[k])
        if d > 0:
            topo[n_nodes + k] = 0
            line_over[k] = 0
            if line_unavail[k] < d - 1:
                line_unavail[k] = d - 1
            if maint_row[k] > 0:
                line_event[k] |= EV_MAINTENANCE
            if hazard_row[k] > 0:
                line_event[k] |= EV_HAZARD

    # ---- power flow and cascade
    n_broken = 0
    depth = 0
    line_off = 3 * n_prod + 3 * n_load
    hard_coef = rules_f[0]
    while True:
        status, n_iter = run_powerflow(ac, True, max_iter, tol, grid_i, grid_f, topo, inj, bus_v,
                                       out_mask, out_res, ws_i, ws_f)
        report[RP_STATUS] = status
        report[RP_ITER] += n_iter
        if status != CONVERGED:
            report[RP_FLAG] = FLAG_DIVERGED
            break
        if rules_i[R_EASY] != 0:
            break
        n_new = 0
        for k in range(n_line):
            if topo[n_nodes + k] == 0:
                if depth == 0:
                    line_over[k] = 0
                continue
            lim = limits_a[k]
            usage = out_res[line_off + 8 * k + LN_A_OR] / lim if lim > 0 else 0.0
            if depth == 0:
                if usage > 1.0:
                    line_over[k] += 1
                else:
                    line_over[k] = 0
            if usage > hard_coef:
                n_broken = _break(topo, n_nodes, line_unavail, line_over, k,
                                  rules_i[R_HARD_BROKEN], line_event, broken_seq, n_broken)
                n_new += 1
            elif depth == 0 and usage > 1.0 and line_over[k] >= rules_i[R_N_SOFT]:
                n_broken = _break(topo, n_nodes, line_unavail, line_over, k,
                                  rules_i[R_SOFT_BROKEN], line_event, broken_seq, n_broken)
                n_new += 1
        if n_new == 0:
            break
        depth += 1
    report[RP_N_BROKEN] = n_broken
    report[RP_DEPTH] = depth

    # ---- isolated elements and game over
    if report[RP_FLAG] == FLAG_NONE:
        n_bus = 2 * n_sub
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
        if loads_cut > rules_i[R_MAX_LOADS_CUT]:
            report[RP_FLAG] = FLAG_LOADS
        elif prods_cut > rules_i[R_MAX_PRODS_CUT]:
            report[RP_FLAG] = FLAG_PRODS


@njit(cache=True)
def env_step(action, topo, line_unavail, line_over, line_cd, sub_cd, node_switch_sub,
             rules_i, rules_f, maint_row, hazard_row, inj, limits_a, ac, max_iter, tol,
             grid_i, grid_f, bus_v, ws_i, ws_f, planned_row, maint_fc_row, date_row,
             out_mask, out_res, applied, line_event, sub_event, broken_seq, report,
             f32, i32, i8, feats):
    """:func:`game_step` then :func:`~gym_powergrid.core.obs_kernel.fill_observation`: a whole
    env step in one call (one dispatch from Python)."""
    game_step(action, topo, line_unavail, line_over, line_cd, sub_cd, node_switch_sub,
              rules_i, rules_f, maint_row, hazard_row, inj, limits_a, ac, max_iter, tol,
              grid_i, grid_f, bus_v, out_mask, out_res, ws_i, ws_f,
              applied, line_event, sub_event, broken_seq, report)
    fill_observation(f32, i32, i8, feats, grid_i, out_res, out_mask,
                     report[RP_STATUS] == CONVERGED, topo, line_unavail, line_cd, sub_cd,
                     limits_a, planned_row, maint_fc_row, date_row, applied)
