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
  make pypownet's solver diverge when the island has a load or a production to serve: the
  step has no solution (game over ``diverged``); an island with nothing to serve carries no
  flow and its elements are not isolated (:func:`isolated_elements`: pypownet counts an
  element as isolated only when no line in service touches its busbar);
* **game over** (:func:`cut_flag`): more isolated loads / productions than tolerated.

Arrays: ``topo`` int8 in pypownet's layout (nodes then line status); ``line_unavail``,
``line_over``, ``line_cd`` int32 (L); ``sub_cd`` int32 (S); ``rules_i`` as
:data:`.step_kernel.N_RULES_I`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .network import N_LINE_COLS as N_LINE_COLS_

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
def begin_step(action, topo, line_unavail, line_cd, sub_cd, node_switch_sub, rules_i, maint_row,
               hazard_row, applied, line_event, sub_event):
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
            if a != 0 and line_cd[k] > 0:  # pypownet flags both kinds when both apply
                line_event[k] |= EV_LINE_COOLDOWN
            if a != 0 and line_unavail[k] > 0:
                line_event[k] |= EV_ILLEGAL_RECONNECTION
            if line_event[k] != 0:
                a = 0
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


BREAK_NONE, BREAK_HARD, BREAK_SOFT = 0, 1, 2


@njit(cache=True)
def breaks(usage, over_steps, hard_coef, n_soft):
    """Whether an in-service line at ``usage`` (flow / limit) breaks at this cascade level:
    ``BREAK_HARD`` above ``hard_coef``, ``BREAK_SOFT`` above 1 after ``n_soft`` overflowed
    steps (``over_steps``: the counter at the start of the step), else ``BREAK_NONE``."""
    if usage > hard_coef:
        return BREAK_HARD
    if usage > 1.0 and over_steps >= n_soft:
        return BREAK_SOFT
    return BREAK_NONE


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
        kind = breaks(usage, line_over[k], hard_coef, n_soft)
        if kind != BREAK_NONE:
            steps = rules_i[R_HARD_BROKEN] if kind == BREAK_HARD else rules_i[R_SOFT_BROKEN]
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


ISLAND_NONE, ISLAND_DIVERGES, ISLAND_DEAD = 0, 1, 2


@njit(cache=True)
def island_without_slack(grid_i, topo, inj, bus_on):
    """Lines in service outside the slack's island (``bus_on``: the energised busbars).

    Returns ``ISLAND_NONE`` when there are none; ``ISLAND_DIVERGES`` when such an island holds
    a load or a production in service with a non-zero set-point (pypownet's solver has no
    solution there); ``ISLAND_DEAD`` when every such island has nothing to serve (pypownet's
    solver then converges with no flow in it).
    """
    n_sub, n_prod, n_load, n_line = grid_i[0], grid_i[1], grid_i[2], grid_i[3]
    o = 8 + 2 * n_prod + n_load  # grid_i: header, prod_sub, prod_kind, load_sub, line subs
    t_or = n_prod + n_load
    islanded = np.zeros(2 * n_sub, dtype=np.bool_)
    found = False
    for k in range(n_line):
        if topo[t_or + 2 * n_line + k] == 0:
            continue
        b_or = grid_i[o + k] + n_sub * topo[t_or + k]
        b_ex = grid_i[o + n_line + k] + n_sub * topo[t_or + n_line + k]
        if not bus_on[b_or] or not bus_on[b_ex]:
            islanded[b_or] = True
            islanded[b_ex] = True
            found = True
    if not found:
        return ISLAND_NONE
    for p in range(n_prod):
        b = grid_i[8 + p] + n_sub * topo[p]
        if islanded[b] and inj[2 * n_prod + p] > 0.0 and inj[p] != 0.0:
            return ISLAND_DIVERGES
    for d in range(n_load):
        b = grid_i[8 + 2 * n_prod + d] + n_sub * topo[n_prod + d]
        if islanded[b] and (inj[3 * n_prod + d] != 0.0 or inj[3 * n_prod + n_load + d] != 0.0):
            return ISLAND_DIVERGES
    return ISLAND_DEAD


