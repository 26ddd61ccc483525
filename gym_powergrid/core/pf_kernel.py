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

import math
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit
from numba.core import cgutils
from numba.extending import intrinsic

from .fdpf import fast_decoupled_xb
from .network import (
    LF_B_DC,
    LF_IBASE_EX,
    LF_IBASE_OR,
    LF_SHIFT,
    LF_X,
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
    build_ybus,
    effective_slack,
    element_buses,
    energised_buses,
)
from .solvers import (
    BUS_PQ,
    BUS_PV,
    BUS_REF,
    CONVERGED,
    DIVERGED,
    ac_newton,
    dc_factorise,
    dc_solve,
    mismatch_jacobian,
)
from .sparse_lu import copy_into, symbolic_min_degree
from .status import PFStatus

if TYPE_CHECKING:
    from ..grid.arrays import GridArrays

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
WI_HDR = 16

DC_NONE, DC_SPARSE, DC_DENSE = 0, 1, 2


# --------------------------------------------------------------------------- layouts
@njit(cache=True, error_model="numpy")
def _ws_i_size(n_sub, n_prod, n_load, n_line, cap_u):
    n = 2 * n_sub
    cy = n + 2 * n_line
    return (WI_HDR + (2 * n_prod + n_load + 3 * n_line) + 6 * n + n_prod + n_load + 2 * n_line
            + (n + 1) + cy + 2 * n + 2 * (n + 1) + (n + 1) + cy + 2 * cap_u)


@njit(cache=True, error_model="numpy")
def _ws_f_size(n_sub, n_line, cap_u):
    n = 2 * n_sub
    cy = n + 2 * n_line
    return 4 * cy + n + 2 * cap_u + n + 4 * cy + 8 * cap_u + 8 * n + 13 * n + 6 * n


@njit(cache=True, error_model="numpy")
def _ws_i_views(ws_i, n_sub, n_prod, n_load, n_line, cap_u):
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


@njit(cache=True, error_model="numpy")
def _ws_f_views(ws_f, n_sub, n_line, cap_u):
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


@njit(cache=True, error_model="numpy")
def _ws_f_work(ws_f, o, n):
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


@njit(cache=True, error_model="numpy")
def _alloc_workspace(n_sub, n_prod, n_load, n_line, cap_u):
    ws_i = np.zeros(_ws_i_size(n_sub, n_prod, n_load, n_line, cap_u), dtype=np.int64)
    ws_f = np.zeros(_ws_f_size(n_sub, n_line, cap_u))
    ws_i[WI_N_SUB] = n_sub
    ws_i[WI_N_PROD] = n_prod
    ws_i[WI_N_LOAD] = n_load
    ws_i[WI_N_LINE] = n_line
    ws_i[WI_CAP_U] = cap_u
    ws_i[WI_SIZE_F] = ws_f.shape[0]
    return ws_i, ws_f


@njit(cache=True, error_model="numpy")
def _ws_matches(ws_i, ws_f, n_sub, n_prod, n_load, n_line):
    if ws_i.shape[0] < WI_HDR:
        return False
    if (ws_i[WI_N_SUB] != n_sub or ws_i[WI_N_PROD] != n_prod or ws_i[WI_N_LOAD] != n_load
            or ws_i[WI_N_LINE] != n_line):
        return False
    cap_u = ws_i[WI_CAP_U]
    if cap_u < 0 or ws_i.shape[0] != _ws_i_size(n_sub, n_prod, n_load, n_line, cap_u):
        return False
    return ws_f.shape[0] == _ws_f_size(n_sub, n_line, cap_u) == ws_i[WI_SIZE_F]


# --------------------------------------------------------------------------- entry point
@intrinsic
def _borrow(typingctx, arr):
    """The same array without its reference-counted owner (``meminfo``), for use in this call.

    Every view of an owned array increments and decrements its owner's reference count with an
    atomic instruction; the kernel makes ~100 of them per call, which cost more than the whole
    case14 mismatch on a busy machine. The borrowed array (and its views) skip that. Only for
    arrays that the caller keeps alive for the duration of the call.
    """
    def codegen(context, builder, signature, args):
        src = context.make_array(arr)(context, builder, value=args[0])
        dst = context.make_array(arr)(context, builder)
        dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
        dst.parent = cgutils.get_null_value(dst.parent.type)
        dst.nitems = src.nitems
        dst.itemsize = src.itemsize
        dst.data = src.data
        dst.shape = src.shape
        dst.strides = src.strides
        return dst._getvalue()

    return arr(arr), codegen


