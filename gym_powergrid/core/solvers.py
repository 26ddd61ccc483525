"""AC (polar Newton-Raphson) and DC power-flow kernels on the compact admittance matrix.

Unknowns per compact bus ``i``: ``(theta_i, V_i)``; equations ``(dP_i, dQ_i)``. The slack bus
row is the identity (its angle and magnitude are fixed); a PV bus's Q equation is replaced by
``dV_i = 0``. Keeping one 2x2 block per bus gives a fixed block pattern (the admittance
pattern) for the sparse LU of :mod:`gym_powergrid.core.sparse_lu`.

The mismatch and the Jacobian are computed in one pass from the rectangular voltages
``e + j f`` (one ``cos``/``sin`` per bus and iteration instead of one per admittance entry).
All work arrays are owned by the caller (see :mod:`gym_powergrid.core.pf_kernel`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .sparse_lu import (
    block_lu_numeric,
    block_lu_numeric_static,
    block_lu_solve,
    block_refine,
    dense_solve,
    scalar_dense_solve,
    scalar_lu_numeric,
    scalar_lu_solve,
)
from .status import PFStatus

CONVERGED = int(PFStatus.CONVERGED)
MAX_ITER = int(PFStatus.MAX_ITER)
DIVERGED = int(PFStatus.DIVERGED)
SINGULAR = int(PFStatus.SINGULAR)

# bus types in the compact system
BUS_PQ = 0
BUS_PV = 1
BUS_REF = 2

#: Above this many compact buses a Newton step whose sparse LU meets a tiny pivot is not
#: solved by a dense LU of the whole Jacobian (seconds on case1354pegase: 2,700 unknowns) but
#: by static pivoting and iterative refinement on the sparse factors; a Jacobian too close to
#: singular for that ends the flow with SINGULAR. 250 > 2 x 118: the shipped grids (case14 to
#: case118, at most 236 busbars) never take that path.
DENSE_MAX_BUSES = 250
#: Static pivoting: a tiny pivot block gets STATIC_DELTA x max|J| added to its diagonal.
STATIC_DELTA = 1e-8
#: On those large systems Newton also gives up (MAX_ITER) when the mismatch has not gone below
#: its best value for this many iterations in a row: a flow with no solution (a cascade next
#: to voltage collapse) then costs a few sparse iterations instead of the whole limit.
STALL_ITERS = 5
#: Iterative refinement: at most this many corrections, down to this backward error.
REFINE_STEPS = 20
REFINE_TOL = 1e-10


@njit(cache=True, error_model="numpy")
def mismatch_jacobian(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, vm, va, p_spec, q_spec,
                      e, f, inv_v, p_calc, q_calc, rhs, jac, trig):
    """Injections, mismatch and Jacobian at ``(vm, va)``; return the mismatch's max norm.

    Writes ``e``/``f`` (rectangular voltages) and ``inv_v`` (``1 / vm``) unless ``trig`` is
    False (the caller already has them for this ``vm``/``va``: :func:`.pf_solve.initial_point`),
    ``p_calc``/``q_calc`` (p.u. injections), ``rhs`` (minus the mismatch, ``2 n_c``; zero on the
    slack and on PV buses' Q equations) and ``jac`` (flat 2x2 blocks on the admittance
    pattern). A NaN mismatch gives ``inf``.
    """
    if trig:
        for i in range(n_c):
            v = vm[i]
            a = va[i]
            e[i] = v * math.cos(a)
            f[i] = v * math.sin(a)
            inv_v[i] = 1.0 / v
    worst = 0.0
    for i in range(n_c):
        ei = e[i]
        fi = f[i]
        t = bus_type[i]
        pi = 0.0
        qi = 0.0
        for p in range(y_ptr[i], y_ptr[i + 1]):
            j = y_col[p]
            g = y_g[p]
            b = y_b[p]
            ej = e[j]
            fj = f[j]
            vv_c = ei * ej + fi * fj  # Vi Vj cos(ai - aj)
            vv_s = fi * ej - ei * fj  # Vi Vj sin(ai - aj)
            gc_bs = g * vv_c + b * vv_s
            gs_bc = g * vv_s - b * vv_c
            pi += gc_bs
            qi += gs_bc
            p4 = 4 * p
            if t == BUS_REF or bus_type[j] == BUS_REF or j == i:
                jac[p4] = 0.0
                jac[p4 + 1] = 0.0
                jac[p4 + 2] = 0.0
                jac[p4 + 3] = 0.0
            else:
                inv_vj = inv_v[j]
                jac[p4] = gs_bc  # dP/dtheta_j
                jac[p4 + 1] = gc_bs * inv_vj  # dP/dV_j
                if t == BUS_PQ:
                    jac[p4 + 2] = -gc_bs  # dQ/dtheta_j
                    jac[p4 + 3] = gs_bc * inv_vj  # dQ/dV_j
                else:
                    jac[p4 + 2] = 0.0
                    jac[p4 + 3] = 0.0
        p_calc[i] = pi
        q_calc[i] = qi
        d4 = 4 * y_diag[i]
        if t == BUS_REF:
            rhs[2 * i] = 0.0
            rhs[2 * i + 1] = 0.0
            jac[d4] = 1.0
            jac[d4 + 3] = 1.0
            continue
        vi = vm[i]
        inv_vi = inv_v[i]
        gd = y_g[y_diag[i]]
        bd = y_b[y_diag[i]]
        dp = pi - p_spec[i]
        jac[d4] = -qi - bd * vi * vi
        jac[d4 + 1] = pi * inv_vi + gd * vi
        if t == BUS_PQ:
            dq = qi - q_spec[i]
            jac[d4 + 2] = pi - gd * vi * vi
            jac[d4 + 3] = qi * inv_vi - bd * vi
        else:
            dq = 0.0
            jac[d4 + 3] = 1.0
        rhs[2 * i] = -dp
        rhs[2 * i + 1] = -dq
        a0 = abs(dp)
        a1 = abs(dq)
        if not (a0 <= worst):  # also catches NaN
            worst = a0 if a0 == a0 else np.inf
        if not (a1 <= worst):
            worst = a1 if a1 == a1 else np.inf
    return worst


@njit(cache=True, error_model="numpy")
def ac_newton(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, p_spec, q_spec, vm, va,
              max_iter, tol, perm, iperm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, w,
              e, f, inv_v, p_calc, q_calc, rhs, dx, work, jac, trig0):
    """Polar Newton-Raphson. ``vm``/``va`` hold the initial point and receive the solution;
    ``trig0`` False: ``e``, ``f``, ``inv_v`` already hold the initial point's (see
    :func:`mismatch_jacobian`).

    ``perm .. l_col`` is the symbolic LU of the admittance pattern with the slack (compact 0)
    uncoupled; the other arguments after ``tol`` are work arrays. On return ``e``, ``f``,
    ``p_calc`` and ``q_calc`` match the returned ``vm``/``va``. Returns ``(status, n_iter)``.
    Systems above :data:`DENSE_MAX_BUSES` buses use static pivoting instead of a dense LU and
    stop early when the mismatch stalls (:data:`STALL_ITERS`).
    """
    worst = mismatch_jacobian(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, vm, va, p_spec,
                              q_spec, e, f, inv_v, p_calc, q_calc, rhs, jac, trig0)
    if worst < tol:
        return CONVERGED, 0
    start = worst
    best = worst
    stalled = 0
    big = n_c > DENSE_MAX_BUSES
    for it in range(1, max_iter + 1):
        ok = block_lu_numeric(n_c, y_ptr, y_col, jac, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                              u_val, l_val, d_inv, w)
        if ok:
            block_lu_solve(n_c, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, rhs, dx,
                           work)
            for k in range(2 * n_c):
                if not np.isfinite(dx[k]):
                    ok = False
                    break
        if not ok:
            if big:
                if not _static_pivot_solve(n_c, y_ptr, y_col, jac, perm, iperm, u_ptr, u_col,
                                           l_ptr, l_col, u_val, l_val, d_inv, w, rhs, dx,
                                           work):
                    return SINGULAR, it
            elif not dense_solve(n_c, y_ptr, y_col, jac, rhs, dx):
                return SINGULAR, it
        for i in range(n_c):
            t = bus_type[i]
            if t != BUS_REF:
                va[i] += dx[2 * i]
                if t == BUS_PQ:
                    vm[i] += dx[2 * i + 1]
        worst = mismatch_jacobian(n_c, y_ptr, y_col, y_g, y_b, y_diag, bus_type, vm, va,
                                  p_spec, q_spec, e, f, inv_v, p_calc, q_calc, rhs, jac,
                                  it > 0)  # True, typed as the first call's flag: one compilation
        if worst < tol:
            return CONVERGED, it
        if not (worst < 1e8 * max(start, 1.0)):
            return DIVERGED, it
        if big:
            if worst < best:
                best = worst
                stalled = 0
            else:
                stalled += 1
                if stalled >= STALL_ITERS:
                    return MAX_ITER, it
    return MAX_ITER, max_iter


@njit(cache=True, error_model="numpy")
def _static_pivot_solve(n_c, y_ptr, y_col, jac, perm, iperm, u_ptr, u_col, l_ptr, l_col, u_val,
                        l_val, d_inv, w, rhs, dx, work):
    """Newton step ``jac dx = rhs`` on a large system whose plain sparse LU met a tiny pivot:
    perturbed pivots, then iterative refinement; False when that does not reach the true
    system's solution (a Jacobian next to singular: voltage collapse)."""
    j_max = 0.0
    for p in range(4 * y_ptr[n_c]):
        v = abs(jac[p])
        if not (v < np.inf):
            return False
        j_max = max(j_max, v)
    if block_lu_numeric_static(n_c, y_ptr, y_col, jac, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                               u_val, l_val, d_inv, w, STATIC_DELTA * j_max) < 0:
        return False
    # ``w`` (the factorisation's work row, 4 n_c floats) is free now: residual and correction
    return block_refine(n_c, y_ptr, y_col, jac, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val,
                        d_inv, rhs, dx, w[:2 * n_c], w[2 * n_c:4 * n_c], work, REFINE_STEPS,
                        REFINE_TOL)


