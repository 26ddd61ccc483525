"""N independent grids stepped in one numba call, parallel over the grids.

Each grid ``i`` is row ``i`` of stacked 2-D (or 3-D) arrays holding what one
:func:`~gym_powergrid.core.step_kernel.env_step` call reads and writes; the kernel runs that
same function on every active row (``prange``: all cores). No rule is written here.

Per-grid chronic data arrive as numba typed lists (one array per grid, the grid's own
chronic): ``inj_l[i]`` the realised injections (T, K), ``planned_l[i]`` the planned ones,
``maint_l[i]`` / ``hazard_l[i]`` the outage rows (T, L), ``fc_l[i]`` the maintenance forecast
(T, L), ``dates_l[i]`` the date parts (T, 7). ``t[i]`` is the grid's current row, advanced
here as the single env advances ``state.step``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .step_kernel import env_step


@njit(parallel=True, cache=True)
def vector_step(active, t, n_steps, actions, topo, line_unavail, line_over, line_cd, sub_cd,
                node_switch_sub, rules_i, rules_f, limits_a, ac, max_iter, tol, grid_i, grid_f,
                bus_v, ws_i, ws_f, inj_l, planned_l, maint_l, hazard_l, fc_l, dates_l,
                out_mask, out_res, applied, line_event, sub_event, broken_seq, report,
                f32, i32, i8, feats):
    """One game step of every grid ``i`` with ``active[i]`` (see the module docstring)."""
    for g in prange(active.shape[0]):
        i = np.int64(g)  # prange's index is unsigned: typed lists index with int64
        if active[i]:
            ti = min(t[i] + 1, n_steps[i] - 1)
            t[i] = ti
            tp = min(ti + 1, n_steps[i] - 1)
            env_step(actions[i], topo[i], line_unavail[i], line_over[i], line_cd[i], sub_cd[i],
                     node_switch_sub, rules_i, rules_f, maint_l[i][ti], hazard_l[i][ti],
                     inj_l[i][ti], limits_a[i], ac, max_iter, tol, grid_i, grid_f, bus_v[i],
                     ws_i[i], ws_f[i], planned_l[i][tp], fc_l[i][ti], dates_l[i][ti],
                     out_mask[i], out_res[i], applied[i], line_event[i], sub_event[i],
                     broken_seq[i], report[i], f32[i], i32[i], i8[i], feats[i])


@njit(cache=True)
def event_counts(line_event, sub_event, ill_bit, lcd_bit, scd_bit, maint_bit, haz_bit, out):
    """Per grid: ``out[i] = [refused reconnections, lines on cooldown, substations on
    cooldown, maintenances started, hazards started]`` from the kernel's event bits."""
    n, n_line = line_event.shape
    n_sub = sub_event.shape[1]
    for i in range(n):
        a = 0
        b = 0
        c = 0
        d = 0
        e = 0
        for k in range(n_line):
            v = line_event[i, k]
            if v & ill_bit:
                a += 1
            if v & lcd_bit:
                b += 1
            if v & maint_bit:
                d += 1
            if v & haz_bit:
                e += 1
        for s in range(n_sub):
            if sub_event[i, s] & scd_bit:
                c += 1
        out[i, 0] = a
        out[i, 1] = b
        out[i, 2] = c
        out[i, 3] = d
        out[i, 4] = e


def empty_like_rows(n: int, row: np.ndarray) -> np.ndarray:
    """A zeroed ``(n, *row.shape)`` array of ``row``'s dtype."""
    return np.zeros((n,) + tuple(np.shape(row)), dtype=np.asarray(row).dtype)