@njit(cache=True, error_model="numpy")
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
    ac_, warm_, max_iter_, tol_ = int(ac), bool(warm), int(max_iter), float(tol)
    # the caller owns (and keeps alive) every argument: no reference counting below
    b_grid_i, b_grid_f = _borrow(grid_i), _borrow(grid_f)
    b_topo, b_inj, b_bus_v = _borrow(topo), _borrow(inj), _borrow(bus_v)
    b_mask, b_res = _borrow(out_mask), _borrow(out_res)
    if _ws_matches(ws_i, ws_f, n_sub, n_prod, n_load, n_line):
        return _run(ac_, warm_, max_iter_, tol_, b_grid_i, b_grid_f, b_topo, b_inj, b_bus_v,
                    b_mask, b_res, _borrow(ws_i), _borrow(ws_f))
    tmp_i, tmp_f = _alloc_workspace(n_sub, n_prod, n_load, n_line, 4 * n_bus + 2 * n_line)
    return _run(ac_, warm_, max_iter_, tol_, b_grid_i, b_grid_f, b_topo, b_inj, b_bus_v, b_mask,
                b_res, tmp_i, tmp_f)


@njit(cache=True, error_model="numpy")
def _run(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v, out_mask, out_res, ws_i,
         ws_f):
    n_sub = grid_i[GI_N_SUB]
    n_prod = grid_i[GI_N_PROD]
    n_load = grid_i[GI_N_LOAD]
    n_line = grid_i[GI_N_LINE]
    n_topo = n_prod + n_load + 3 * n_line
    cap_u = ws_i[WI_CAP_U]
    (key, bus_cidx, cbus, bus_type, bus_vsrc, parent, y_diag, prod_bus, load_bus, lbus_or,
     lbus_ex, y_ptr, y_col, perm, iperm, u_ptr, l_ptr, sym_ptr, sym_col, u_col,
     l_col) = _ws_i_views(ws_i, n_sub, n_prod, n_load, n_line, cap_u)
    (y_g, y_b, b_dc, dc_mat, p_dc0, dc_u, dc_l, dc_dinv, jac, u_val, l_val), o_work = _ws_f_views(
        ws_f, n_sub, n_line, cap_u)

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
            fits = nnz_u <= cap_u  # (a run-time bool: one compiled _solve for both calls)
            if not fits:  # fill does not fit: solve with temporary arrays, cache nothing
                ws_i[WI_N_C] = n_c
                return _solve(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v,
                              out_mask, out_res, ws_i, ws_f, o_work, slack, n_c, bus_cidx, cbus,
                              bus_type, bus_vsrc, prod_bus, load_bus, lbus_or, lbus_ex, y_ptr,
                              y_col, y_g, y_b, y_diag, b_dc, dc_mat, p_dc0, jac, perm, iperm,
                              u_ptr, u_col_, l_ptr, l_col_, np.empty(4 * nnz_u),
                              np.empty(4 * nnz_u), np.empty(nnz_u), np.empty(nnz_u), dc_dinv,
                              fits)
            copy_into(u_col, u_col_, nnz_u)
            copy_into(l_col, l_col_, nnz_u)
            nnz_y = y_ptr[n_c]
            copy_into(sym_ptr, y_ptr, n_c + 1)
            copy_into(sym_col, y_col, nnz_y)
            ws_i[WI_SYM_NC] = n_c
            ws_i[WI_SYM_VALID] = 1
        ws_i[WI_N_C] = n_c
        ws_i[WI_NNZ_Y] = y_ptr[n_c]
        for k in range(n_topo):
            key[k] = topo[k]
        for k in range(n_prod):
            key[n_topo + k] = 1 if prod_v[k] > 0.0 else 0
        ws_i[WI_VALID] = 1
    return _solve(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v, out_mask, out_res,
                  ws_i, ws_f, o_work, slack, n_c, bus_cidx, cbus, bus_type, bus_vsrc, prod_bus,
                  load_bus, lbus_or, lbus_ex, y_ptr, y_col, y_g, y_b, y_diag, b_dc, dc_mat, p_dc0,
                  jac, perm, iperm, u_ptr, u_col[:nnz_u], l_ptr, l_col[:nnz_u], u_val[:4 * nnz_u],
                  l_val[:4 * nnz_u], dc_u[:nnz_u], dc_l[:nnz_u], dc_dinv, nnz_u <= cap_u)


