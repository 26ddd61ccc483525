"""One numba entry point per power flow: buses, islands, admittances, solve, results.

Everything is in per-unit inside; outputs are in MW / MVAr / A / p.u. Output arrays are owned
by the caller. The kernel never raises: it returns a :class:`~gym_powergrid.core.PFStatus` code.

Result columns (constants below): ``prod_res[:, PR_P/PR_Q/PR_V]``, ``load_res[:, LR_P/LR_Q/LR_V]``,
``line_res[:, LN_P_OR ... LN_V_EX]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .network import build_ybus, element_buses, energised_buses
from .solvers import BUS_PQ, BUS_PV, BUS_REF, CONVERGED, ac_newton, dc_solve
from .status import PFStatus

NO_SLACK = int(PFStatus.NO_SLACK)

PR_P, PR_Q, PR_V = 0, 1, 2
LR_P, LR_Q, LR_V = 0, 1, 2
LN_P_OR, LN_Q_OR, LN_A_OR, LN_V_OR, LN_P_EX, LN_Q_EX, LN_A_EX, LN_V_EX = range(8)

SQRT3 = math.sqrt(3.0)


@njit(cache=True)
def run_powerflow(
    ac, max_iter, tol, sn_mva,
    # grid (static)
    n_sub, sub_vn_kv, sub_shunt_y, line_sub_or, line_sub_ex, y_ff, y_ft, y_tf, y_tt,
    line_x, line_tap, line_shift, prod_sub, prod_kind, slack_prod, slack_va, load_sub,
    # topology
    prod_node, load_node, line_or_node, line_ex_node, line_status,
    # injections (MW, MVAr, p.u.)
    prod_p, prod_q, prod_v, load_p, load_q,
    # state in/out: voltages of the 2*n_sub busbars (warm start when warm is True)
    bus_vm, bus_va, warm,
    # outputs
    bus_on, prod_cut, load_cut, prod_res, load_res, line_res,
):
    """Run an AC (``ac=True``) or DC power flow; return ``(status, n_iter)``."""
    n_bus = 2 * n_sub
    n_prod = prod_sub.shape[0]
    n_load = load_sub.shape[0]
    n_line = line_sub_or.shape[0]
    prod_bus = element_buses(n_sub, prod_sub, prod_node)
    load_bus = element_buses(n_sub, load_sub, load_node)
    lbus_or = element_buses(n_sub, line_sub_or, line_or_node)
    lbus_ex = element_buses(n_sub, line_sub_ex, line_ex_node)
    bus_cidx = np.empty(n_bus, dtype=np.int64)
    slack_bus = prod_bus[slack_prod]
    n_c = energised_buses(n_bus, slack_bus, lbus_or, lbus_ex, line_status, bus_cidx)

    for b in range(n_bus):
        bus_on[b] = bus_cidx[b] >= 0
    for k in range(n_prod):
        prod_cut[k] = bus_cidx[prod_bus[k]] < 0
    for k in range(n_load):
        load_cut[k] = bus_cidx[load_bus[k]] < 0
    prod_res[:] = 0.0
    load_res[:] = 0.0
    line_res[:] = 0.0

    # ---- bus specification
    cbus = np.empty(n_c, dtype=np.int64)  # compact -> bus
    for b in range(n_bus):
        if bus_cidx[b] >= 0:
            cbus[bus_cidx[b]] = b
    bus_type = np.zeros(n_c, dtype=np.int64)
    p_spec = np.zeros(n_c)
    q_spec = np.zeros(n_c)
    v_set = np.zeros(n_c)
    for k in range(n_prod):
        c = bus_cidx[prod_bus[k]]
        if c < 0:
            continue
        kind = prod_kind[k]
        if k == slack_prod:
            bus_type[c] = BUS_REF
            v_set[c] = prod_v[k]
        elif kind == 1:
            p_spec[c] += prod_p[k] / sn_mva
            if bus_type[c] == BUS_PQ:
                bus_type[c] = BUS_PV
                v_set[c] = prod_v[k]
        else:
            p_spec[c] += prod_p[k] / sn_mva
            q_spec[c] += prod_q[k] / sn_mva
    bus_type[0] = BUS_REF  # compact 0 is the slack bus by construction of the BFS
    for k in range(n_load):
        c = bus_cidx[load_bus[k]]
        if c >= 0:
            p_spec[c] -= load_p[k] / sn_mva
            q_spec[c] -= load_q[k] / sn_mva

    # ---- initial point
    vm = np.empty(n_c)
    va = np.empty(n_c)
    for c in range(n_c):
        b = cbus[c]
        if warm and bus_vm[b] > 0.0:
            vm[c] = bus_vm[b]
            va[c] = bus_va[b]
        elif warm and b >= n_sub and bus_vm[b - n_sub] > 0.0:
            vm[c] = bus_vm[b - n_sub]
            va[c] = bus_va[b - n_sub]
        else:
            vm[c] = 1.0
            va[c] = slack_va
        if bus_type[c] != BUS_PQ:
            vm[c] = v_set[c]
    va[0] = slack_va
    if not ac:  # as pandapower's rundcpp: |V| = 1 p.u. except at voltage-controlled buses
        for c in range(n_c):
            vm[c] = 1.0 if bus_type[c] == BUS_PQ else v_set[c]

    y_ptr, y_col, y_val, y_diag = build_ybus(n_c, n_sub, bus_cidx, lbus_or, lbus_ex, line_status,
                                             y_ff, y_ft, y_tf, y_tt, sub_shunt_y)
    n_iter = 0
    if ac:
        status, n_iter, p_calc, q_calc = ac_newton(n_c, y_ptr, y_col, y_val, y_diag, bus_type,
                                                   p_spec, q_spec, vm, va, max_iter, tol)
    else:
        # B matrix on the same pattern: b = 1 / (x * tap); phase shifters inject P
        b_val = np.zeros(y_col.shape[0])
        p_dc = p_spec.copy()
        for s in range(n_sub):
            c = bus_cidx[s]
            if c >= 0:
                p_dc[c] -= sub_shunt_y[s].real
        for k in range(n_line):
            if not line_status[k]:
                continue
            f = bus_cidx[lbus_or[k]]
            if f < 0:
                continue
            t = bus_cidx[lbus_ex[k]]
            bk = 1.0 / (line_x[k] * line_tap[k])
            _add_real(y_ptr, y_col, b_val, f, f, bk)
            _add_real(y_ptr, y_col, b_val, t, t, bk)
            _add_real(y_ptr, y_col, b_val, f, t, -bk)
            _add_real(y_ptr, y_col, b_val, t, f, -bk)
            pf_inj = -bk * line_shift[k]
            p_dc[f] -= pf_inj
            p_dc[t] += pf_inj
        status = dc_solve(n_c, y_ptr, y_col, b_val, 0, p_dc, va)
        p_calc = np.zeros(n_c)
        q_calc = np.zeros(n_c)

    if status != CONVERGED:
        return status, n_iter

    # ---- write back state and results
    for b in range(n_bus):
        c = bus_cidx[b]
        if c >= 0:
            bus_vm[b] = vm[c]
            bus_va[b] = va[c]
        else:
            bus_vm[b] = 0.0
            bus_va[b] = 0.0

    p_bus = np.zeros(n_c)  # net injection (MW) computed from flows + shunts
    q_bus = np.zeros(n_c)
    for k in range(n_line):
        if not line_status[k]:
            continue
        f = bus_cidx[lbus_or[k]]
        if f < 0:
            continue
        t = bus_cidx[lbus_ex[k]]
        ibase_or = sn_mva / (SQRT3 * sub_vn_kv[line_sub_or[k]]) * 1e3
        ibase_ex = sn_mva / (SQRT3 * sub_vn_kv[line_sub_ex[k]]) * 1e3
        if ac:
            vf = vm[f] * (math.cos(va[f]) + 1j * math.sin(va[f]))
            vt = vm[t] * (math.cos(va[t]) + 1j * math.sin(va[t]))
            i_f = y_ff[k] * vf + y_ft[k] * vt
            i_t = y_tf[k] * vf + y_tt[k] * vt
            s_f = vf * i_f.conjugate()
            s_t = vt * i_t.conjugate()
            line_res[k, LN_P_OR] = s_f.real * sn_mva
            line_res[k, LN_Q_OR] = s_f.imag * sn_mva
            line_res[k, LN_P_EX] = s_t.real * sn_mva
            line_res[k, LN_Q_EX] = s_t.imag * sn_mva
            line_res[k, LN_A_OR] = abs(i_f) * ibase_or
            line_res[k, LN_A_EX] = abs(i_t) * ibase_ex
        else:
            bk = 1.0 / (line_x[k] * line_tap[k])
            pf = bk * (va[f] - va[t]) - bk * line_shift[k]
            line_res[k, LN_P_OR] = pf * sn_mva
            line_res[k, LN_P_EX] = -pf * sn_mva
            line_res[k, LN_A_OR] = abs(pf) * ibase_or / vm[f]
            line_res[k, LN_A_EX] = abs(pf) * ibase_ex / vm[t]
        line_res[k, LN_V_OR] = vm[f]
        line_res[k, LN_V_EX] = vm[t]
        p_bus[f] += line_res[k, LN_P_OR]
        p_bus[t] += line_res[k, LN_P_EX]
        q_bus[f] += line_res[k, LN_Q_OR]
        q_bus[t] += line_res[k, LN_Q_EX]
    for s in range(n_sub):
        c = bus_cidx[s]
        if c >= 0:
            y = sub_shunt_y[s]
            v2 = vm[c] * vm[c]
            p_bus[c] += y.real * v2 * sn_mva
            q_bus[c] -= y.imag * v2 * sn_mva

    # loads
    for k in range(n_load):
        c = bus_cidx[load_bus[k]]
        if c >= 0:
            load_res[k, LR_P] = load_p[k]
            load_res[k, LR_Q] = load_q[k]
            load_res[k, LR_V] = vm[c]
            p_bus[c] += load_p[k]
            q_bus[c] += load_q[k]
    # productions: fixed ones first, then what is left goes to the slack / voltage controllers
    n_ctrl = np.zeros(n_c, dtype=np.int64)
    for k in range(n_prod):
        c = bus_cidx[prod_bus[k]]
        if c < 0:
            continue
        prod_res[k, PR_V] = vm[c]
        if k == slack_prod:
            n_ctrl[c] += 1
            continue
        prod_res[k, PR_P] = prod_p[k]
        p_bus[c] -= prod_p[k]
        if prod_kind[k] == 2:
            prod_res[k, PR_Q] = prod_q[k]
            q_bus[c] -= prod_q[k]
        else:
            n_ctrl[c] += 1
    prod_res[slack_prod, PR_P] = p_bus[0]
    for k in range(n_prod):
        c = bus_cidx[prod_bus[k]]
        if c >= 0 and (k == slack_prod or prod_kind[k] == 1) and ac:
            prod_res[k, PR_Q] = q_bus[c] / n_ctrl[c]
    return status, n_iter


@njit(cache=True)
def _add_real(ptr, col, val, i, j, x):
    for p in range(ptr[i], ptr[i + 1]):
        if col[p] == j:
            val[p] += x
            return