@njit(cache=True, error_model="numpy")
def dc_factorise(n_c, b_ptr, b_col, b_val, ref, mat, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                 u_val, l_val, d_inv, w):
    """Factorise the DC matrix ``B`` with the row/column of ``ref`` replaced by the identity.

    ``mat`` receives that modified matrix (same pattern as ``b_val``; the dense fallback needs
    it). Returns True when the sparse factors are usable, False when the caller must use
    :func:`gym_powergrid.core.sparse_lu.scalar_dense_solve` on ``mat``.
    """
    for i in range(n_c):
        for p in range(b_ptr[i], b_ptr[i + 1]):
            j = b_col[p]
            if i == ref or j == ref:
                mat[p] = 1.0 if i == j else 0.0
            else:
                mat[p] = b_val[p]
    return scalar_lu_numeric(n_c, b_ptr, b_col, mat, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                             u_val, l_val, d_inv, w)


@njit(cache=True, error_model="numpy")
def dc_solve(n_c, b_ptr, b_col, b_val, ref, p_inj, va, factored, mat, perm, u_ptr, u_col, l_ptr,
             l_col, u_val, l_val, d_inv, rhs, work):
    """Solve ``B theta = p_inj`` with ``theta[ref]`` fixed (``va[ref]`` holds it) into ``va``.

    ``factored`` tells whether :func:`dc_factorise` succeeded (else the dense fallback runs on
    ``mat``). ``rhs`` and ``work`` are work arrays of ``n_c`` floats. Returns a status code.
    """
    va_ref = va[ref]
    for i in range(n_c):
        rhs[i] = p_inj[i]
    for i in range(n_c):
        if i == ref:
            continue
        for p in range(b_ptr[i], b_ptr[i + 1]):
            if b_col[p] == ref:
                rhs[i] -= b_val[p] * va_ref
    rhs[ref] = va_ref
    if factored:
        scalar_lu_solve(n_c, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, rhs, va,
                        work)
        ok = True
        for i in range(n_c):
            if not np.isfinite(va[i]):
                ok = False
                break
        if ok:
            return CONVERGED
    if not scalar_dense_solve(n_c, b_ptr, b_col, mat, rhs, va):
        return SINGULAR
    return CONVERGED
