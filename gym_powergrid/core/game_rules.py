"""pypownet's game rules, each written once as a small numba function.

Every path of the game composes these: the numba step (:func:`.step_kernel.game_step`), the
Python loop around pandapower (``PowerGridEnv`` with ``loadflow_backend="pandapower"``) and
the batched look-ahead (:mod:`.batch`). They follow pypownet 2.2.9 (``pypownet/game.py``):

* **legality** (:func:`begin_step`): an action touching more substations / lines / both than
  allowed becomes do-nothing; otherwise switches of substations or lines on cooldown are
  dropped, and so are switches of lines that cannot be reconnected yet
  (``timesteps_before_lines_reconnectable > 0``);
* **switching**: the legal switches toggle; a switched line gets the line cooldown, a changed
  substation the node cooldown (both ``n``; the same step's countdown makes it ``n - 1``);
* **countdowns**: cooldowns and outage counters go down by one;
* **outages**: a maintenance or hazard of ``d`` steps starting now switches the line off and
  sets its counter to ``max(counter, d)``: it can be reconnected ``d + 1`` steps later;
* **cascade** (:func:`cascade_level`, at every level): a line above ``hard_coefficient`` times
  its limit breaks; a line above its limit that already was at the end of the last
  ``n_soft`` steps breaks too (the counter is the one from the start of the step); a broken
  line's counter is set to ``n_timesteps_hard/soft_overflow_is_broken`` (``n``: it can be
  reconnected ``n + 1`` steps later);
* **overflow counters** (:func:`count_overflows`): after the last power flow of the step, +1
  for each line above its limit, 0 for the others;
* **islands** (:func:`island_without_slack`): lines in service outside the slack's island
  make pypownet's solver diverge: the step has no solution (game over ``diverged``);
* **game over** (:func:`cut_flag`): more isolated loads / productions than tolerated.

Arrays: ``topo`` int8 in pypownet's layout (nodes then line status); ``line_unavail``,
``line_over``, ``line_cd`` int32 (L); ``sub_cd`` int32 (S); ``rules_i`` as
:data:`.step_kernel.N_RULES_I`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

R_MAX_SUBS, R_MAX_LINES, R_MAX_TOTAL, R_LINE_CD, R_NODE_CD = 0, 1, 2, 3, 4
R_N_SOFT, R_HARD_BROKEN, R_SOFT_BROKEN, R_EASY, R_MAX_LOADS_CUT, R_MAX_PRODS_CUT = 5, 6, 7, 8, 9, 10
N_RULES_I = 11

EV_ILLEGAL_RECONNECTION = 1
EV_LINE_COOLDOWN = 2
EV_BROKEN = 4
EV_MAINTENANCE = 8
EV_HAZARD = 16
EV_SUB_COOLDOWN = 1

FLAG_NONE, FLAG_DIVERGED, FLAG_LOADS, FLAG_PRODS = 0, 1, 2, 3


@njit(cache=True)
def begin_step(action, topo, line_unavail, line_cd, sub_cd, line_over, node_switch_sub, rules_i,
               maint_row, hazard_row, applied, line_event, sub_event):
    """Legality, switching, countdowns and outages starting now (everything before the power
    flow). Writes the legal part of ``action`` into ``applied`` and the per-element events;
    returns True when the action was over the limits (replaced by do-nothing)."""
    n_nodes = node_switch_sub.shape[0]
    n_line = line_cd.shape[0]
    n_sub = sub_cd.shape[0]
    line_event[:] = 0
    sub_event[:] = 0
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
    replaced = (n_subs > rules_i[R_MAX_SUBS] or n_lines > rules_i[R_MAX_LINES]
                or n_subs + n_lines > rules_i[R_MAX_TOTAL])
    if replaced:
        applied[:] = 0
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
            elif a != 0 and line_unavail[k] > 0:
                a = 0
                line_event[k] |= EV_ILLEGAL_RECONNECTION
            applied[n_nodes + k] = a

    touched[:] = False
    for i in range(n_nodes):
        if applied[i] != 0:
            topo[i] ^= 1
            touched[node_switch_sub[i]] = True
    for k in range(n_line):
        if applied[n_nodes + k] != 0:
            topo[n_nodes + k] ^= 1
            line_cd[k] = rules_i[R_LINE_CD]
    for s in range(n_sub):
        if touched[s]:
            sub_cd[s] = rules_i[R_NODE_CD]

    for k in range(n_line):
        if line_cd[k] > 0:
            line_cd[k] -= 1
        if line_unavail[k] > 0:
            line_unavail[k] -= 1
    for s in range(n_sub):
        if sub_cd[s] > 0:
            sub_cd[s] -= 1

    for k in range(n_line):
        d = max(maint_row[k], hazard_row[k])
        if d > 0:
            topo[n_nodes + k] = 0
            if line_unavail[k] < d:
                line_unavail[k] = d
            if maint_row[k] > 0:
                line_event[k] |= EV_MAINTENANCE
            if hazard_row[k] > 0:
                line_event[k] |= EV_HAZARD
    return replaced


@njit(cache=True)
def cascade_level(topo, n_nodes, line_a, limits_a, line_over, line_unavail, rules_i, hard_coef,
                  line_event, broken_seq, n_broken):
    """Break the overflowed lines of one cascade level; returns the new count of broken lines
    (``broken_seq[:count]`` lists them in order)."""
    n_soft = rules_i[R_N_SOFT]
    for k in range(line_unavail.shape[0]):
        if topo[n_nodes + k] == 0:
            continue
        lim = limits_a[k]
        usage = line_a[k] / lim if lim > 0 else 0.0
        steps = -1
        if usage > hard_coef:
            steps = rules_i[R_HARD_BROKEN]
        elif usage > 1.0 and line_over[k] >= n_soft:
            steps = rules_i[R_SOFT_BROKEN]
        if steps >= 0:
            topo[n_nodes + k] = 0
            if line_unavail[k] < steps:
                line_unavail[k] = steps
            line_event[k] |= EV_BROKEN
            broken_seq[n_broken] = k
            n_broken += 1
    return n_broken


@njit(cache=True)
def count_overflows(topo, n_nodes, line_a, limits_a, line_over):
    """After the last power flow of a step: +1 for lines above their limit, else 0."""
    for k in range(line_over.shape[0]):
        lim = limits_a[k]
        if topo[n_nodes + k] != 0 and lim > 0 and line_a[k] / lim > 1.0:
            line_over[k] += 1
        else:
            line_over[k] = 0


@njit(cache=True)
def island_without_slack(grid_i, topo, bus_on):
    """True when a line in service has an end on a busbar outside the slack's island."""
    n_sub, n_prod, n_load, n_line = grid_i[0], grid_i[1], grid_i[2], grid_i[3]
    o = 8 + 2 * n_prod + n_load  # grid_i: header, prod_sub, prod_kind, load_sub, line subs
    t_or = n_prod + n_load
    for k in range(n_line):
        if topo[t_or + 2 * n_line + k] == 0:
            continue
        b_or = grid_i[o + k] + n_sub * topo[t_or + k]
        b_ex = grid_i[o + n_line + k] + n_sub * topo[t_or + n_line + k]
        if not bus_on[b_or] or not bus_on[b_ex]:
            return True
    return False


@njit(cache=True)
def cut_flag(loads_cut, prods_cut, rules_i):
    """Game-over flag for a solved step with these isolated loads / productions."""
    if loads_cut > rules_i[R_MAX_LOADS_CUT]:
        return FLAG_LOADS
    if prods_cut > rules_i[R_MAX_PRODS_CUT]:
        return FLAG_PRODS
    return FLAG_NONE
