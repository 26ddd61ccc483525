"""One numba entry point per power flow: buses, islands, admittances, solve, results.

:func:`run_powerflow` is a plain ``@njit`` function over a few packed arrays, callable from
Python or from another numba kernel. Everything is per-unit inside; outputs are in
MW / MVAr / A / p.u. Output arrays are owned by the caller. The kernel never raises: it returns
a :class:`~gym_powergrid.core.PFStatus` code (or :data:`BAD_INPUT` when array sizes disagree).

Packed arrays (``S`` substations, ``P`` productions, ``D`` loads, ``L`` branches, ``N = 2 S``
busbars; :func:`pack_grid`, :func:`new_workspace` and :func:`result_views` build or read them):

============  =======  ==================================================================
array         dtype    content
============  =======  ==================================================================
``grid_i``    int64    ``[S, P, D, L, slack_prod, 0, 0, 0 | prod_sub (P) | prod_kind (P) |
                       load_sub (D) | line_sub_or (L) | line_sub_ex (L)]``
``grid_f``    float64  ``[sn_mva, slack_va_rad, 0, 0 | sub_f (S x N_SUB_COLS) |
                       line_f (L x N_LINE_COLS)]`` (columns in :mod:`.network`)
``topo``      int8     pypownet layout ``[prod node (P) | load node (D) | line origin node
                       (L) | line extremity node (L) | line status (L)]``, 0/1 values
``inj``       float64  ``[prod_p_mw (P) | prod_q_mvar (P) | prod_v_pu (P) | load_p_mw (D) |
                       load_q_mvar (D)]``
``bus_v``     float64  ``(2, N)``: row 0 ``|V|`` (p.u.), row 1 angle (rad). In: warm-start
                       point (``|V| <= 0`` means unknown). Out (only when converged): solution,
                       0 on busbars that are not energised
``out_mask``  bool     ``[bus energised (N) | prod cut (P) | load cut (D)]``
``out_res``   float64  ``[prod (P x 3: PR_*) | load (D x 3: LR_*) | line (L x 8: LN_*)]``
``ws_i``      int64    workspace: header ``WI_*`` then the cached topology analysis
``ws_f``      float64  workspace: cached admittances and factors, then work arrays
============  =======  ==================================================================

The workspace caches everything that depends only on the topology (element -> bus map,
energised island, bus types, admittance and DC matrices, minimum-degree ordering and fill
pattern, DC factors). A call whose ``topo`` equals the cached key skips all of it. The fill
sections have a capacity (``ws_i[WI_CAP_U]``); a topology whose fill does not fit is solved
with temporary arrays (slower, same result), its size recorded in ``ws_i[WI_NEED_U]`` so the
owner can grow the workspace (:func:`new_workspace` with ``cap_u``). A workspace belongs to
one grid; one with the wrong sizes is ignored (a temporary one is used).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .borrow import borrow as _borrow
from .network import (
    LF_B_DC,
    LF_SHIFT,
    N_LINE_COLS,
    N_SUB_COLS,
    SF_SHUNT_G,
    build_ybus,
    effective_slack,
    element_buses,
    energised_buses,
)

# The layout constants and the Python helpers are re-exported: ``from .pf_kernel import X``
# keeps working for every name this module had before the split.
from .pf_layout import (  # noqa: F401
    AC_FAST_DECOUPLED,
    AC_NEWTON,
    BAD_INPUT,
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
    GI_SLACK_PROD,
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
    SQRT3,
    VM_COLLAPSE_PU,
    VM_LOW_PU,
    WI_CAP_U,
    WI_DC_STATE,
    WI_HDR,
    WI_N_ANALYSES,
    WI_N_C,
    WI_N_LINE,
    WI_N_LOAD,
    WI_N_PROD,
    WI_N_SUB,
    WI_N_SYMBOLIC,
    WI_N_TRIG,
    WI_NEED_U,
    WI_NNZ_U,
    WI_NNZ_Y,
    WI_SIZE_F,
    WI_SYM_NC,
    WI_SYM_VALID,
    WI_VALID,
    alloc_workspace,
    ws_f_views,
    ws_f_work,
    ws_i_views,
    ws_matches,
)
from .pf_pack import (  # noqa: F401
    PFSizes,
    default_fill_capacity,
    new_workspace,
    pack_grid,
    pack_injections,
    pack_topology,
    result_views,
    sizes,
    workspace_needs_growth,
)
from .pf_solve import solve
from .solvers import BUS_PQ, BUS_PV, BUS_REF
from .sparse_lu import copy_into, symbolic_min_degree


def _make_run_powerflow(mode: int | None):
    """:func:`run_powerflow`, or (``mode`` given) a version of it for that mode only: ``ac`` is
    then ignored, and numba compiles that mode's solver only (the others' branches are pruned
    before typing, :func:`.pf_solve.solve`)."""

    def run_powerflow(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v, out_mask, out_res,
                      ws_i, ws_f):
        """Run an AC or DC power flow; return ``(status, n_iter)``.

        Args:
            ac: :data:`AC_NEWTON` (or True: Newton-Raphson), :data:`AC_FAST_DECOUPLED`
                (PYPOWER's fast-decoupled XB method, :mod:`.fdpf`) or :data:`DC` (False).
            warm: start the AC iterations from ``bus_v`` (busbars with ``|V| > 0``; a busbar 1 with
                no value starts from its busbar 0) instead of a flat start. When the warm start
                fails, or ends on a root with a ``|V|`` below :data:`VM_LOW_PU`, a flat start is
                tried too and the higher-voltage solution kept (``n_iter`` counts both); a solution
                with a ``|V|`` below :data:`VM_COLLAPSE_PU` is reported ``DIVERGED``.
            max_iter: Newton iteration limit. tol: mismatch tolerance (p.u., max norm).
            grid_i, grid_f, topo, inj, bus_v, out_mask, out_res, ws_i, ws_f: see the module
                docstring.

        Returns:
            ``(status, n_iter)``: a :class:`~gym_powergrid.core.PFStatus` code (or
            :data:`BAD_INPUT`) and the number of Newton iterations (0 for DC). ``NO_SLACK`` when no
            in-service branch reaches the slack's busbar (every element then reported cut).
            ``out_mask``/``out_res`` are written unless ``BAD_INPUT`` (results 0 unless converged);
            ``bus_v`` only on convergence.
        """
        n_sub = grid_i[GI_N_SUB]
        n_prod = grid_i[GI_N_PROD]
        n_load = grid_i[GI_N_LOAD]
        n_line = grid_i[GI_N_LINE]
        n_bus = 2 * n_sub
        if (grid_i.shape[0] != GI_HDR + 2 * n_prod + n_load + 2 * n_line
                or grid_f.shape[0] != GF_HDR + N_SUB_COLS * n_sub + N_LINE_COLS * n_line
                or topo.shape[0] != n_prod + n_load + 3 * n_line
                or inj.shape[0] != 3 * n_prod + 2 * n_load
                or bus_v.shape[0] != 2 or bus_v.shape[1] != n_bus
                or out_mask.shape[0] != n_bus + n_prod + n_load
                or out_res.shape[0] != 3 * n_prod + 3 * n_load + 8 * n_line
                or not 0 <= grid_i[GI_SLACK_PROD] < n_prod):
            return BAD_INPUT, 0
        # Numba code calling with constants (``warm=True``, ``max_iter=30``) gets a specialization
        # of this function per literal value; the heavy part below takes plain types, compiled once.
        warm_, max_iter_, tol_ = bool(warm), int(max_iter), float(tol)
        # a constant for a one-mode kernel (pruned: ``mode is None`` is decided before typing)
        ac_ = int(ac) if mode is None else mode
        # the caller owns (and keeps alive) every argument: no reference counting below
        grid_i, grid_f = _borrow(grid_i), _borrow(grid_f)
        topo, inj, bus_v = _borrow(topo), _borrow(inj), _borrow(bus_v)
        out_mask, out_res = _borrow(out_mask), _borrow(out_res)
        if ws_matches(ws_i, ws_f, n_sub, n_prod, n_load, n_line):
            ws_i, ws_f = _borrow(ws_i), _borrow(ws_f)
        else:  # a workspace of another grid: a temporary one (owned here, so not borrowed)
            ws_i, ws_f = alloc_workspace(n_sub, n_prod, n_load, n_line, 4 * n_bus + 2 * n_line)
        # (the rest is written here, not in an inlined function: numba's inliner copies a
        # callee's variables once per block, seconds for a body of this size)
        n_topo = n_prod + n_load + 3 * n_line
        cap_u = ws_i[WI_CAP_U]
        (key, bus_cidx, cbus, bus_type, bus_vsrc, parent, y_diag, prod_bus, load_bus, lbus_or,
         lbus_ex, y_ptr, y_col, perm, iperm, u_ptr, l_ptr, sym_ptr, sym_col, u_col,
         l_col) = ws_i_views(ws_i, n_sub, n_prod, n_load, n_line, cap_u)
        (y_g, y_b, b_dc, dc_mat, p_dc0, dc_u, dc_l, dc_dinv, jac, u_val,
         l_val), o_work = ws_f_views(ws_f, n_sub, n_line, cap_u)

        prod_v = inj[2 * n_prod:3 * n_prod]
        same = ws_i[WI_VALID] == 1
        if same:
            for k in range(n_topo):
                if key[k] != topo[k]:
                    same = False
                    break
        if same:
            for k in range(n_prod):
                if key[n_topo + k] != (1 if prod_v[k] > 0.0 else 0):
                    same = False
                    break
        slack = effective_slack(grid_i, topo, inj)
        fits = True
        if same:
            n_c = ws_i[WI_N_C]
            nnz_u = ws_i[WI_NNZ_U]
        else:
            ws_i[WI_VALID] = 0
            ws_i[WI_DC_STATE] = DC_NONE
            ws_i[WI_N_ANALYSES] += 1
            n_c = _analyse_topology(grid_i, grid_f, topo, prod_v, slack, bus_cidx, cbus, bus_type,
                                    bus_vsrc, parent, prod_bus, load_bus, lbus_or, lbus_ex, y_ptr,
                                    y_col, y_g, y_b, b_dc, y_diag, p_dc0)
            if (ws_i[WI_SYM_VALID] == 1 and ws_i[WI_SYM_NC] == n_c
                    and _pattern_within(n_c, y_ptr, y_col, sym_ptr, sym_col)):
                # e.g. lines switched off: the cached ordering and fill still cover the pattern
                nnz_u = ws_i[WI_NNZ_U]
            else:
                ws_i[WI_SYM_VALID] = 0
                ws_i[WI_N_SYMBOLIC] += 1
                skip = np.zeros(n_c, dtype=np.bool_)
                skip[0] = True
                perm_, iperm_, u_ptr_, u_col_, l_ptr_, l_col_ = symbolic_min_degree(n_c, y_ptr,
                                                                                     y_col, skip)
                nnz_u = u_col_.shape[0]
                ws_i[WI_NEED_U] = max(ws_i[WI_NEED_U], nnz_u)
                ws_i[WI_NNZ_U] = nnz_u
                copy_into(perm, perm_, n_c)
                copy_into(iperm, iperm_, n_c)
                copy_into(u_ptr, u_ptr_, n_c + 1)
                copy_into(l_ptr, l_ptr_, n_c + 1)
                fits = nnz_u <= cap_u
                if fits:
                    copy_into(u_col, u_col_, nnz_u)
                    copy_into(l_col, l_col_, nnz_u)
                    copy_into(sym_ptr, y_ptr, n_c + 1)
                    copy_into(sym_col, y_col, y_ptr[n_c])
                    ws_i[WI_SYM_NC] = n_c
                    ws_i[WI_SYM_VALID] = 1
                else:  # the fill does not fit: solve with temporary arrays, cache nothing
                    u_col, l_col = u_col_, l_col_
                    u_val, l_val = np.empty(4 * nnz_u), np.empty(4 * nnz_u)
                    dc_u, dc_l = np.empty(nnz_u), np.empty(nnz_u)
            ws_i[WI_N_C] = n_c
            if fits:
                ws_i[WI_NNZ_Y] = y_ptr[n_c]
                for k in range(n_topo):
                    key[k] = topo[k]
                for k in range(n_prod):
                    key[n_topo + k] = 1 if prod_v[k] > 0.0 else 0
                ws_i[WI_VALID] = 1
        maps = (bus_cidx, cbus, bus_type, bus_vsrc, prod_bus, load_bus, lbus_or, lbus_ex)
        lu_i = (perm, iperm, u_ptr, u_col[:nnz_u], l_ptr, l_col[:nnz_u])
        lu_f = (u_val[:4 * nnz_u], l_val[:4 * nnz_u], dc_u[:nnz_u], dc_l[:nnz_u], dc_dinv)
        return solve(ac_, warm_, max_iter_, tol_, grid_i, grid_f, topo, inj, bus_v, out_mask,
                     out_res, ws_i, slack, n_c, fits, maps, (y_ptr, y_col, y_diag),
                     (y_g, y_b, b_dc, dc_mat, p_dc0, jac), lu_i, lu_f,
                     ws_f_work(ws_f, o_work, 2 * n_sub))

    return njit(cache=True, error_model="numpy")(run_powerflow)


#: The power flow of run-time mode ``ac`` (every solver compiled).
run_powerflow = _make_run_powerflow(None)
#: One power flow per mode: what the env's one-mode step kernels call.
run_powerflow_newton = _make_run_powerflow(AC_NEWTON)
run_powerflow_fdpf = _make_run_powerflow(AC_FAST_DECOUPLED)
run_powerflow_dc = _make_run_powerflow(DC)


@njit(cache=True, error_model="numpy", inline="always")
def _pattern_within(n, a_ptr, a_col, b_ptr, b_col):
    """True when every entry of pattern ``a`` is in pattern ``b`` (rows sorted, unique)."""
    for i in range(n):
        q = b_ptr[i]
        q_end = b_ptr[i + 1]
        for p in range(a_ptr[i], a_ptr[i + 1]):
            c = a_col[p]
            while q < q_end and b_col[q] < c:
                q += 1
            if q == q_end or b_col[q] != c:
                return False
            q += 1
    return True


@njit(cache=True, error_model="numpy")
def _analyse_topology(grid_i, grid_f, topo, prod_v, slack_prod, bus_cidx, cbus, bus_type,
                      bus_vsrc, parent, prod_bus, load_bus, lbus_or, lbus_ex, y_ptr, y_col, y_g,
                      y_b, b_dc, y_diag, p_dc0):
    """Everything that depends on the topology (and which productions are in service) only;
    returns the number of energised buses."""
    n_sub = grid_i[GI_N_SUB]
    n_prod = grid_i[GI_N_PROD]
    n_load = grid_i[GI_N_LOAD]
    n_line = grid_i[GI_N_LINE]
    n_bus = 2 * n_sub
    o = GI_HDR
    prod_sub = grid_i[o:o + n_prod]
    o += n_prod
    prod_kind = grid_i[o:o + n_prod]
    o += n_prod
    load_sub = grid_i[o:o + n_load]
    o += n_load
    line_sub_or = grid_i[o:o + n_line]
    o += n_line
    line_sub_ex = grid_i[o:o + n_line]
    sub_f = grid_f[GF_HDR:GF_HDR + N_SUB_COLS * n_sub].reshape((n_sub, N_SUB_COLS))
    o = GF_HDR + N_SUB_COLS * n_sub
    line_f = grid_f[o:o + N_LINE_COLS * n_line].reshape((n_line, N_LINE_COLS))
    t = 0
    prod_node = topo[t:t + n_prod]
    t += n_prod
    load_node = topo[t:t + n_load]
    t += n_load
    or_node = topo[t:t + n_line]
    t += n_line
    ex_node = topo[t:t + n_line]
    t += n_line
    line_status = topo[t:t + n_line]

    element_buses(n_sub, prod_sub, prod_node, prod_bus)
    element_buses(n_sub, load_sub, load_node, load_bus)
    element_buses(n_sub, line_sub_or, or_node, lbus_or)
    element_buses(n_sub, line_sub_ex, ex_node, lbus_ex)
    n_c = energised_buses(n_bus, prod_bus[slack_prod], lbus_or, lbus_ex, line_status, bus_cidx,
                          parent, cbus)
    for c in range(n_c):
        bus_type[c] = BUS_PQ
        bus_vsrc[c] = -1
    for k in range(n_prod):
        c = bus_cidx[prod_bus[k]]
        if c < 0:
            continue
        if k == slack_prod:
            bus_type[c] = BUS_REF
            bus_vsrc[c] = k
        elif prod_kind[k] == 1 and bus_type[c] == BUS_PQ and prod_v[k] > 0.0:
            bus_type[c] = BUS_PV
            bus_vsrc[c] = k
    build_ybus(n_c, bus_cidx, lbus_or, lbus_ex, line_status, line_f, sub_f, y_ptr, y_col, y_g,
               y_b, b_dc, y_diag)
    # DC: shunt conductances and phase shifters act as injections
    for c in range(n_c):
        p_dc0[c] = 0.0
    for s in range(n_sub):
        c = bus_cidx[s]
        if c >= 0:
            p_dc0[c] -= sub_f[s, SF_SHUNT_G]
    for k in range(n_line):
        if line_status[k]:
            f = bus_cidx[lbus_or[k]]
            if f >= 0:
                pf_inj = -line_f[k, LF_B_DC] * line_f[k, LF_SHIFT]
                p_dc0[f] -= pf_inj
                p_dc0[bus_cidx[lbus_ex[k]]] += pf_inj
    return n_c
