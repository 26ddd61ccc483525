"""Layout of the packed arrays of :func:`~.pf_kernel.run_powerflow`: header indices, result
columns, workspace sections (sizes, views, allocation, size check).

The table of the arrays is in :mod:`.pf_kernel`. The numba functions here are
``inline="always"`` (pasted into their numba callers; still callable from Python).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .status import PFStatus

NO_SLACK = int(PFStatus.NO_SLACK)
#: values of ``run_powerflow``'s ``ac`` argument
DC, AC_NEWTON, AC_FAST_DECOUPLED = 0, 1, 2
#: Status returned when the packed arrays' sizes disagree with ``grid_i`` (never from
#: :class:`~gym_powergrid.core.powerflow.NumbaPowerFlow`, which validates first).
BAD_INPUT = -1

PR_P, PR_Q, PR_V = 0, 1, 2
LR_P, LR_Q, LR_V = 0, 1, 2
LN_P_OR, LN_Q_OR, LN_A_OR, LN_V_OR, LN_P_EX, LN_Q_EX, LN_A_EX, LN_V_EX = range(8)

SQRT3 = math.sqrt(3.0)
#: A converged |V| below this is the spurious root of a bus without injection (V = 0 solves
#: P = Q = 0 there), not an operating point: the kernel retries flat, then reports DIVERGED.
VM_COLLAPSE_PU = 1e-3
#: A warm-started solution with a |V| below this is checked against a flat start, and the
#: higher-voltage solution kept (stressed grids have several roots; pandapower starts flat).
VM_LOW_PU = 0.5

# grid_i / grid_f headers
GI_N_SUB, GI_N_PROD, GI_N_LOAD, GI_N_LINE, GI_SLACK_PROD = range(5)
GI_HDR = 8
GF_SN_MVA, GF_SLACK_VA = 0, 1
GF_HDR = 4

# ws_i header
WI_N_SUB, WI_N_PROD, WI_N_LOAD, WI_N_LINE = range(4)
WI_CAP_U = 4  # capacity of the fill sections (off-diagonal entries of U)
WI_VALID = 5  # 1 when the cached topology analysis matches the key
WI_N_C = 6  # energised buses of the cached topology
WI_NNZ_Y = 7  # admittance entries of the cached topology
WI_NNZ_U = 8  # fill entries of the cached topology
WI_NEED_U = 9  # largest fill seen (grow the workspace when > WI_CAP_U)
WI_DC_STATE = 10  # 0: DC not factorised for the cached topology, 1: sparse factors, 2: dense
WI_N_ANALYSES = 11  # number of topology analyses run with this workspace (statistics)
WI_SIZE_F = 12  # length of ws_f
WI_SYM_VALID = 13  # 1 when perm .. l_col hold the symbolic LU of the pattern sym_ptr/sym_col
WI_SYM_NC = 14  # size of that pattern
WI_N_SYMBOLIC = 15  # number of symbolic analyses (orderings) run with this workspace
#: the work vectors e, f, inv_v hold vm cos va, vm sin va, 1 / vm of the work vm, va at
#: positions below this (what a Newton solve leaves: its last mismatch); 0 after other solvers
WI_N_TRIG = 16
WI_HDR = 17

DC_NONE, DC_SPARSE, DC_DENSE = 0, 1, 2


@njit(cache=True, error_model="numpy", inline="always")
def ws_i_size(n_sub, n_prod, n_load, n_line, cap_u):
    n = 2 * n_sub
    cy = n + 2 * n_line
    return (WI_HDR + (2 * n_prod + n_load + 3 * n_line) + 6 * n + n_prod + n_load + 2 * n_line
            + (n + 1) + cy + 2 * n + 2 * (n + 1) + (n + 1) + cy + 2 * cap_u)


@njit(cache=True, error_model="numpy", inline="always")
def ws_f_size(n_sub, n_line, cap_u):
    n = 2 * n_sub
    cy = n + 2 * n_line
    return 4 * cy + n + 2 * cap_u + n + 4 * cy + 8 * cap_u + 8 * n + 13 * n + 6 * n


@njit(cache=True, error_model="numpy", inline="always")
def ws_i_views(ws_i, n_sub, n_prod, n_load, n_line, cap_u):
    n = 2 * n_sub
    cy = n + 2 * n_line
    n_key = 2 * n_prod + n_load + 3 * n_line  # topology, then production in service (0/1)
    o = WI_HDR
    key = ws_i[o:o + n_key]
    o += n_key
    bus_cidx = ws_i[o:o + n]
    o += n
    cbus = ws_i[o:o + n]
    o += n
    bus_type = ws_i[o:o + n]
    o += n
    bus_vsrc = ws_i[o:o + n]
    o += n
    parent = ws_i[o:o + n]
    o += n
    y_diag = ws_i[o:o + n]
    o += n
    prod_bus = ws_i[o:o + n_prod]
    o += n_prod
    load_bus = ws_i[o:o + n_load]
    o += n_load
    lbus_or = ws_i[o:o + n_line]
    o += n_line
    lbus_ex = ws_i[o:o + n_line]
    o += n_line
    y_ptr = ws_i[o:o + n + 1]
    o += n + 1
    y_col = ws_i[o:o + cy]
    o += cy
    perm = ws_i[o:o + n]
    o += n
    iperm = ws_i[o:o + n]
    o += n
    u_ptr = ws_i[o:o + n + 1]
    o += n + 1
    l_ptr = ws_i[o:o + n + 1]
    o += n + 1
    sym_ptr = ws_i[o:o + n + 1]
    o += n + 1
    sym_col = ws_i[o:o + cy]
    o += cy
    u_col = ws_i[o:o + cap_u]
    o += cap_u
    l_col = ws_i[o:o + cap_u]
    return (key, bus_cidx, cbus, bus_type, bus_vsrc, parent, y_diag, prod_bus, load_bus,
            lbus_or, lbus_ex, y_ptr, y_col, perm, iperm, u_ptr, l_ptr, sym_ptr, sym_col, u_col,
            l_col)


@njit(cache=True, error_model="numpy", inline="always")
def ws_f_views(ws_f, n_sub, n_line, cap_u):
    """Cached sections (admittances, DC data) and fill-sized sections of ``ws_f``."""
    n = 2 * n_sub
    cy = n + 2 * n_line
    o = 0
    y_g = ws_f[o:o + cy]
    o += cy
    y_b = ws_f[o:o + cy]
    o += cy
    b_dc = ws_f[o:o + cy]
    o += cy
    dc_mat = ws_f[o:o + cy]
    o += cy
    p_dc0 = ws_f[o:o + n]
    o += n
    dc_u = ws_f[o:o + cap_u]
    o += cap_u
    dc_l = ws_f[o:o + cap_u]
    o += cap_u
    dc_dinv = ws_f[o:o + n]
    o += n
    jac = ws_f[o:o + 4 * cy]
    o += 4 * cy
    u_val = ws_f[o:o + 4 * cap_u]
    o += 4 * cap_u
    l_val = ws_f[o:o + 4 * cap_u]
    o += 4 * cap_u
    return (y_g, y_b, b_dc, dc_mat, p_dc0, dc_u, dc_l, dc_dinv, jac, u_val, l_val), o


@njit(cache=True, error_model="numpy", inline="always")
def ws_f_work(ws_f, o, n):
    """Per-call work vectors of ``ws_f`` starting at offset ``o`` (``n`` = number of busbars)."""
    d_inv = ws_f[o:o + 4 * n]
    o += 4 * n
    w = ws_f[o:o + 4 * n]
    o += 4 * n
    rhs = ws_f[o:o + 2 * n]
    o += 2 * n
    dx = ws_f[o:o + 2 * n]
    o += 2 * n
    work = ws_f[o:o + 2 * n]
    o += 2 * n
    vm = ws_f[o:o + n]
    o += n
    va = ws_f[o:o + n]
    o += n
    e = ws_f[o:o + n]
    o += n
    f = ws_f[o:o + n]
    o += n
    p_spec = ws_f[o:o + n]
    o += n
    q_spec = ws_f[o:o + n]
    o += n
    v_set = ws_f[o:o + n]
    o += n
    p_calc = ws_f[o:o + n]
    o += n
    q_calc = ws_f[o:o + n]
    o += n
    p_bus = ws_f[o:o + n]
    o += n
    q_bus = ws_f[o:o + n]
    o += n
    n_ctrl = ws_f[o:o + n]
    o += n
    inv_v = ws_f[o:o + n]
    return (d_inv, w, rhs, dx, work, vm, va, e, f, p_spec, q_spec, v_set, p_calc, q_calc, p_bus,
            q_bus, n_ctrl, inv_v)


@njit(cache=True, error_model="numpy", inline="always")
def alloc_workspace(n_sub, n_prod, n_load, n_line, cap_u):
    ws_i = np.zeros(ws_i_size(n_sub, n_prod, n_load, n_line, cap_u), dtype=np.int64)
    ws_f = np.zeros(ws_f_size(n_sub, n_line, cap_u))
    ws_i[WI_N_SUB] = n_sub
    ws_i[WI_N_PROD] = n_prod
    ws_i[WI_N_LOAD] = n_load
    ws_i[WI_N_LINE] = n_line
    ws_i[WI_CAP_U] = cap_u
    ws_i[WI_SIZE_F] = ws_f.shape[0]
    return ws_i, ws_f


@njit(cache=True, error_model="numpy", inline="always")
def ws_matches(ws_i, ws_f, n_sub, n_prod, n_load, n_line):
    if ws_i.shape[0] < WI_HDR:
        return False
    if (ws_i[WI_N_SUB] != n_sub or ws_i[WI_N_PROD] != n_prod or ws_i[WI_N_LOAD] != n_load
            or ws_i[WI_N_LINE] != n_line):
        return False
    cap_u = ws_i[WI_CAP_U]
    if cap_u < 0 or ws_i.shape[0] != ws_i_size(n_sub, n_prod, n_load, n_line, cap_u):
        return False
    return ws_f.shape[0] == ws_f_size(n_sub, n_line, cap_u) == ws_i[WI_SIZE_F]
