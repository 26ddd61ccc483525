"""Block-sparse LU with 2x2 blocks (one block per bus), in numba.

The power-flow Jacobian in polar form has one 2x2 block per (bus, bus) pair of the admittance
pattern. We order the buses by minimum degree, compute the filled pattern once per topology
(symbolic phase) and factorise numerically at every Newton iteration (IKJ, row by row, with a
dense work row). No pivoting across blocks: a tiny diagonal block makes :func:`block_lu_numeric`
return ``False`` and the caller falls back to :func:`dense_solve` (partial pivoting).

Layout of the symbolic structure (all in *elimination order* indices):

* ``perm[k]`` is the compact bus eliminated at step ``k``; ``iperm`` its inverse;
* ``u_ptr/u_col``: strictly-upper pattern of each row, columns ascending;
* ``l_ptr/l_col``: strictly-lower pattern of each row, columns ascending.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PIVOT_TOL = 1e-12


@njit(cache=True)
def symbolic_min_degree(n, a_ptr, a_col, skip):
    """Minimum-degree ordering and filled pattern of a structurally symmetric matrix.

    Args:
        n: matrix size (blocks).
        a_ptr, a_col: CSR pattern (compact indices); the diagonal may be present.
        skip: boolean mask of rows/cols to leave uncoupled (e.g. the slack bus).

    Returns:
        perm, iperm, u_ptr, u_col, l_ptr, l_col (int64 arrays).
    """
    adj = np.zeros((n, n), dtype=np.bool_)
    deg = np.zeros(n, dtype=np.int64)
    for i in range(n):
        if skip[i]:
            continue
        for p in range(a_ptr[i], a_ptr[i + 1]):
            j = a_col[p]
            if j != i and not skip[j] and not adj[i, j]:
                adj[i, j] = True
                adj[j, i] = True
                deg[i] += 1
                deg[j] += 1
    eliminated = np.zeros(n, dtype=np.bool_)
    perm = np.empty(n, dtype=np.int64)
    nb_ptr = np.zeros(n + 1, dtype=np.int64)
    cap = 4 * n + 16
    nb_all = np.empty(cap, dtype=np.int64)
    nb = np.empty(n, dtype=np.int64)
    used = 0
    for step in range(n):
        best = -1
        best_deg = n + 1
        for v in range(n):
            if not eliminated[v] and deg[v] < best_deg:
                best = v
                best_deg = deg[v]
        v = best
        perm[step] = v
        eliminated[v] = True
        m = 0
        for u in range(n):
            if adj[v, u] and not eliminated[u]:
                nb[m] = u
                m += 1
        if used + m > cap:
            new_cap = max(2 * cap, used + m + 16)
            tmp = np.empty(new_cap, dtype=np.int64)
            tmp[:used] = nb_all[:used]
            nb_all = tmp
            cap = new_cap
        for a in range(m):
            nb_all[used + a] = nb[a]
            deg[nb[a]] -= 1
        used += m
        nb_ptr[step + 1] = used
        for a in range(m):
            ua = nb[a]
            for b in range(m):
                ub = nb[b]
                if ua != ub and not adj[ua, ub]:
                    adj[ua, ub] = True
                    deg[ua] += 1
    iperm = np.empty(n, dtype=np.int64)
    for k in range(n):
        iperm[perm[k]] = k
    # U pattern in elimination indices, sorted
    u_ptr = nb_ptr.copy()
    u_col = np.empty(used, dtype=np.int64)
    for k in range(n):
        s = u_ptr[k]
        e = u_ptr[k + 1]
        for p in range(s, e):
            u_col[p] = iperm[nb_all[p]]
        u_col[s:e] = np.sort(u_col[s:e])
    # L pattern = transpose of U pattern (rows visited ascending -> columns sorted)
    l_cnt = np.zeros(n + 1, dtype=np.int64)
    for p in range(used):
        l_cnt[u_col[p] + 1] += 1
    l_ptr = np.cumsum(l_cnt)
    l_col = np.empty(used, dtype=np.int64)
    fill = l_ptr[:-1].copy()
    for k in range(n):
        for p in range(u_ptr[k], u_ptr[k + 1]):
            r = u_col[p]
            l_col[fill[r]] = k
            fill[r] += 1
    return perm, iperm, u_ptr, u_col, l_ptr, l_col


@njit(cache=True)
def block_lu_numeric(n, a_ptr, a_col, a_val, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                     u_val, l_val, d_inv, w):
    """Numeric block LU of ``A`` (block CSR, compact indices) into ``u_val``, ``l_val``, ``d_inv``.

    Returns False if a diagonal block is (nearly) singular.
    """
    for i in range(n):
        # clear work row on the filled pattern of row i
        for p in range(l_ptr[i], l_ptr[i + 1]):
            w[l_col[p]] = 0.0
        for p in range(u_ptr[i], u_ptr[i + 1]):
            w[u_col[p]] = 0.0
        w[i] = 0.0
        row = perm[i]
        for p in range(a_ptr[row], a_ptr[row + 1]):
            j = iperm[a_col[p]]
            w[j] += a_val[p]
        for p in range(l_ptr[i], l_ptr[i + 1]):
            k = l_col[p]
            # m = w[k] @ d_inv[k]
            w00 = w[k, 0, 0]
            w01 = w[k, 0, 1]
            w10 = w[k, 1, 0]
            w11 = w[k, 1, 1]
            d = d_inv[k]
            m00 = w00 * d[0, 0] + w01 * d[1, 0]
            m01 = w00 * d[0, 1] + w01 * d[1, 1]
            m10 = w10 * d[0, 0] + w11 * d[1, 0]
            m11 = w10 * d[0, 1] + w11 * d[1, 1]
            l_val[p, 0, 0] = m00
            l_val[p, 0, 1] = m01
            l_val[p, 1, 0] = m10
            l_val[p, 1, 1] = m11
            for q in range(u_ptr[k], u_ptr[k + 1]):
                j = u_col[q]
                u = u_val[q]
                w[j, 0, 0] -= m00 * u[0, 0] + m01 * u[1, 0]
                w[j, 0, 1] -= m00 * u[0, 1] + m01 * u[1, 1]
                w[j, 1, 0] -= m10 * u[0, 0] + m11 * u[1, 0]
                w[j, 1, 1] -= m10 * u[0, 1] + m11 * u[1, 1]
        a = w[i, 0, 0]
        b = w[i, 0, 1]
        c = w[i, 1, 0]
        dd = w[i, 1, 1]
        det = a * dd - b * c
        scale = abs(a) + abs(b) + abs(c) + abs(dd)
        if not (abs(det) > PIVOT_TOL * max(scale * scale, 1e-300)):
            return False
        inv = 1.0 / det
        d_inv[i, 0, 0] = dd * inv
        d_inv[i, 0, 1] = -b * inv
        d_inv[i, 1, 0] = -c * inv
        d_inv[i, 1, 1] = a * inv
        for p in range(u_ptr[i], u_ptr[i + 1]):
            u_val[p] = w[u_col[p]]
    return True


@njit(cache=True)
def block_lu_solve(n, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, rhs, x, y):
    """Solve ``A x = rhs`` with the factors of :func:`block_lu_numeric` (rhs, x: (n, 2))."""
    for i in range(n):
        r = perm[i]
        y0 = rhs[r, 0]
        y1 = rhs[r, 1]
        for p in range(l_ptr[i], l_ptr[i + 1]):
            k = l_col[p]
            y0 -= l_val[p, 0, 0] * y[k, 0] + l_val[p, 0, 1] * y[k, 1]
            y1 -= l_val[p, 1, 0] * y[k, 0] + l_val[p, 1, 1] * y[k, 1]
        y[i, 0] = y0
        y[i, 1] = y1
    for i in range(n - 1, -1, -1):
        z0 = y[i, 0]
        z1 = y[i, 1]
        for p in range(u_ptr[i], u_ptr[i + 1]):
            j = u_col[p]
            z0 -= u_val[p, 0, 0] * y[j, 0] + u_val[p, 0, 1] * y[j, 1]
            z1 -= u_val[p, 1, 0] * y[j, 0] + u_val[p, 1, 1] * y[j, 1]
        y[i, 0] = d_inv[i, 0, 0] * z0 + d_inv[i, 0, 1] * z1
        y[i, 1] = d_inv[i, 1, 0] * z0 + d_inv[i, 1, 1] * z1
    for i in range(n):
        x[perm[i], 0] = y[i, 0]
        x[perm[i], 1] = y[i, 1]


@njit(cache=True)
def dense_solve(n, a_ptr, a_col, a_val, rhs, x):
    """Fallback: dense Gaussian elimination with partial pivoting on the scalar system.

    Returns False when the matrix is numerically singular.
    """
    m = 2 * n
    a = np.zeros((m, m))
    b = np.empty(m)
    for i in range(n):
        b[2 * i] = rhs[i, 0]
        b[2 * i + 1] = rhs[i, 1]
        for p in range(a_ptr[i], a_ptr[i + 1]):
            j = a_col[p]
            for r in range(2):
                for c in range(2):
                    a[2 * i + r, 2 * j + c] += a_val[p, r, c]
    for k in range(m):
        piv = k
        best = abs(a[k, k])
        for r in range(k + 1, m):
            if abs(a[r, k]) > best:
                best = abs(a[r, k])
                piv = r
        if best < 1e-300 or not np.isfinite(best):
            return False
        if piv != k:
            for c in range(m):
                tmp = a[k, c]
                a[k, c] = a[piv, c]
                a[piv, c] = tmp
            tmp = b[k]
            b[k] = b[piv]
            b[piv] = tmp
        inv = 1.0 / a[k, k]
        for r in range(k + 1, m):
            f = a[r, k] * inv
            if f != 0.0:
                for c in range(k, m):
                    a[r, c] -= f * a[k, c]
                b[r] -= f * b[k]
    for k in range(m - 1, -1, -1):
        s = b[k]
        for c in range(k + 1, m):
            s -= a[k, c] * b[c]
        b[k] = s / a[k, k]
    for i in range(n):
        x[i, 0] = b[2 * i]
        x[i, 1] = b[2 * i + 1]
    return True
