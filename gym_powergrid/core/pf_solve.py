"""The per-call part of :func:`~.pf_kernel.run_powerflow`: bus specification, initial point,
AC (Newton or fast-decoupled) or DC solve, results.

Every function here is ``inline="always"``: numba pastes it into its caller, so the whole power
flow is one compiled function instead of a chain of them (numba optimises and emits the machine
code of each compiled function's callees again with it: a deep chain multiplies the compile
time, see ``benchmarks/bench_startup.py --compile-profile``). The arguments are grouped in
small tuples of same-typed arrays, unpacked at the top of each function (free: nothing is
passed at run time):

* ``maps`` (int64): ``(bus_cidx, cbus, bus_type, bus_vsrc, prod_bus, load_bus, lbus_or,
  lbus_ex)``, the cached topology analysis;
* ``y_i`` (int64): ``(y_ptr, y_col, y_diag)``; ``y_f`` (float64): ``(y_g, y_b, b_dc, dc_mat,
  p_dc0, jac)``: admittance pattern and values, DC matrix and injections, Jacobian values;
* ``lu_i`` (int64): ``(perm, iperm, u_ptr, u_col, l_ptr, l_col)``; ``lu_f`` (float64):
  ``(u_val, l_val, dc_u, dc_l, dc_dinv)``: ordering, fill pattern, factors;
* ``wk`` (float64): the work vectors of :func:`~.pf_layout.ws_f_work`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .fdpf import fast_decoupled_xb
from .network import (
    LF_B_DC,
    LF_IBASE_EX,
    LF_IBASE_OR,
    LF_SHIFT,
    LF_YFF_B,
    LF_YFF_G,
    LF_YFT_B,
    LF_YFT_G,
    LF_YTF_B,
    LF_YTF_G,
    LF_YTT_B,
    LF_YTT_G,
    N_LINE_COLS,
    N_SUB_COLS,
    SF_SHUNT_B,
    SF_SHUNT_G,
)
from .pf_layout import (
    AC_FAST_DECOUPLED,
    DC,
    DC_DENSE,
    DC_NONE,
    DC_SPARSE,
    GF_HDR,
    GF_SLACK_VA,
    GF_SN_MVA,
    GI_HDR,
    GI_N_LINE,
    GI_N_LOAD,
    GI_N_PROD,
    GI_N_SUB,
    LN_A_EX,
    LN_A_OR,
    LN_P_EX,
    LN_P_OR,
    LN_Q_EX,
    LN_Q_OR,
    LN_V_EX,
    LN_V_OR,
    LR_P,
    LR_Q,
    LR_V,
    NO_SLACK,
    PR_P,
    PR_Q,
    PR_V,
    VM_COLLAPSE_PU,
    VM_LOW_PU,
    WI_DC_STATE,
    WI_N_TRIG,
)
from .solvers import (
    BUS_PQ,
    CONVERGED,
    DIVERGED,
    ac_newton,
    dc_factorise,
    dc_solve,
    mismatch_jacobian,
)
from .sparse_lu import copy_into


@njit(cache=True, error_model="numpy", inline="always")
def is_off(prod_kind, prod_v, k):
    """A voltage-controlling production with a set-point ``<= 0`` is out of service
    (pypownet's convention for ``_N_prods_v``)."""
    return prod_kind[k] != 2 and prod_v[k] <= 0.0


@njit(cache=True, error_model="numpy")
def initial_point(n_c, n_sub, cbus, bus_type, v_set, bus_v, slack_va, warm, ac, vm, va, n_trig, e,
                  f, inv_v):
    """Start point: ``bus_v`` where known and ``warm`` (busbar 1 may borrow busbar 0's), else
    flat; voltage-controlled buses at their set-point; DC: ``|V| = 1`` on PQ buses.

    ``n_trig >= 0``: ``e``, ``f``, ``inv_v`` hold ``vm cos va``, ``vm sin va``, ``1 / vm`` of the
    current ``vm``/``va`` below position ``n_trig`` (:data:`.pf_layout.WI_N_TRIG`); they are
    kept where the start point is the same (a warm start from the last solution: every bus but
    changed set-points) and computed elsewhere, the same floats as
    :func:`.solvers.mismatch_jacobian` would give; all ``n_c`` hold on return. ``n_trig < 0``:
    not touched."""
    for c in range(n_c):
        b = cbus[c]
        if warm and bus_v[0, b] > 0.0:
            v = bus_v[0, b]
            a = bus_v[1, b]
        elif warm and b >= n_sub and bus_v[0, b - n_sub] > 0.0:
            v = bus_v[0, b - n_sub]
            a = bus_v[1, b - n_sub]
        else:
            v = 1.0
            a = slack_va
        if bus_type[c] != BUS_PQ:
            v = v_set[c]
        if c == 0:
            a = slack_va
        if not ac:  # as pandapower's rundcpp: |V| = 1 p.u. except at voltage-controlled buses
            v = 1.0 if bus_type[c] == BUS_PQ else v_set[c]
        if n_trig >= 0 and not (c < n_trig and v == vm[c] and a == va[c]):
            e[c] = v * math.cos(a)
            f[c] = v * math.sin(a)
            inv_v[c] = 1.0 / v
        vm[c] = v
        va[c] = a


@njit(cache=True, error_model="numpy", inline="always")
def min_vm(n_c, vm):
    """Smallest ``|V|`` (NaN counts as 0)."""
    out = np.inf
    for c in range(n_c):
        if not vm[c] >= out:
            out = vm[c] if vm[c] == vm[c] else 0.0
    return out


@njit(cache=True, error_model="numpy")
def specify(n_c, n_prod, n_load, slack_prod, sn_mva, prod_kind, inj, maps, p_spec, q_spec,
            v_set):
    """Per-unit net injections of the energised buses and voltage set-points. A production
    with ``prod_v <= 0`` is out of service (pypownet's convention): it injects nothing."""
    bus_cidx, _, _, bus_vsrc, prod_bus, load_bus, _, _ = maps
    prod_p = inj[0:n_prod]
    prod_q = inj[n_prod:2 * n_prod]
    prod_v = inj[2 * n_prod:3 * n_prod]
    load_p = inj[3 * n_prod:3 * n_prod + n_load]
    load_q = inj[3 * n_prod + n_load:3 * n_prod + 2 * n_load]
    for c in range(n_c):
        p_spec[c] = 0.0
        q_spec[c] = 0.0
        src = bus_vsrc[c]
        v_set[c] = prod_v[src] if src >= 0 else 0.0
    for k in range(n_prod):
        c = bus_cidx[prod_bus[k]]
        if c < 0 or k == slack_prod or is_off(prod_kind, prod_v, k):
            continue
        p_spec[c] += prod_p[k] / sn_mva
        if prod_kind[k] != 1:
            q_spec[c] += prod_q[k] / sn_mva
    for k in range(n_load):
        c = bus_cidx[load_bus[k]]
        if c >= 0:
            p_spec[c] -= load_p[k] / sn_mva
            q_spec[c] -= load_q[k] / sn_mva


@njit(cache=True, error_model="numpy", inline="always")
def newton(warm, max_iter, tol, n_c, n_sub, slack_va, bus_v, maps, y_i, y_f, lu_i, lu_f, wk,
           trig0):
    """Newton-Raphson from the initial point in ``wk``; a failed or low-voltage warm start is
    retried flat (the higher-voltage solution kept). ``trig0`` False: ``e``, ``f``, ``inv_v``
    hold the initial point's. Returns ``(status, n_iter)``; on return ``e``, ``f``, ``inv_v``
    hold the returned ``vm``/``va``'s."""
    _, cbus, bus_type, _, _, _, _, _ = maps
    y_ptr, y_col, y_diag = y_i
    y_g, y_b, _, _, _, jac = y_f
    perm, iperm, u_ptr, u_col, l_ptr, l_col = lu_i
    u_val, l_val, _, _, _ = lu_f
    (d_inv, w, rhs, dx, work, vm, va, e, f, p_spec, q_spec, v_set, p_calc, q_calc, _, _, _,
     inv_v) = wk
    status, n_iter = ac_newton(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, p_spec, q_spec,
                               vm, va, max_iter, tol, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                               u_val, l_val, d_inv, w, e, f, inv_v, p_calc, q_calc, rhs, dx,
                               work, jac, trig0)
    vm_min = min_vm(n_c, vm)
    if warm and (status != CONVERGED or vm_min < VM_LOW_PU):
        # The warm point (the previous step, maybe another topology) led nowhere, to the
        # spurious |V| = 0 root a bus without injection admits, or to a low-voltage root of
        # a stressed grid: try a flat start, as a fresh solve (and pandapower) would.
        keep = status == CONVERGED and vm_min >= VM_COLLAPSE_PU
        vm_w = vm[:n_c].copy() if keep else vm[:0].copy()
        va_w = va[:n_c].copy() if keep else va[:0].copy()
        # (not warm: False, typed like the first call's flag, so one compilation; the same
        # for ``fresh``, a True typed as a plain bool, not as the literal True)
        fresh = n_c >= 0
        initial_point(n_c, n_sub, cbus, bus_type, v_set, bus_v, slack_va, not warm, True, vm,
                      va, -1, e, f, inv_v)
        status, n_flat = ac_newton(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, p_spec,
                                   q_spec, vm, va, max_iter, tol, perm, iperm, u_ptr, u_col,
                                   l_ptr, l_col, u_val, l_val, d_inv, w, e, f, inv_v, p_calc,
                                   q_calc, rhs, dx, work, jac, fresh)
        n_iter += n_flat
        if keep and not (status == CONVERGED and min_vm(n_c, vm) > vm_min):
            copy_into(vm, vm_w, n_c)  # the warm solution was the better (higher-voltage) one
            copy_into(va, va_w, n_c)
            mismatch_jacobian(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, vm, va, p_spec,
                              q_spec, e, f, inv_v, p_calc, q_calc, rhs, jac, fresh)
            status = CONVERGED
        vm_min = min_vm(n_c, vm)
    if status == CONVERGED and vm_min < VM_COLLAPSE_PU:
        status = DIVERGED
    return status, n_iter


@njit(cache=True, error_model="numpy", inline="always")
def dc_flow(n_c, cache_dc, ws_i, y_i, y_f, lu_i, lu_f, wk):
    """DC angles from the cached (or fresh) factors of the DC matrix; returns the status."""
    y_ptr, y_col, _ = y_i
    _, _, b_dc, dc_mat, p_dc0, _ = y_f
    perm, iperm, u_ptr, u_col, l_ptr, l_col = lu_i
    _, _, dc_u, dc_l, dc_dinv = lu_f
    _, w, rhs, _, work, _, va, _, _, p_spec, _, _, p_calc, _, _, _, _, _ = wk
    dc_state = ws_i[WI_DC_STATE] if cache_dc else DC_NONE
    if dc_state == DC_NONE:
        ok = dc_factorise(n_c, y_ptr, y_col, b_dc, 0, dc_mat, perm, iperm, u_ptr, u_col,
                          l_ptr, l_col, dc_u, dc_l, dc_dinv, w)
        dc_state = DC_SPARSE if ok else DC_DENSE
        if cache_dc:
            ws_i[WI_DC_STATE] = dc_state
    for c in range(n_c):
        p_calc[c] = p_spec[c] + p_dc0[c]
    return dc_solve(n_c, y_ptr, y_col, b_dc, 0, p_calc, va, dc_state == DC_SPARSE, dc_mat,
                    perm, u_ptr, u_col, l_ptr, l_col, dc_u, dc_l, dc_dinv, rhs, work)


@njit(cache=True, error_model="numpy")
def branch_flows(ac, n_c, n_line, sn_mva, line_status, line_f, line_res, maps, wk):
    """Flows, currents and voltages of the branches in service (``line_res``) and the buses'
    net injections from them (``p_bus``/``q_bus`` of ``wk``, MW / MVAr)."""
    bus_cidx, _, _, _, _, _, lbus_or, lbus_ex = maps
    _, _, _, _, _, vm, va, e, f, _, _, _, _, _, p_bus, q_bus, _, _ = wk
    for c in range(n_c):
        p_bus[c] = 0.0
        q_bus[c] = 0.0
    for k in range(n_line):
        if not line_status[k]:
            continue
        fb = bus_cidx[lbus_or[k]]
        if fb < 0:
            continue
        tb = bus_cidx[lbus_ex[k]]
        ibase_or = line_f[k, LF_IBASE_OR]
        ibase_ex = line_f[k, LF_IBASE_EX]
        if ac:
            vf = complex(e[fb], f[fb])
            vt = complex(e[tb], f[tb])
            y_ff = complex(line_f[k, LF_YFF_G], line_f[k, LF_YFF_B])
            y_ft = complex(line_f[k, LF_YFT_G], line_f[k, LF_YFT_B])
            y_tf = complex(line_f[k, LF_YTF_G], line_f[k, LF_YTF_B])
            y_tt = complex(line_f[k, LF_YTT_G], line_f[k, LF_YTT_B])
            i_f = y_ff * vf + y_ft * vt
            i_t = y_tf * vf + y_tt * vt
            s_f = vf * i_f.conjugate()
            s_t = vt * i_t.conjugate()
            line_res[k, LN_P_OR] = s_f.real * sn_mva
            line_res[k, LN_Q_OR] = s_f.imag * sn_mva
            line_res[k, LN_P_EX] = s_t.real * sn_mva
            line_res[k, LN_Q_EX] = s_t.imag * sn_mva
            line_res[k, LN_A_OR] = math.sqrt(i_f.real * i_f.real + i_f.imag * i_f.imag) * ibase_or
            line_res[k, LN_A_EX] = math.sqrt(i_t.real * i_t.real + i_t.imag * i_t.imag) * ibase_ex
        else:
            bk = line_f[k, LF_B_DC]
            pf = bk * (va[fb] - va[tb]) - bk * line_f[k, LF_SHIFT]
            line_res[k, LN_P_OR] = pf * sn_mva
            line_res[k, LN_P_EX] = -pf * sn_mva
            line_res[k, LN_A_OR] = abs(pf) * ibase_or / vm[fb]
            line_res[k, LN_A_EX] = abs(pf) * ibase_ex / vm[tb]
        line_res[k, LN_V_OR] = vm[fb]
        line_res[k, LN_V_EX] = vm[tb]
        p_bus[fb] += line_res[k, LN_P_OR]
        p_bus[tb] += line_res[k, LN_P_EX]
        q_bus[fb] += line_res[k, LN_Q_OR]
        q_bus[tb] += line_res[k, LN_Q_EX]


@njit(cache=True, error_model="numpy")
def injection_results(ac, n_c, n_sub, n_prod, n_load, slack_prod, sn_mva, prod_kind, inj,
                      sub_f, prod_res, load_res, maps, wk):
    """Load and production results: fixed injections first, then what the branch flows and
    shunts leave goes to the slack and the voltage controllers (split equally by bus)."""
    bus_cidx, _, _, _, prod_bus, load_bus, _, _ = maps
    _, _, _, _, _, vm, _, _, _, _, _, _, _, _, p_bus, q_bus, n_ctrl, _ = wk
    prod_p = inj[0:n_prod]
    prod_q = inj[n_prod:2 * n_prod]
    prod_v = inj[2 * n_prod:3 * n_prod]
    load_p = inj[3 * n_prod:3 * n_prod + n_load]
    load_q = inj[3 * n_prod + n_load:3 * n_prod + 2 * n_load]
    for s in range(n_sub):
        c = bus_cidx[s]
        if c >= 0:
            v2 = vm[c] * vm[c]
            p_bus[c] += sub_f[s, SF_SHUNT_G] * v2 * sn_mva
            q_bus[c] -= sub_f[s, SF_SHUNT_B] * v2 * sn_mva
    for k in range(n_load):
        c = bus_cidx[load_bus[k]]
        if c >= 0:
            load_res[k, LR_P] = load_p[k]
            load_res[k, LR_Q] = load_q[k] if ac else 0.0  # DC: no reactive power (rundcpp)
            load_res[k, LR_V] = vm[c]
            p_bus[c] += load_p[k]
            q_bus[c] += load_q[k]
    for c in range(n_c):
        n_ctrl[c] = 0.0
    for k in range(n_prod):
        c = bus_cidx[prod_bus[k]]
        if c < 0 or (k != slack_prod and is_off(prod_kind, prod_v, k)):
            continue  # cut or out of service: P = Q = V = 0
        prod_res[k, PR_V] = vm[c]
        prod_res[k, PR_Q] = 0.0  # set below in AC; DC reports no reactive power (rundcpp)
        if k == slack_prod:
            n_ctrl[c] += 1.0
            continue
        prod_res[k, PR_P] = prod_p[k]
        p_bus[c] -= prod_p[k]
        if prod_kind[k] == 2:
            if ac:
                prod_res[k, PR_Q] = prod_q[k]
            q_bus[c] -= prod_q[k]
        else:
            n_ctrl[c] += 1.0
    prod_res[slack_prod, PR_P] = p_bus[0]
    if ac:
        for k in range(n_prod):
            c = bus_cidx[prod_bus[k]]
            if c >= 0 and (k == slack_prod or (prod_kind[k] == 1 and prod_v[k] > 0.0)):
                prod_res[k, PR_Q] = q_bus[c] / n_ctrl[c]


@njit(cache=True, error_model="numpy", inline="always")
def solve(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v, out_mask, out_res, ws_i,
          slack_prod, n_c, cache_dc, maps, y_i, y_f, lu_i, lu_f, wk):
    """Per-call part: specification, initial point, AC or DC solve, results; returns
    ``(status, n_iter)``. ``cache_dc``: the DC factors may be cached in the workspace.

    Inlined into :func:`~.pf_kernel.run_powerflow` (one compiled level less). When ``ac`` is a
    constant there (a kernel built for one mode), numba prunes the other solvers' branches
    before typing: only that solver compiles. Hence the tests ``ac == X``, no ``if ac:``."""
    n_sub = grid_i[GI_N_SUB]
    n_prod = grid_i[GI_N_PROD]
    n_load = grid_i[GI_N_LOAD]
    n_line = grid_i[GI_N_LINE]
    n_bus = 2 * n_sub
    sn_mva = grid_f[GF_SN_MVA]
    slack_va = grid_f[GF_SLACK_VA]
    prod_kind = grid_i[GI_HDR + n_prod:GI_HDR + 2 * n_prod]
    o = GF_HDR + N_SUB_COLS * n_sub
    sub_f = grid_f[GF_HDR:o].reshape((n_sub, N_SUB_COLS))
    line_f = grid_f[o:o + N_LINE_COLS * n_line].reshape((n_line, N_LINE_COLS))
    line_status = topo[n_prod + n_load + 2 * n_line:]
    prod_res = out_res[0:3 * n_prod].reshape((n_prod, 3))
    load_res = out_res[3 * n_prod:3 * n_prod + 3 * n_load].reshape((n_load, 3))
    line_res = out_res[3 * n_prod + 3 * n_load:].reshape((n_line, 8))
    bus_cidx, cbus, bus_type, _, prod_bus, load_bus, lbus_or, lbus_ex = maps
    y_ptr, y_col, y_diag = y_i
    y_g, y_b, _, _, _, _ = y_f
    _, _, _, _, _, vm, va, e, f, p_spec, q_spec, v_set, _, _, _, _, _, inv_v = wk

    out_res[:] = 0.0
    if n_c <= 1:  # no in-service branch at the slack's busbar: no network to solve
        for b in range(n_bus):
            out_mask[b] = False
        for k in range(n_bus, n_bus + n_prod + n_load):
            out_mask[k] = True
        return NO_SLACK, 0
    for b in range(n_bus):
        out_mask[b] = bus_cidx[b] >= 0
    for k in range(n_prod):
        out_mask[n_bus + k] = bus_cidx[prod_bus[k]] < 0
    for k in range(n_load):
        out_mask[n_bus + n_prod + k] = bus_cidx[load_bus[k]] < 0

    specify(n_c, n_prod, n_load, slack_prod, sn_mva, prod_kind, inj, maps, p_spec, q_spec, v_set)
    ac_on = ac != DC  # a plain bool for the callees: one compiled version of each
    # Newton keeps the trigonometry of the unchanged buses of a warm start (WI_N_TRIG)
    n_trig = ws_i[WI_N_TRIG] if ac != DC and ac != AC_FAST_DECOUPLED else -1
    ws_i[WI_N_TRIG] = 0
    initial_point(n_c, n_sub, cbus, bus_type, v_set, bus_v, slack_va, warm and ac_on, ac_on, vm,
                  va, n_trig, e, f, inv_v)
    n_iter = 0
    if ac == AC_FAST_DECOUPLED:  # pypownet's solver: no second try from a flat start
        if warm and bus_v[0, cbus[0]] > 0.0:  # PYPOWER keeps the reference bus's angle (the
            va[0] = bus_v[1, cbus[0]]  # previous solution's when the slack has moved)
        status, n_iter = fast_decoupled_xb(n_c, bus_cidx, lbus_or, lbus_ex, line_status, line_f,
                                           y_ptr, y_col, y_g, y_b, y_diag, bus_type, p_spec,
                                           q_spec, vm, va, max_iter, tol, e, f)
    elif ac == DC:  # (False == DC: a bool mode is DC or Newton)
        status = dc_flow(n_c, cache_dc, ws_i, y_i, y_f, lu_i, lu_f, wk)
    else:
        status, n_iter = newton(warm, max_iter, tol, n_c, n_sub, slack_va, bus_v, maps, y_i, y_f,
                                lu_i, lu_f, wk, n_trig < 0)
        ws_i[WI_N_TRIG] = n_c
    if status != CONVERGED:
        return status, n_iter

    # ---- write back state and results
    for b in range(n_bus):
        c = bus_cidx[b]
        if c >= 0:
            bus_v[0, b] = vm[c]
            bus_v[1, b] = va[c]
        else:
            bus_v[0, b] = 0.0
            bus_v[1, b] = 0.0
    branch_flows(ac_on, n_c, n_line, sn_mva, line_status, line_f, line_res, maps, wk)
    injection_results(ac_on, n_c, n_sub, n_prod, n_load, slack_prod, sn_mva, prod_kind, inj, sub_f,
                      prod_res, load_res, maps, wk)
    return status, n_iter
