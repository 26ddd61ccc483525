"""Fill the observation (pypownet's fields) and the reward features in one numba call.

The observation lives in three fresh buffers per step (float32, int32, int8); the env hands out
views into them, one per key (:func:`obs_layout` gives each key's buffer and slice). Keys and
their order inside each buffer are fixed here; the env's ``Dict`` space orders keys by name.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .pf_kernel import LN_A_OR, LN_P_EX, LN_P_OR, LN_Q_EX, LN_Q_OR, LN_V_EX, LN_V_OR

# reward features (float64)
FT_LOADS_CUT, FT_PRODS_CUT, FT_DISTANCE, FT_SUM_SQ_USAGE, FT_MEAN_MARGIN = 0, 1, 2, 3, 4
FT_NODE_SWITCHES, FT_LINE_SWITCHES, FT_N_ON = 5, 6, 7
#: in-service lines above their thermal limit (the ``overloaded_lines`` constraint cost)
FT_OVERLOADED = 8
N_FEATURES = 9

F32_KEYS = (
    ("active_loads", "D"), ("reactive_loads", "D"), ("voltage_loads", "D"),
    ("active_productions", "P"), ("reactive_productions", "P"), ("voltage_productions", "P"),
    ("active_flows_origin", "L"), ("reactive_flows_origin", "L"), ("voltage_flows_origin", "L"),
    ("active_flows_extremity", "L"), ("reactive_flows_extremity", "L"),
    ("voltage_flows_extremity", "L"), ("ampere_flows", "L"), ("thermal_limits", "L"),
    ("planned_active_loads", "D"), ("planned_reactive_loads", "D"),
    ("planned_active_productions", "P"), ("planned_voltage_productions", "P"),
)
I32_KEYS = (
    ("substations_ids", "S"), ("loads_substations_ids", "D"), ("prods_substations_ids", "P"),
    ("lines_or_substations_ids", "L"), ("lines_ex_substations_ids", "L"),
    ("timesteps_before_lines_reconnectable", "L"), ("timesteps_before_lines_reactionable", "L"),
    ("timesteps_before_nodes_reactionable", "S"), ("timesteps_before_planned_maintenance", "L"),
    ("date_year", "1"), ("date_month", "1"), ("date_day", "1"), ("date_hour", "1"),
    ("date_minute", "1"), ("date_second", "1"), ("date_day_of_week", "1"),
)
I8_KEYS = (
    ("lines_status", "L"), ("are_loads_cut", "D"), ("are_prods_cut", "P"),
    ("productions_nodes", "P"), ("loads_nodes", "D"), ("lines_or_nodes", "L"),
    ("lines_ex_nodes", "L"), ("initial_productions_nodes", "P"), ("initial_loads_nodes", "D"),
    ("initial_lines_or_nodes", "L"), ("initial_lines_ex_nodes", "L"),
)


def obs_layout(n_sub: int, n_prod: int, n_load: int, n_line: int):
    """``({key: (buffer index 0/1/2, slice)}, (len_f32, len_i32, len_i8))``."""
    size = {"S": n_sub, "P": n_prod, "D": n_load, "L": n_line, "1": 1}
    layout = {}
    lengths = []
    for b, keys in enumerate((F32_KEYS, I32_KEYS, I8_KEYS)):
        o = 0
        for k, s in keys:
            layout[k] = (b, slice(o, o + size[s]))
            o += size[s]
        lengths.append(o)
    return layout, tuple(lengths)


@njit(cache=True)
def fill_observation(f32, i32, i8, feats, grid_i, out_res, out_mask, converged, topo,
                     line_unavail, line_cd, sub_cd, limits_a, planned_row, maint_fc_row,
                     date_row, applied):
    """Write every observation key and the reward features (see the module docstring)."""
    n_sub = grid_i[0]
    P = grid_i[1]
    D = grid_i[2]
    L = grid_i[3]
    n_bus = 2 * n_sub
    pr = 0
    lr = 3 * P
    ln = 3 * P + 3 * D
    # ---- float32
    o = 0
    for d in range(D):
        f32[o + d] = out_res[lr + 3 * d]
        f32[o + D + d] = out_res[lr + 3 * d + 1]
        f32[o + 2 * D + d] = out_res[lr + 3 * d + 2]
    o += 3 * D
    for p in range(P):
        f32[o + p] = out_res[pr + 3 * p]
        f32[o + P + p] = out_res[pr + 3 * p + 1]
        f32[o + 2 * P + p] = out_res[pr + 3 * p + 2]
    o += 3 * P
    cols = (LN_P_OR, LN_Q_OR, LN_V_OR, LN_P_EX, LN_Q_EX, LN_V_EX, LN_A_OR)
    for c in range(7):
        col = cols[c]
        for k in range(L):
            f32[o + k] = out_res[ln + 8 * k + col]
        o += L
    o_lim = o
    for k in range(L):
        f32[o + k] = limits_a[k]
    o += L
    # planned row (packed: prod_p | prod_q | prod_v | load_p | load_q)
    for d in range(D):
        f32[o + d] = planned_row[3 * P + d]
        f32[o + D + d] = planned_row[3 * P + D + d]
    o += 2 * D
    for p in range(P):
        f32[o + p] = planned_row[p]
        f32[o + P + p] = planned_row[2 * P + p]
    # ---- int32
    o = 0
    for s in range(n_sub):
        i32[o + s] = s
    o += n_sub
    gi = 8  # GI_HDR: prod_sub (P) | prod_kind (P) | load_sub (D) | line_sub_or (L) | ex (L)
    for d in range(D):
        i32[o + d] = grid_i[gi + 2 * P + d]
    o += D
    for p in range(P):
        i32[o + p] = grid_i[gi + p]
    o += P
    for k in range(L):
        i32[o + k] = grid_i[gi + 2 * P + D + k]
        i32[o + L + k] = grid_i[gi + 2 * P + D + L + k]
        i32[o + 2 * L + k] = line_unavail[k]
        i32[o + 3 * L + k] = line_cd[k]
    o += 4 * L
    for s in range(n_sub):
        i32[o + s] = sub_cd[s]
    o += n_sub
    for k in range(L):
        i32[o + k] = maint_fc_row[k]
    o += L
    for j in range(7):
        i32[o + j] = date_row[j]
    # ---- int8
    n_nodes = P + D + 2 * L
    o = 0
    for k in range(L):
        i8[o + k] = topo[n_nodes + k]
    o += L
    loads_cut = 0
    prods_cut = 0
    for d in range(D):
        cut = 1 if (out_mask[n_bus + P + d] or not converged) else 0
        i8[o + d] = cut
        loads_cut += cut
    o += D
    for p in range(P):
        cut = 1 if (out_mask[n_bus + p] or not converged) else 0
        i8[o + p] = cut
        prods_cut += cut
    o += P
    distance = 0
    for i in range(n_nodes):
        i8[o + i] = topo[i]
        i8[o + n_nodes + i] = 0
        distance += topo[i]
    # ---- reward features
    sum_sq = 0.0
    margin = 0.0
    n_on = 0
    n_over = 0
    for k in range(L):
        lim = limits_a[k]
        u = np.float32(out_res[ln + 8 * k + LN_A_OR]) / np.float32(lim) if lim > 0 else 0.0
        sum_sq += u * u
        if topo[n_nodes + k] != 0:
            margin += 1.0 - u
            n_on += 1
            # as the observation: float32 flows / float32 limits where the limit is > 0
            if f32[o_lim + k] > 0 and np.float32(out_res[ln + 8 * k + LN_A_OR]) / f32[
                    o_lim + k] > 1.0:
                n_over += 1
    node_sw = 0
    line_sw = 0
    for i in range(n_nodes):
        node_sw += applied[i]
    for k in range(L):
        line_sw += applied[n_nodes + k]
    feats[FT_LOADS_CUT] = loads_cut
    feats[FT_PRODS_CUT] = prods_cut
    feats[FT_DISTANCE] = distance
    feats[FT_SUM_SQ_USAGE] = sum_sq
    feats[FT_MEAN_MARGIN] = margin / n_on if n_on > 0 else 0.0
    feats[FT_NODE_SWITCHES] = node_sw
    feats[FT_LINE_SWITCHES] = line_sw
    feats[FT_N_ON] = n_on
    feats[FT_OVERLOADED] = n_over
