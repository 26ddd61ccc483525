"""Fast-decoupled AC power flow, XB version: PYPOWER's ``fdpf`` (``PF_ALG=2``) in numba.

pypownet solves every power flow with PYPOWER's fast-decoupled XB method, 25 iterations at most
and a tolerance of 1e-6 p.u.; where Newton-Raphson converges on a stressed grid, that method can
stop without a solution, and pypownet then ends the game. ``loadflow_backend: pypower`` (the
value pypownet's own folders carry) plays the game with this solver on the numba core so that
such steps end the same way.

The iteration is PYPOWER's: ``B'`` from the branch reactances only (resistance, line charging,
bus shunts and taps removed, phase shifts kept), ``B''`` the imaginary part of the admittance
matrix without phase shifts; each iteration a P half-step on the angles of PV and PQ buses, then
a Q half-step on the magnitudes of PQ buses, convergence when both mismatches
``(V conj(Y V) - S) / |V|`` are below ``tol`` (max norm). Both matrices are factorised dense
once per call: the method is meant for pypownet's grids (up to 118 substations).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .network import LF_SHIFT, LF_X, LF_YFT_B, LF_YFT_G, LF_YTF_B, LF_YTF_G
from .status import PFStatus

CONVERGED = int(PFStatus.CONVERGED)
MAX_ITER = int(PFStatus.MAX_ITER)
DIVERGED = int(PFStatus.DIVERGED)
SINGULAR = int(PFStatus.SINGULAR)
BUS_PQ, BUS_PV, BUS_REF = 0, 1, 2  # as solvers.BUS_*


@njit(cache=True, error_model="numpy")
def _lu_factor(a, m, piv):
    """In-place LU with partial pivoting of ``a[:m, :m]``; False when singular."""
    for k in range(m):
        p = k
        best = abs(a[k, k])
        for r in range(k + 1, m):
            if abs(a[r, k]) > best:
                best = abs(a[r, k])
                p = r
        if best < 1e-300 or not np.isfinite(best):
            return False
        piv[k] = p
        if p != k:
            for c in range(m):
                tmp = a[k, c]
                a[k, c] = a[p, c]
                a[p, c] = tmp
        inv = 1.0 / a[k, k]
        for r in range(k + 1, m):
            a[r, k] *= inv
            f = a[r, k]
            if f != 0.0:
                for c in range(k + 1, m):
                    a[r, c] -= f * a[k, c]
    return True


@njit(cache=True, error_model="numpy")
def _lu_solve(a, m, piv, b):
    """Solve with the factors of :func:`_lu_factor`; ``b`` is overwritten by the solution."""
    for k in range(m):
        p = piv[k]
        if p != k:
            tmp = b[k]
            b[k] = b[p]
            b[p] = tmp
    for k in range(m):
        s = b[k]
        for c in range(k):
            s -= a[k, c] * b[c]
        b[k] = s
    for k in range(m - 1, -1, -1):
        s = b[k]
        for c in range(k + 1, m):
            s -= a[k, c] * b[c]
        b[k] = s / a[k, k]


@njit(cache=True, error_model="numpy")
def _mismatch(n_c, y_ptr, y_col, y_g, y_b, vm, va, p_spec, q_spec, idx_p, m_p, idx_q, m_q,
              e, f, dp, dq):
    """``(V conj(Y V) - S) / |V|`` at the P rows (PV, PQ) and Q rows (PQ); returns the larger
    max norm of the two (``inf`` when not finite)."""
    for i in range(n_c):
        e[i] = vm[i] * math.cos(va[i])
        f[i] = vm[i] * math.sin(va[i])
    worst = 0.0
    for r in range(m_p):
        i = idx_p[r]
        ir = 0.0
        ii = 0.0
        for p in range(y_ptr[i], y_ptr[i + 1]):
            j = y_col[p]
            ir += y_g[p] * e[j] - y_b[p] * f[j]
            ii += y_g[p] * f[j] + y_b[p] * e[j]
        dp[r] = (e[i] * ir + f[i] * ii - p_spec[i]) / vm[i]
        a = abs(dp[r])
        if not a <= worst:
            worst = a if a == a else np.inf
    for r in range(m_q):
        i = idx_q[r]
        ir = 0.0
        ii = 0.0
        for p in range(y_ptr[i], y_ptr[i + 1]):
            j = y_col[p]
            ir += y_g[p] * e[j] - y_b[p] * f[j]
            ii += y_g[p] * f[j] + y_b[p] * e[j]
        dq[r] = (f[i] * ir - e[i] * ii - q_spec[i]) / vm[i]
        a = abs(dq[r])
        if not a <= worst:
            worst = a if a == a else np.inf
    return worst


@njit(cache=True, error_model="numpy")
def fast_decoupled_xb(n_c, bus_cidx, lbus_or, lbus_ex, line_status, line_f, y_ptr, y_col, y_g,
                      y_b, y_diag, bus_type, p_spec, q_spec, vm, va, max_iter, tol, e, f):
    """PYPOWER's fast-decoupled XB power flow; ``vm``/``va`` hold the initial point and receive
    the solution, ``e``/``f`` its rectangular form. Returns ``(status, n_iter)``."""
    pos_p = np.full(n_c, -1, dtype=np.int64)
    pos_q = np.full(n_c, -1, dtype=np.int64)
    idx_p = np.empty(n_c, dtype=np.int64)
    idx_q = np.empty(n_c, dtype=np.int64)
    m_p = 0
    m_q = 0
    for c in range(n_c):
        if bus_type[c] != BUS_REF:
            pos_p[c] = m_p
            idx_p[m_p] = c
            m_p += 1
        if bus_type[c] == BUS_PQ:
            pos_q[c] = m_q
            idx_q[m_q] = c
            m_q += 1
    bp = np.zeros((m_p, m_p))
    bpp = np.zeros((m_q, m_q))
    for c in range(n_c):  # B'': -imag(Y) without phase shifts (the diagonal has none)
        r = pos_q[c]
        if r >= 0:
            bpp[r, r] = -y_b[y_diag[c]]
    for k in range(line_status.shape[0]):
        if not line_status[k]:
            continue
        fb = bus_cidx[lbus_or[k]]
        if fb < 0:
            continue
        tb = bus_cidx[lbus_ex[k]]
        th = line_f[k, LF_SHIFT]
        b = 1.0 / line_f[k, LF_X]
        cb = math.cos(th) * b
        pf_, pt_ = pos_p[fb], pos_p[tb]
        if pf_ >= 0:
            bp[pf_, pf_] += b
        if pt_ >= 0:
            bp[pt_, pt_] += b
        if pf_ >= 0 and pt_ >= 0:
            bp[pf_, pt_] -= cb
            bp[pt_, pf_] -= cb
        qf, qt = pos_q[fb], pos_q[tb]
        if qf >= 0 and qt >= 0 and fb != tb:
            c_, s_ = math.cos(th), math.sin(th)
            # unshifted Yft = Yft e^{-j th}, Ytf = Ytf e^{+j th}: imaginary parts
            yft_b = line_f[k, LF_YFT_B] * c_ - line_f[k, LF_YFT_G] * s_
            ytf_b = line_f[k, LF_YTF_B] * c_ + line_f[k, LF_YTF_G] * s_
            bpp[qf, qt] -= yft_b
            bpp[qt, qf] -= ytf_b
    piv_p = np.empty(max(m_p, 1), dtype=np.int64)
    piv_q = np.empty(max(m_q, 1), dtype=np.int64)
    dp = np.empty(max(m_p, 1))
    dq = np.empty(max(m_q, 1))
    worst = _mismatch(n_c, y_ptr, y_col, y_g, y_b, vm, va, p_spec, q_spec, idx_p, m_p, idx_q,
                      m_q, e, f, dp, dq)
    if worst < tol:
        return CONVERGED, 0
    if not _lu_factor(bp, m_p, piv_p) or not _lu_factor(bpp, m_q, piv_q):
        return SINGULAR, 0
    for it in range(1, max_iter + 1):
        _lu_solve(bp, m_p, piv_p, dp)
        for r in range(m_p):
            va[idx_p[r]] -= dp[r]
        worst = _mismatch(n_c, y_ptr, y_col, y_g, y_b, vm, va, p_spec, q_spec, idx_p, m_p,
                          idx_q, m_q, e, f, dp, dq)
        if worst < tol:
            return CONVERGED, it
        if not np.isfinite(worst):
            return DIVERGED, it
        _lu_solve(bpp, m_q, piv_q, dq)
        for r in range(m_q):
            vm[idx_q[r]] -= dq[r]
        worst = _mismatch(n_c, y_ptr, y_col, y_g, y_b, vm, va, p_spec, q_spec, idx_p, m_p,
                          idx_q, m_q, e, f, dp, dq)
        if worst < tol:
            return CONVERGED, it
        if not np.isfinite(worst):
            return DIVERGED, it
    return MAX_ITER, max_iter
