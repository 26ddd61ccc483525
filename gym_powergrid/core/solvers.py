"""AC (polar Newton-Raphson) and DC power-flow kernels on the compact admittance matrix.

Unknowns per compact bus ``i``: ``(theta_i, V_i)``; equations ``(dP_i, dQ_i)``. The slack bus
row is the identity (its angle and magnitude are fixed); a PV bus's Q equation is replaced by
``dV_i = 0``. Keeping one 2x2 block per bus gives a fixed block pattern (the admittance
pattern) for the sparse LU of :mod:`gym_powergrid.core.sparse_lu`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .sparse_lu import block_lu_numeric, block_lu_solve, dense_solve, symbolic_min_degree
from .status import PFStatus

CONVERGED = int(PFStatus.CONVERGED)
MAX_ITER = int(PFStatus.MAX_ITER)
DIVERGED = int(PFStatus.DIVERGED)
SINGULAR = int(PFStatus.SINGULAR)

# bus types in the compact system
BUS_PQ = 0
BUS_PV = 1
BUS_REF = 2


@njit(cache=True)
def _mismatch(n_c, y_ptr, y_col, y_val, vm, va, p_spec, q_spec, bus_type, p_calc, q_calc, f):
    """Compute injections and the mismatch vector ``f`` (n_c, 2); return its max norm."""
    worst = 0.0
    for i in range(n_c):
        vi = vm[i]
        ai = va[i]
        pi = 0.0
        qi = 0.0
        for p in range(y_ptr[i], y_ptr[i + 1]):
            j = y_col[p]
            g = y_val[p].real
            b = y_val[p].imag
            d = ai - va[j]
            c = math.cos(d)
            s = math.sin(d)
            pi += vm[j] * (g * c + b * s)
            qi += vm[j] * (g * s - b * c)
        pi *= vi
        qi *= vi
        p_calc[i] = pi
        q_calc[i] = qi
        if bus_type[i] == BUS_REF:
            f[i, 0] = 0.0
            f[i, 1] = 0.0
        else:
            f[i, 0] = pi - p_spec[i]
            f[i, 1] = qi - q_spec[i] if bus_type[i] == BUS_PQ else 0.0
        a0 = abs(f[i, 0])
        a1 = abs(f[i, 1])
        if not (a0 <= worst):  # also catches NaN
            worst = a0 if a0 == a0 else np.inf
        if not (a1 <= worst):
            worst = a1 if a1 == a1 else np.inf
    return worst


@njit(cache=True)
def _jacobian(n_c, y_ptr, y_col, y_val, y_diag, vm, va, p_calc, q_calc, bus_type, j_val):
    """Fill the block Jacobian values on the admittance pattern."""
    for i in range(n_c):
        vi = vm[i]
        ai = va[i]
        t = bus_type[i]
        for p in range(y_ptr[i], y_ptr[i + 1]):
            j = y_col[p]
            blk = j_val[p]
            if t == BUS_REF:
                blk[0, 0] = 1.0 if j == i else 0.0
                blk[0, 1] = 0.0
                blk[1, 0] = 0.0
                blk[1, 1] = 1.0 if j == i else 0.0
                continue
            g = y_val[p].real
            b = y_val[p].imag
            if j == i:
                blk[0, 0] = -q_calc[i] - b * vi * vi
                blk[0, 1] = p_calc[i] / vi + g * vi
                blk[1, 0] = p_calc[i] - g * vi * vi
                blk[1, 1] = q_calc[i] / vi - b * vi
            elif bus_type[j] == BUS_REF:
                blk[0, 0] = 0.0
                blk[0, 1] = 0.0
                blk[1, 0] = 0.0
                blk[1, 1] = 0.0
                continue
            else:
                vj = vm[j]
                d = ai - va[j]
                c = math.cos(d)
                s = math.sin(d)
                gs_bc = g * s - b * c
                gc_bs = g * c + b * s
                blk[0, 0] = vi * vj * gs_bc
                blk[0, 1] = vi * gc_bs
                blk[1, 0] = -vi * vj * gc_bs
                blk[1, 1] = vi * gs_bc
            if t == BUS_PV:
                blk[1, 0] = 0.0
                blk[1, 1] = 1.0 if j == i else 0.0


@njit(cache=True)
def _linear_solve(n_c, y_ptr, y_col, j_val, sym, u_val, l_val, d_inv, w, rhs, dx, work):
    perm, iperm, u_ptr, u_col, l_ptr, l_col = sym
    ok = block_lu_numeric(n_c, y_ptr, y_col, j_val, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                          u_val, l_val, d_inv, w)
    if ok:
        block_lu_solve(n_c, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, rhs, dx, work)
        for i in range(n_c):
            if not (np.isfinite(dx[i, 0]) and np.isfinite(dx[i, 1])):
                ok = False
                break
    if not ok:
        ok = dense_solve(n_c, y_ptr, y_col, j_val, rhs, dx)
    return ok


@njit(cache=True)
def ac_newton(n_c, y_ptr, y_col, y_val, y_diag, bus_type, p_spec, q_spec, vm, va, max_iter, tol):
    """Polar Newton-Raphson. ``vm``/``va`` hold the initial point and receive the solution.

    Returns ``(status, n_iter, p_calc, q_calc)``.
    """
    p_calc = np.empty(n_c)
    q_calc = np.empty(n_c)
    f = np.empty((n_c, 2))
    worst = _mismatch(n_c, y_ptr, y_col, y_val, vm, va, p_spec, q_spec, bus_type, p_calc,
                      q_calc, f)
    if worst < tol:
        return CONVERGED, 0, p_calc, q_calc
    skip = bus_type == BUS_REF
    sym = symbolic_min_degree(n_c, y_ptr, y_col, skip)
    nnz_u = sym[3].shape[0]
    u_val = np.empty((nnz_u, 2, 2))
    l_val = np.empty((nnz_u, 2, 2))
    d_inv = np.empty((n_c, 2, 2))
    w = np.zeros((n_c, 2, 2))
    j_val = np.empty((y_col.shape[0], 2, 2))
    dx = np.empty((n_c, 2))
    work = np.empty((n_c, 2))
    start = worst
    for it in range(1, max_iter + 1):
        _jacobian(n_c, y_ptr, y_col, y_val, y_diag, vm, va, p_calc, q_calc, bus_type, j_val)
        for i in range(n_c):
            f[i, 0] = -f[i, 0]
            f[i, 1] = -f[i, 1]
        if not _linear_solve(n_c, y_ptr, y_col, j_val, sym, u_val, l_val, d_inv, w, f, dx,
                             work):
            return SINGULAR, it, p_calc, q_calc
        for i in range(n_c):
            if bus_type[i] != BUS_REF:
                va[i] += dx[i, 0]
                if bus_type[i] == BUS_PQ:
                    vm[i] += dx[i, 1]
        worst = _mismatch(n_c, y_ptr, y_col, y_val, vm, va, p_spec, q_spec, bus_type, p_calc,
                          q_calc, f)
        if worst < tol:
            return CONVERGED, it, p_calc, q_calc
        if not (worst < 1e8 * max(start, 1.0)):
            return DIVERGED, it, p_calc, q_calc
    return MAX_ITER, max_iter, p_calc, q_calc


@njit(cache=True)
def dc_solve(n_c, b_ptr, b_col, b_val, ref, p_spec, va):
    """Solve ``B theta = p_spec`` with ``theta[ref]`` fixed (``va[ref]`` holds it).

    ``b_val`` is real (n_nz,). Uses the block LU with a 1x1 problem embedded in 2x2 blocks.
    """
    j_val = np.zeros((b_col.shape[0], 2, 2))
    rhs = np.zeros((n_c, 2))
    for i in range(n_c):
        for p in range(b_ptr[i], b_ptr[i + 1]):
            j = b_col[p]
            if i == ref:
                if j == i:
                    j_val[p, 0, 0] = 1.0
                    j_val[p, 1, 1] = 1.0
            elif j == ref:
                rhs[i, 0] -= b_val[p] * va[ref]
            else:
                j_val[p, 0, 0] = b_val[p]
                if j == i:
                    j_val[p, 1, 1] = 1.0
        if i == ref:
            rhs[i, 0] = va[ref]
        else:
            rhs[i, 0] += p_spec[i]
    skip = np.zeros(n_c, dtype=np.bool_)
    skip[ref] = True
    sym = symbolic_min_degree(n_c, b_ptr, b_col, skip)
    nnz_u = sym[3].shape[0]
    u_val = np.empty((nnz_u, 2, 2))
    l_val = np.empty((nnz_u, 2, 2))
    d_inv = np.empty((n_c, 2, 2))
    w = np.zeros((n_c, 2, 2))
    dx = np.empty((n_c, 2))
    work = np.empty((n_c, 2))
    if not _linear_solve(n_c, b_ptr, b_col, j_val, sym, u_val, l_val, d_inv, w, rhs, dx, work):
        return SINGULAR
    for i in range(n_c):
        va[i] = dx[i, 0]
    return CONVERGED