@njit(cache=True, error_model="numpy")
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


@njit(cache=True, error_model="numpy")
def _is_off(prod_kind, prod_v, k):
    """A voltage-controlling production with a set-point ``<= 0`` is out of service
    (pypownet's convention for ``_N_prods_v``)."""
    return prod_kind[k] != 2 and prod_v[k] <= 0.0


@njit(cache=True, error_model="numpy")
def _initial_point(n_c, n_sub, cbus, bus_type, v_set, bus_v, slack_va, warm, ac, vm, va):
    """Start point: ``bus_v`` where known and ``warm`` (busbar 1 may borrow busbar 0's), else
    flat; voltage-controlled buses at their set-point; DC: ``|V| = 1`` on PQ buses."""
    for c in range(n_c):
        b = cbus[c]
        if warm and bus_v[0, b] > 0.0:
            vm[c] = bus_v[0, b]
            va[c] = bus_v[1, b]
        elif warm and b >= n_sub and bus_v[0, b - n_sub] > 0.0:
            vm[c] = bus_v[0, b - n_sub]
            va[c] = bus_v[1, b - n_sub]
        else:
            vm[c] = 1.0
            va[c] = slack_va
        if bus_type[c] != BUS_PQ:
            vm[c] = v_set[c]
    va[0] = slack_va
    if not ac:  # as pandapower's rundcpp: |V| = 1 p.u. except at voltage-controlled buses
        for c in range(n_c):
            vm[c] = 1.0 if bus_type[c] == BUS_PQ else v_set[c]


@njit(cache=True, error_model="numpy")
def _min_vm(n_c, vm):
    """Smallest ``|V|`` (NaN counts as 0)."""
    out = np.inf
    for c in range(n_c):
        if not vm[c] >= out:
            out = vm[c] if vm[c] == vm[c] else 0.0
    return out