@njit(cache=True)
def dead_island_settles(grid_i, grid_f, topo, bus_on, bus_v, tol):
    """pypownet's solver on a dead island (:data:`ISLAND_DEAD`): the island is in its system
    with a singular ``B'``; it converges only when the island's active-power mismatch at the
    starting point ``bus_v`` (the previous solution) is already below ``tol``, and diverges
    otherwise (checked against pypownet 2.2.9: an island left by a generator that was just
    switched off diverges, one whose generator was already off settles)."""
    n_sub, n_prod, n_load, n_line = grid_i[0], grid_i[1], grid_i[2], grid_i[3]
    o = 8 + 2 * n_prod + n_load
    t_or = n_prod + n_load
    lf0 = 4 + 2 * n_sub  # grid_f: header, sub_f (n_sub x 2), then line_f rows
    n_bus = 2 * n_sub
    mis = np.zeros(n_bus)
    vm = np.empty(n_bus)
    va = np.empty(n_bus)
    for b in range(n_bus):
        vm[b] = bus_v[0, b]
        va[b] = bus_v[1, b]
        if vm[b] <= 0.0 and b >= n_sub:  # busbar 1 unknown: its busbar 0's point
            vm[b] = bus_v[0, b - n_sub]
            va[b] = bus_v[1, b - n_sub]
    for k in range(n_line):
        if topo[t_or + 2 * n_line + k] == 0:
            continue
        bf = grid_i[o + k] + n_sub * topo[t_or + k]
        bt = grid_i[o + n_line + k] + n_sub * topo[t_or + n_line + k]
        if bus_on[bf] and bus_on[bt]:
            continue
        if vm[bf] <= 0.0 or vm[bt] <= 0.0:
            return False
        row = lf0 + N_LINE_COLS_ * k
        vf = vm[bf] * complex(math.cos(va[bf]), math.sin(va[bf]))
        vt = vm[bt] * complex(math.cos(va[bt]), math.sin(va[bt]))
        i_f = complex(grid_f[row], grid_f[row + 1]) * vf + complex(grid_f[row + 2],
                                                                  grid_f[row + 3]) * vt
        i_t = complex(grid_f[row + 4], grid_f[row + 5]) * vf + complex(grid_f[row + 6],
                                                                      grid_f[row + 7]) * vt
        mis[bf] += (vf * i_f.conjugate()).real
        mis[bt] += (vt * i_t.conjugate()).real
    for b in range(n_bus):
        if not bus_on[b] and mis[b] != 0.0:
            s = b if b < n_sub else -1
            g = grid_f[4 + 2 * s] if s >= 0 else 0.0  # busbar 0 shunt conductance
            if abs((mis[b] + g * vm[b] * vm[b]) / vm[b]) >= tol:
                return False
    return True


@njit(cache=True)
def isolated_elements(grid_i, topo, prod_cut, load_cut):
    """pypownet's isolated elements: on a busbar that no line in service touches. Clears the
    cut flag of elements of a dead island (:data:`ISLAND_DEAD`), which have lines."""
    n_sub, n_prod, n_load, n_line = grid_i[0], grid_i[1], grid_i[2], grid_i[3]
    o = 8 + 2 * n_prod + n_load
    t_or = n_prod + n_load
    touched = np.zeros(2 * n_sub, dtype=np.bool_)
    for k in range(n_line):
        if topo[t_or + 2 * n_line + k] != 0:
            touched[grid_i[o + k] + n_sub * topo[t_or + k]] = True
            touched[grid_i[o + n_line + k] + n_sub * topo[t_or + n_line + k]] = True
    for p in range(n_prod):
        if touched[grid_i[8 + p] + n_sub * topo[p]]:
            prod_cut[p] = False
    for d in range(n_load):
        if touched[grid_i[8 + 2 * n_prod + d] + n_sub * topo[n_prod + d]]:
            load_cut[d] = False


@njit(cache=True)
def cut_flag(loads_cut, prods_cut, rules_i):
    """Game-over flag for a solved step with these isolated loads / productions."""
    if loads_cut > rules_i[R_MAX_LOADS_CUT]:
        return FLAG_LOADS
    if prods_cut > rules_i[R_MAX_PRODS_CUT]:
        return FLAG_PRODS
    return FLAG_NONE