@njit(cache=True, error_model="numpy")
def _solve(ac, warm, max_iter, tol, grid_i, grid_f, topo, inj, bus_v, out_mask, out_res, ws_i, ws_f,
           o_work, slack_prod, n_c, bus_cidx, cbus, bus_type, bus_vsrc, prod_bus, load_bus,
           lbus_or, lbus_ex, y_ptr, y_col, y_g, y_b, y_diag, b_dc, dc_mat, p_dc0, jac, perm,
           iperm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, dc_u, dc_l, dc_dinv, cache_dc):
    """Per-call part: specification, initial point, AC or DC solve, results. A production
    with ``prod_v <= 0`` is out of service (pypownet's convention): it injects nothing."""
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
    prod_p = inj[0:n_prod]
    prod_q = inj[n_prod:2 * n_prod]
    prod_v = inj[2 * n_prod:3 * n_prod]
    load_p = inj[3 * n_prod:3 * n_prod + n_load]
    load_q = inj[3 * n_prod + n_load:3 * n_prod + 2 * n_load]
    prod_res = out_res[0:3 * n_prod].reshape((n_prod, 3))
    load_res = out_res[3 * n_prod:3 * n_prod + 3 * n_load].reshape((n_load, 3))
    line_res = out_res[3 * n_prod + 3 * n_load:].reshape((n_line, 8))
    (d_inv, w, rhs, dx, work, vm, va, e, f, p_spec, q_spec, v_set, p_calc, q_calc, p_bus, q_bus,
     n_ctrl, inv_v) = _ws_f_work(ws_f, o_work, n_bus)

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

    # ---- bus specification
    for c in range(n_c):
        p_spec[c] = 0.0
        q_spec[c] = 0.0
        src = bus_vsrc[c]
        v_set[c] = prod_v[src] if src >= 0 else 0.0
    for k in range(n_prod):
        c = bus_cidx[prod_bus[k]]
        if c < 0 or k == slack_prod or _is_off(prod_kind, prod_v, k):
            continue
        p_spec[c] += prod_p[k] / sn_mva
        if prod_kind[k] != 1:
            q_spec[c] += prod_q[k] / sn_mva
    for k in range(n_load):
        c = bus_cidx[load_bus[k]]
        if c >= 0:
            p_spec[c] -= load_p[k] / sn_mva
            q_spec[c] -= load_q[k] / sn_mva

    # ---- initial point
    _initial_point(n_c, n_sub, cbus, bus_type, v_set, bus_v, slack_va, warm and ac != 0, ac != 0,
                   vm, va)

    n_iter = 0
    if ac == AC_FAST_DECOUPLED:  # pypownet's solver: no second try from a flat start
        if warm and bus_v[0, cbus[0]] > 0.0:  # PYPOWER keeps the reference bus's angle (the
            va[0] = bus_v[1, cbus[0]]  # previous solution's when the slack has moved)
        status, n_iter = fast_decoupled_xb(n_c, bus_cidx, lbus_or, lbus_ex, line_status, line_f,
                                           y_ptr, y_col, y_g, y_b, y_diag, bus_type, p_spec,
                                           q_spec, vm, va, max_iter, tol, e, f)
    elif ac:
        status, n_iter = ac_newton(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, p_spec, q_spec,
                                   vm, va, max_iter, tol, perm, iperm, u_ptr, u_col, l_ptr,
                                   l_col, u_val, l_val, d_inv, w, e, f, inv_v, p_calc, q_calc,
                                   rhs, dx, work, jac)
        vm_min = _min_vm(n_c, vm)
        if warm and (status != CONVERGED or vm_min < VM_LOW_PU):
            # The warm point (the previous step, maybe another topology) led nowhere, to the
            # spurious |V| = 0 root a bus without injection admits, or to a low-voltage root of
            # a stressed grid: try a flat start, as a fresh solve (and pandapower) would.
            keep = status == CONVERGED and vm_min >= VM_COLLAPSE_PU
            vm_w = vm[:n_c].copy() if keep else vm[:0].copy()
            va_w = va[:n_c].copy() if keep else va[:0].copy()
            # (not warm: False, typed like the first call's flag, so one compilation)
            _initial_point(n_c, n_sub, cbus, bus_type, v_set, bus_v, slack_va, not warm, ac != 0,
                           vm, va)
            status, n_flat = ac_newton(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, p_spec,
                                       q_spec, vm, va, max_iter, tol, perm, iperm, u_ptr, u_col,
                                       l_ptr, l_col, u_val, l_val, d_inv, w, e, f, inv_v, p_calc,
                                       q_calc, rhs, dx, work, jac)
            n_iter += n_flat
            if keep and not (status == CONVERGED and _min_vm(n_c, vm) > vm_min):
                copy_into(vm, vm_w, n_c)  # the warm solution was the better (higher-voltage) one
                copy_into(va, va_w, n_c)
                mismatch_jacobian(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, vm, va, p_spec,
                                  q_spec, e, f, inv_v, p_calc, q_calc, rhs, jac)
                status = CONVERGED
            vm_min = _min_vm(n_c, vm)
        if status == CONVERGED and vm_min < VM_COLLAPSE_PU:
            status = DIVERGED
    else:
        dc_state = ws_i[WI_DC_STATE] if cache_dc else DC_NONE
        if dc_state == DC_NONE:
            ok = dc_factorise(n_c, y_ptr, y_col, b_dc, 0, dc_mat, perm, iperm, u_ptr, u_col,
                              l_ptr, l_col, dc_u, dc_l, dc_dinv, w)
            dc_state = DC_SPARSE if ok else DC_DENSE
            if cache_dc:
                ws_i[WI_DC_STATE] = dc_state
        for c in range(n_c):
            p_calc[c] = p_spec[c] + p_dc0[c]
        status = dc_solve(n_c, y_ptr, y_col, b_dc, 0, p_calc, va, dc_state == DC_SPARSE, dc_mat,
                          perm, u_ptr, u_col, l_ptr, l_col, dc_u, dc_l, dc_dinv, rhs, work)

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

    for c in range(n_c):  # net injection (MW) computed from flows + shunts
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
    for s in range(n_sub):
        c = bus_cidx[s]
        if c >= 0:
            v2 = vm[c] * vm[c]
            p_bus[c] += sub_f[s, SF_SHUNT_G] * v2 * sn_mva
            q_bus[c] -= sub_f[s, SF_SHUNT_B] * v2 * sn_mva

    # loads
    for k in range(n_load):
        c = bus_cidx[load_bus[k]]
        if c >= 0:
            load_res[k, LR_P] = load_p[k]
            load_res[k, LR_Q] = load_q[k] if ac else 0.0  # DC: no reactive power (rundcpp)
            load_res[k, LR_V] = vm[c]
            p_bus[c] += load_p[k]
            q_bus[c] += load_q[k]
    # productions: fixed ones first, then what is left goes to the slack / voltage controllers
    for c in range(n_c):
        n_ctrl[c] = 0.0
    for k in range(n_prod):
        c = bus_cidx[prod_bus[k]]
        if c < 0 or (k != slack_prod and _is_off(prod_kind, prod_v, k)):
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
    return status, n_iter


# --------------------------------------------------------------------------- Python helpers
class PFSizes(NamedTuple):
    """Element counts of a packed grid and the lengths of the arrays :func:`run_powerflow` takes."""

    n_sub: int
    n_prod: int
    n_load: int
    n_line: int

    @property
    def n_bus(self) -> int:
        return 2 * self.n_sub

    @property
    def topo_len(self) -> int:
        return self.n_prod + self.n_load + 3 * self.n_line

    @property
    def inj_len(self) -> int:
        return 3 * self.n_prod + 2 * self.n_load

    @property
    def mask_len(self) -> int:
        return self.n_bus + self.n_prod + self.n_load

    @property
    def res_len(self) -> int:
        return 3 * self.n_prod + 3 * self.n_load + 8 * self.n_line


def sizes(grid_i: np.ndarray) -> PFSizes:
    """Counts stored in the header of a packed ``grid_i``."""
    return PFSizes(int(grid_i[GI_N_SUB]), int(grid_i[GI_N_PROD]), int(grid_i[GI_N_LOAD]),
                   int(grid_i[GI_N_LINE]))


def pack_grid(grid: GridArrays) -> tuple[np.ndarray, np.ndarray]:
    """Pack the static arrays of ``grid`` into ``(grid_i, grid_f)`` (layout: module docstring)."""
    n_sub, n_prod, n_load, n_line = grid.n_sub, grid.n_prod, grid.n_load, grid.n_line
    grid_i = np.zeros(GI_HDR + 2 * n_prod + n_load + 2 * n_line, dtype=np.int64)
    grid_i[:5] = (n_sub, n_prod, n_load, n_line, grid.slack_prod_idx)
    grid_i[GI_HDR:] = np.concatenate([grid.prod_sub_idx, grid.prod_kind, grid.load_sub_idx,
                                      grid.line_sub_or_idx, grid.line_sub_ex_idx])
    sn_mva = float(grid.sn_mva)
    sub_f = np.zeros((n_sub, N_SUB_COLS))
    shunt = np.asarray(grid.sub_shunt_y_pu, dtype=np.complex128)
    sub_f[:, SF_SHUNT_G] = shunt.real
    sub_f[:, SF_SHUNT_B] = shunt.imag
    line_f = np.zeros((n_line, N_LINE_COLS))
    for col_g, col_b, y in ((LF_YFF_G, LF_YFF_B, grid.line_y_ff),
                            (LF_YFT_G, LF_YFT_B, grid.line_y_ft),
                            (LF_YTF_G, LF_YTF_B, grid.line_y_tf),
                            (LF_YTT_G, LF_YTT_B, grid.line_y_tt)):
        y = np.asarray(y, dtype=np.complex128)
        line_f[:, col_g] = y.real
        line_f[:, col_b] = y.imag
    line_f[:, LF_B_DC] = 1.0 / (np.asarray(grid.line_x_pu, np.float64)
                                * np.asarray(grid.line_tap, np.float64))
    line_f[:, LF_SHIFT] = grid.line_shift_rad
    line_f[:, LF_X] = grid.line_x_pu
    vn = np.asarray(grid.sub_vn_kv, dtype=np.float64)
    line_f[:, LF_IBASE_OR] = sn_mva / (SQRT3 * vn[grid.line_sub_or_idx]) * 1e3
    line_f[:, LF_IBASE_EX] = sn_mva / (SQRT3 * vn[grid.line_sub_ex_idx]) * 1e3
    grid_f = np.concatenate([[sn_mva, float(grid.slack_va_rad), 0.0, 0.0], sub_f.ravel(),
                             line_f.ravel()])
    return grid_i, grid_f


def default_fill_capacity(grid_i: np.ndarray, grid_f: np.ndarray) -> int:
    """Fill capacity for :func:`new_workspace`: room for node splits around the reference fill.

    Runs the symbolic analysis (:func:`~.sparse_lu.symbolic_min_degree`, the kernel's own) on
    the reference topology's bus pattern (every element on busbar 0, every branch in service,
    the slack's substation first and left uncoupled, as the kernel orders it) and leaves a wide
    margin; topologies that need more still solve (slower). Only that small kernel compiles
    here, not the whole power flow, so building an env stays quick on a cold numba cache.
    """
    sz = sizes(grid_i)
    n_sub, n_prod, n_load, n_line = sz.n_sub, sz.n_prod, sz.n_load, sz.n_line
    if n_sub == 0:
        return 64
    base = GI_HDR + 2 * n_prod + n_load
    sub_or = grid_i[base:base + n_line]
    sub_ex = grid_i[base + n_line:base + 2 * n_line]
    slack_sub = int(grid_i[GI_HDR + int(grid_i[GI_SLACK_PROD])]) if n_prod else 0
    order = np.concatenate(([slack_sub], np.delete(np.arange(n_sub), slack_sub)))
    cidx = np.empty(n_sub, np.int64)
    cidx[order] = np.arange(n_sub)
    i = np.concatenate((cidx[sub_or], cidx[sub_ex], np.arange(n_sub)))
    j = np.concatenate((cidx[sub_ex], cidx[sub_or], np.arange(n_sub)))
    o = np.lexsort((j, i))
    i, j = i[o], j[o]
    a_ptr = np.zeros(n_sub + 1, np.int64)
    np.add.at(a_ptr, i + 1, 1)
    a_ptr = np.cumsum(a_ptr)
    skip = np.zeros(n_sub, np.bool_)
    skip[0] = True
    u_col = symbolic_min_degree(n_sub, a_ptr, np.ascontiguousarray(j, np.int64), skip)[3]
    fill = int(u_col.shape[0])
    return 2 * fill + 2 * sz.n_bus + 64


def new_workspace(grid_i: np.ndarray, grid_f: np.ndarray,
                  cap_u: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fresh ``(ws_i, ws_f)`` for this grid (``cap_u``: fill capacity, default estimated)."""
    sz = sizes(grid_i)
    if cap_u is None:
        cap_u = default_fill_capacity(grid_i, grid_f)
    return _alloc_workspace(sz.n_sub, sz.n_prod, sz.n_load, sz.n_line, int(cap_u))


def workspace_needs_growth(ws_i: np.ndarray) -> bool:
    """True when a topology's fill did not fit (grow with ``new_workspace(..., cap_u)``)."""
    return bool(ws_i[WI_NEED_U] > ws_i[WI_CAP_U])


def pack_topology(prod_node: np.ndarray, load_node: np.ndarray, line_or_node: np.ndarray,
                  line_ex_node: np.ndarray, line_status: np.ndarray,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Topology in the kernel's int8 pypownet layout (written into ``out`` when given)."""
    packed = np.concatenate((prod_node, load_node, line_or_node, line_ex_node, line_status))
    if out is None:
        return packed.astype(np.int8, copy=False)
    out[:] = packed
    return out


def pack_injections(prod_p_mw: np.ndarray, prod_q_mvar: np.ndarray, prod_v_pu: np.ndarray,
                    load_p_mw: np.ndarray, load_q_mvar: np.ndarray,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Injections in the kernel's float64 layout (written into ``out`` when given)."""
    packed = np.concatenate((prod_p_mw, prod_q_mvar, prod_v_pu, load_p_mw, load_q_mvar))
    if out is None:
        return packed.astype(np.float64, copy=False)
    out[:] = packed
    return out


def result_views(sz: PFSizes, out_mask: np.ndarray,
                 out_res: np.ndarray) -> tuple[np.ndarray, ...]:
    """Views ``(bus_on, prod_cut, load_cut, prod_res, load_res, line_res)`` into the outputs."""
    n_bus, p, d, n_line = sz.n_bus, sz.n_prod, sz.n_load, sz.n_line
    return (out_mask[:n_bus], out_mask[n_bus:n_bus + p], out_mask[n_bus + p:],
            out_res[:3 * p].reshape(p, 3), out_res[3 * p:3 * p + 3 * d].reshape(d, 3),
            out_res[3 * p + 3 * d:].reshape(n_line, 8))
