"""Sparse LU in numba: 2x2-block version (AC Jacobian) and scalar version (DC B matrix).

The power-flow Jacobian in polar form has one 2x2 block per (bus, bus) pair of the admittance
pattern. We order the buses by minimum degree and compute the filled pattern once per topology
(symbolic phase, :func:`symbolic_min_degree`), then factorise numerically at every Newton
iteration (IKJ, row by row, with a dense work row). No pivoting across blocks: a tiny diagonal
block makes :func:`block_lu_numeric` return ``False`` and the caller falls back to
:func:`dense_solve` (partial pivoting) on small systems; on large ones, where a dense LU costs
seconds, to static pivoting (:func:`block_lu_numeric_static`: tiny pivots perturbed) with
iterative refinement (:func:`block_refine`). The scalar functions do the same for the DC
problem (dense fallback only).

Layout of the symbolic structure (all in *elimination order* indices):

* ``perm[k]`` is the row/column eliminated at step ``k``; ``iperm`` its inverse;
* ``u_ptr/u_col``: strictly-upper pattern of each row (columns in no particular order);
* ``l_ptr/l_col``: strictly-lower pattern of each row, columns ascending (the numeric phase
  relies on it);
* ``l_ptr[n] == u_ptr[n]`` is the number of off-diagonal fill entries on each side.

Block values are stored flat: block ``p`` of a block array ``v`` is ``v[4p:4p+4]`` in row-major
order ``(00, 01, 10, 11)``. Matrices are given in CSR form (``a_ptr``, ``a_col``, values); the
pattern must be structurally symmetric (the admittance matrix is) and may hold the diagonal
and duplicate entries (they are summed).
"""

from __future__ import annotations

import numpy as np
from numba import njit

PIVOT_TOL = 1e-12


# --------------------------------------------------------------------------- helpers
# Plain loops instead of slice assignment / np.full: numba compiles a shape-mismatch error path
# (string formatting) for every array-to-array slice assignment, which costs seconds of cold
# compilation and nothing at run time here.
@njit(cache=True, error_model="numpy")
def copy_into(dst, src, n):
    """``dst[:n] = src[:n]``."""
    for i in range(n):
        dst[i] = src[i]


@njit(cache=True, error_model="numpy")
def _filled(n, value):
    out = np.empty(n, dtype=np.int64)
    for i in range(n):
        out[i] = value
    return out


# --------------------------------------------------------------------------- symbolic phase
@njit(cache=True, error_model="numpy")
def symbolic_min_degree(n, a_ptr, a_col, skip):
    """Minimum-degree ordering and filled pattern of a structurally symmetric matrix.

    Runs the elimination on an explicit graph (adjacency lists with fill edges added as nodes
    are eliminated) with degree buckets, so it costs O(fill) rather than O(n^2).

    Args:
        n: matrix size (blocks).
        a_ptr, a_col: CSR pattern; the diagonal and duplicates may be present.
        skip: boolean mask of rows/cols to leave uncoupled (e.g. the slack bus); they are
            eliminated last with empty off-diagonal patterns.

    Returns:
        perm, iperm, u_ptr, u_col, l_ptr, l_col (int64 arrays).
    """
    # ---- adjacency lists (deduplicated, symmetric, without skipped nodes)
    cnt = np.zeros(n, dtype=np.int64)
    for i in range(n):
        if skip[i]:
            continue
        for p in range(a_ptr[i], a_ptr[i + 1]):
            j = a_col[p]
            if j != i and not skip[j]:
                cnt[i] += 1
                cnt[j] += 1
    start = np.empty(n, dtype=np.int64)
    cap = np.empty(n, dtype=np.int64)
    used = 0
    for v in range(n):
        start[v] = used
        cap[v] = cnt[v] + 4
        used += cap[v]
    arena = np.empty(2 * used + 16, dtype=np.int64)
    mark = _filled(n, -1)
    for v in range(n):
        cnt[v] = 0
    for i in range(n):
        if skip[i]:
            continue
        for p in range(a_ptr[i], a_ptr[i + 1]):
            j = a_col[p]
            if j != i and not skip[j]:
                arena[start[i] + cnt[i]] = j
                cnt[i] += 1
                arena[start[j] + cnt[j]] = i
                cnt[j] += 1
    for v in range(n):  # remove duplicates
        s = start[v]
        m = 0
        for q in range(cnt[v]):
            u = arena[s + q]
            if mark[u] != v:
                mark[u] = v
                arena[s + m] = u
                m += 1
        cnt[v] = m
    # ---- degree buckets (doubly linked lists)
    head = _filled(n + 1, -1)
    nxt = _filled(n, -1)
    prv = _filled(n, -1)
    n_active = 0
    for v in range(n - 1, -1, -1):
        if skip[v]:
            continue
        n_active += 1
        d = cnt[v]
        nxt[v] = head[d]
        if head[d] >= 0:
            prv[head[d]] = v
        head[d] = v
    perm = np.empty(n, dtype=np.int64)
    nb_ptr = np.zeros(n + 1, dtype=np.int64)
    nb_all = np.empty(4 * n + 16, dtype=np.int64)
    n_nb = 0
    for v in range(n):
        mark[v] = -1
    min_d = 0
    for step in range(n_active):
        while head[min_d] < 0:
            min_d += 1
        v = head[min_d]
        head[min_d] = nxt[v]
        if nxt[v] >= 0:
            prv[nxt[v]] = -1
        perm[step] = v
        sv = start[v]
        m = cnt[v]
        if n_nb + m > nb_all.shape[0]:
            bigger = np.empty(2 * nb_all.shape[0] + m, dtype=np.int64)
            copy_into(bigger, nb_all, n_nb)
            nb_all = bigger
        for a in range(m):
            nb_all[n_nb + a] = arena[sv + a]
        # neighbours of v: take them out of their bucket and drop v from their lists
        for a in range(m):
            u = nb_all[n_nb + a]
            if prv[u] >= 0:
                nxt[prv[u]] = nxt[u]
            else:
                head[cnt[u]] = nxt[u]
            if nxt[u] >= 0:
                prv[nxt[u]] = prv[u]
            su = start[u]
            for q in range(cnt[u]):
                if arena[su + q] == v:
                    cnt[u] -= 1
                    arena[su + q] = arena[su + cnt[u]]
                    break
        # make the neighbours a clique (fill), then put them back in their buckets
        for a in range(m):
            u = nb_all[n_nb + a]
            stamp = step * n + u  # unique per (step, u)
            su = start[u]
            for q in range(cnt[u]):
                mark[arena[su + q]] = stamp
            for b in range(m):
                x = nb_all[n_nb + b]
                if x != u and mark[x] != stamp:
                    mark[x] = stamp
                    if cnt[u] == cap[u]:  # move u's list to the end of the arena, twice as big
                        new_cap = 2 * cap[u] + 4
                        if used + new_cap > arena.shape[0]:
                            bigger = np.empty(2 * arena.shape[0] + new_cap, dtype=np.int64)
                            copy_into(bigger, arena, used)
                            arena = bigger
                        for q in range(cnt[u]):
                            arena[used + q] = arena[su + q]
                        start[u] = used
                        su = used
                        cap[u] = new_cap
                        used += new_cap
                    arena[su + cnt[u]] = x
                    cnt[u] += 1
            d = cnt[u]
            prv[u] = -1
            nxt[u] = head[d]
            if head[d] >= 0:
                prv[head[d]] = u
            head[d] = u
            if d < min_d:
                min_d = d
        n_nb += m
        nb_ptr[step + 1] = n_nb
    k = n_active
    for v in range(n):
        if skip[v]:
            perm[k] = v
            nb_ptr[k + 1] = n_nb
            k += 1
    iperm = np.empty(n, dtype=np.int64)
    for k in range(n):
        iperm[perm[k]] = k
    u_ptr = nb_ptr
    u_col = np.empty(n_nb, dtype=np.int64)
    for p in range(n_nb):
        u_col[p] = iperm[nb_all[p]]
    # L pattern = transpose of U pattern (rows visited ascending -> columns sorted)
    l_ptr = np.zeros(n + 1, dtype=np.int64)
    for p in range(n_nb):
        l_ptr[u_col[p] + 1] += 1
    for k in range(n):
        l_ptr[k + 1] += l_ptr[k]
    l_col = np.empty(n_nb, dtype=np.int64)
    fill = l_ptr[:n].copy()
    for k in range(n):
        for p in range(u_ptr[k], u_ptr[k + 1]):
            r = u_col[p]
            l_col[fill[r]] = k
            fill[r] += 1
    return perm, iperm, u_ptr, u_col, l_ptr, l_col


# --------------------------------------------------------------------------- 2x2 blocks
@njit(cache=True, error_model="numpy")
def block_lu_numeric(n, a_ptr, a_col, a_val, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                     u_val, l_val, d_inv, w):
    """Numeric block LU of ``A`` (block CSR, flat 2x2 blocks) into ``u_val``, ``l_val``, ``d_inv``.

    ``w`` is a work array of ``4 n`` floats. Returns False if a diagonal block is (nearly)
    singular or not finite.
    """
    return _block_lu(n, a_ptr, a_col, a_val, perm, iperm, u_ptr, u_col, l_ptr, l_col, u_val,
                     l_val, d_inv, w, 0.0) >= 0


@njit(cache=True, error_model="numpy")
def block_lu_numeric_static(n, a_ptr, a_col, a_val, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                            u_val, l_val, d_inv, w, delta):
    """:func:`block_lu_numeric` with static pivoting: a (nearly) singular diagonal block gets
    ``delta`` added to its diagonal entries (with their sign) instead of stopping.

    The factors are then those of a perturbed matrix; :func:`block_refine` recovers the
    solution of the true one by iterative refinement (or says that it cannot). Returns the
    number of perturbed blocks, or -1 when a block is still singular or not finite.
    """
    return _block_lu(n, a_ptr, a_col, a_val, perm, iperm, u_ptr, u_col, l_ptr, l_col, u_val,
                     l_val, d_inv, w, delta)


@njit(cache=True, error_model="numpy")
def _block_lu(n, a_ptr, a_col, a_val, perm, iperm, u_ptr, u_col, l_ptr, l_col, u_val, l_val,
              d_inv, w, delta):
    """Both numeric block LUs (``delta`` 0: no perturbation); see their docstrings."""
    n_perturbed = 0
    for i in range(n):
        # clear the work row on the filled pattern of row i, then scatter row perm[i] of A
        for p in range(l_ptr[i], l_ptr[i + 1]):
            j4 = 4 * l_col[p]
            w[j4] = 0.0
            w[j4 + 1] = 0.0
            w[j4 + 2] = 0.0
            w[j4 + 3] = 0.0
        for p in range(u_ptr[i], u_ptr[i + 1]):
            j4 = 4 * u_col[p]
            w[j4] = 0.0
            w[j4 + 1] = 0.0
            w[j4 + 2] = 0.0
            w[j4 + 3] = 0.0
        i4 = 4 * i
        w[i4] = 0.0
        w[i4 + 1] = 0.0
        w[i4 + 2] = 0.0
        w[i4 + 3] = 0.0
        row = perm[i]
        for p in range(a_ptr[row], a_ptr[row + 1]):
            j4 = 4 * iperm[a_col[p]]
            p4 = 4 * p
            w[j4] += a_val[p4]
            w[j4 + 1] += a_val[p4 + 1]
            w[j4 + 2] += a_val[p4 + 2]
            w[j4 + 3] += a_val[p4 + 3]
        for p in range(l_ptr[i], l_ptr[i + 1]):
            k = l_col[p]
            k4 = 4 * k
            # m = w[k] @ d_inv[k]
            w00 = w[k4]
            w01 = w[k4 + 1]
            w10 = w[k4 + 2]
            w11 = w[k4 + 3]
            d00 = d_inv[k4]
            d01 = d_inv[k4 + 1]
            d10 = d_inv[k4 + 2]
            d11 = d_inv[k4 + 3]
            m00 = w00 * d00 + w01 * d10
            m01 = w00 * d01 + w01 * d11
            m10 = w10 * d00 + w11 * d10
            m11 = w10 * d01 + w11 * d11
            p4 = 4 * p
            l_val[p4] = m00
            l_val[p4 + 1] = m01
            l_val[p4 + 2] = m10
            l_val[p4 + 3] = m11
            if m10 == 0.0 and m11 == 0.0:
                # the multiplier's second row is zero (a PV bus's "dV = 0" equation has no
                # off-diagonal term): that row of the update subtracts zeros, skipped. Exact:
                # at most the sign of a zero differs, which no nonzero result can see.
                for q in range(u_ptr[k], u_ptr[k + 1]):
                    j4 = 4 * u_col[q]
                    q4 = 4 * q
                    w[j4] -= m00 * u_val[q4] + m01 * u_val[q4 + 2]
                    w[j4 + 1] -= m00 * u_val[q4 + 1] + m01 * u_val[q4 + 3]
                continue
            for q in range(u_ptr[k], u_ptr[k + 1]):
                j4 = 4 * u_col[q]
                q4 = 4 * q
                u00 = u_val[q4]
                u01 = u_val[q4 + 1]
                u10 = u_val[q4 + 2]
                u11 = u_val[q4 + 3]
                w[j4] -= m00 * u00 + m01 * u10
                w[j4 + 1] -= m00 * u01 + m01 * u11
                w[j4 + 2] -= m10 * u00 + m11 * u10
                w[j4 + 3] -= m10 * u01 + m11 * u11
        a = w[i4]
        b = w[i4 + 1]
        c = w[i4 + 2]
        dd = w[i4 + 3]
        det = a * dd - b * c
        scale = abs(a) + abs(b) + abs(c) + abs(dd)
        if not (abs(det) > PIVOT_TOL * max(scale * scale, 1e-300)):
            if not (delta > 0.0 and scale == scale and scale < np.inf):
                return -1
            a += delta if a >= 0.0 else -delta
            dd += delta if dd >= 0.0 else -delta
            det = a * dd - b * c
            scale = abs(a) + abs(b) + abs(c) + abs(dd)
            if not (abs(det) > PIVOT_TOL * scale * scale):
                return -1
            n_perturbed += 1
        inv = 1.0 / det
        d_inv[i4] = dd * inv
        d_inv[i4 + 1] = -b * inv
        d_inv[i4 + 2] = -c * inv
        d_inv[i4 + 3] = a * inv
        for p in range(u_ptr[i], u_ptr[i + 1]):
            j4 = 4 * u_col[p]
            p4 = 4 * p
            u_val[p4] = w[j4]
            u_val[p4 + 1] = w[j4 + 1]
            u_val[p4 + 2] = w[j4 + 2]
            u_val[p4 + 3] = w[j4 + 3]
    return n_perturbed


@njit(cache=True, error_model="numpy")
def block_lu_solve(n, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, rhs, x, y):
    """Solve ``A x = rhs`` with the factors of :func:`block_lu_numeric`.

    ``rhs``, ``x`` and the work array ``y`` hold ``2 n`` floats (unknown ``2 i + r`` is
    component ``r`` of block ``i``). ``x`` may be ``rhs``.
    """
    for i in range(n):
        r2 = 2 * perm[i]
        y0 = rhs[r2]
        y1 = rhs[r2 + 1]
        for p in range(l_ptr[i], l_ptr[i + 1]):
            k2 = 2 * l_col[p]
            p4 = 4 * p
            yk0 = y[k2]
            yk1 = y[k2 + 1]
            y0 -= l_val[p4] * yk0 + l_val[p4 + 1] * yk1
            y1 -= l_val[p4 + 2] * yk0 + l_val[p4 + 3] * yk1
        y[2 * i] = y0
        y[2 * i + 1] = y1
    for i in range(n - 1, -1, -1):
        z0 = y[2 * i]
        z1 = y[2 * i + 1]
        for p in range(u_ptr[i], u_ptr[i + 1]):
            j2 = 2 * u_col[p]
            p4 = 4 * p
            yj0 = y[j2]
            yj1 = y[j2 + 1]
            z0 -= u_val[p4] * yj0 + u_val[p4 + 1] * yj1
            z1 -= u_val[p4 + 2] * yj0 + u_val[p4 + 3] * yj1
        i4 = 4 * i
        y[2 * i] = d_inv[i4] * z0 + d_inv[i4 + 1] * z1
        y[2 * i + 1] = d_inv[i4 + 2] * z0 + d_inv[i4 + 3] * z1
    for i in range(n):
        r2 = 2 * perm[i]
        x[r2] = y[2 * i]
        x[r2 + 1] = y[2 * i + 1]


@njit(cache=True, error_model="numpy")
def block_residual(n, a_ptr, a_col, a_val, x, rhs, r):
    """``r = rhs - A x`` (block CSR ``A``, ``2 n`` vectors); return ``max |r|`` (inf if NaN)."""
    worst = 0.0
    for i in range(n):
        r0 = rhs[2 * i]
        r1 = rhs[2 * i + 1]
        for p in range(a_ptr[i], a_ptr[i + 1]):
            j2 = 2 * a_col[p]
            p4 = 4 * p
            r0 -= a_val[p4] * x[j2] + a_val[p4 + 1] * x[j2 + 1]
            r1 -= a_val[p4 + 2] * x[j2] + a_val[p4 + 3] * x[j2 + 1]
        r[2 * i] = r0
        r[2 * i + 1] = r1
        for v in (abs(r0), abs(r1)):
            if not (v <= worst):
                worst = v if v == v else np.inf
    return worst


@njit(cache=True, error_model="numpy")
def block_refine(n, a_ptr, a_col, a_val, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv,
                 rhs, x, r, dx, y, max_steps, rel_tol):
    """Solve ``A x = rhs`` with factors of a perturbed ``A`` (:func:`block_lu_numeric_static`)
    by iterative refinement: ``x += LU^-1 (rhs - A x)`` until the backward error
    ``max|rhs - A x| / (||A|| max|x| + max|rhs|)`` is below ``rel_tol``.

    ``r``, ``dx``, ``y`` are work arrays of ``2 n`` floats. Returns False when it is not
    reached within ``max_steps`` corrections (``A`` too close to singular for the
    perturbation) or a value is not finite.
    """
    a_norm = 0.0  # max row sum of |A|
    for i in range(n):
        s0 = 0.0
        s1 = 0.0
        for p in range(a_ptr[i], a_ptr[i + 1]):
            p4 = 4 * p
            s0 += abs(a_val[p4]) + abs(a_val[p4 + 1])
            s1 += abs(a_val[p4 + 2]) + abs(a_val[p4 + 3])
        a_norm = max(a_norm, s0, s1)
    b_norm = 0.0
    for k in range(2 * n):
        b_norm = max(b_norm, abs(rhs[k]))
    block_lu_solve(n, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, rhs, x, y)
    for _ in range(max_steps + 1):
        x_norm = 0.0
        for k in range(2 * n):
            v = abs(x[k])
            if not (v < np.inf):
                return False
            x_norm = max(x_norm, v)
        res = block_residual(n, a_ptr, a_col, a_val, x, rhs, r)
        if res <= rel_tol * (a_norm * x_norm + b_norm):
            return True
        if not (res < np.inf):
            return False
        block_lu_solve(n, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, r, dx, y)
        for k in range(2 * n):
            x[k] += dx[k]
    return False


@njit(cache=True, error_model="numpy")
def dense_solve(n, a_ptr, a_col, a_val, rhs, x):
    """Fallback: dense Gaussian elimination with partial pivoting on the scalar system.

    Same storage as :func:`block_lu_numeric` / :func:`block_lu_solve` (flat 2x2 blocks,
    ``2 n`` vectors). Returns False when the matrix is numerically singular.
    """
    m = 2 * n
    a = np.zeros((m, m))
    b = np.empty(m)
    for i in range(n):
        b[2 * i] = rhs[2 * i]
        b[2 * i + 1] = rhs[2 * i + 1]
        for p in range(a_ptr[i], a_ptr[i + 1]):
            j = a_col[p]
            for r in range(2):
                for c in range(2):
                    a[2 * i + r, 2 * j + c] += a_val[4 * p + 2 * r + c]
    if not _dense_lu_solve(m, a, b):
        return False
    for k in range(m):
        x[k] = b[k]
    return True


# --------------------------------------------------------------------------- scalar
@njit(cache=True, error_model="numpy")
def scalar_lu_numeric(n, a_ptr, a_col, a_val, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                      u_val, l_val, d_inv, w):
    """Scalar counterpart of :func:`block_lu_numeric` (``w``: ``n`` floats)."""
    for i in range(n):
        for p in range(l_ptr[i], l_ptr[i + 1]):
            w[l_col[p]] = 0.0
        for p in range(u_ptr[i], u_ptr[i + 1]):
            w[u_col[p]] = 0.0
        w[i] = 0.0
        row = perm[i]
        for p in range(a_ptr[row], a_ptr[row + 1]):
            w[iperm[a_col[p]]] += a_val[p]
        for p in range(l_ptr[i], l_ptr[i + 1]):
            k = l_col[p]
            m = w[k] * d_inv[k]
            l_val[p] = m
            for q in range(u_ptr[k], u_ptr[k + 1]):
                w[u_col[q]] -= m * u_val[q]
        piv = w[i]
        scale = 0.0
        for p in range(a_ptr[row], a_ptr[row + 1]):
            scale = max(scale, abs(a_val[p]))
        if not (abs(piv) > PIVOT_TOL * max(scale, 1e-300)):
            return False
        d_inv[i] = 1.0 / piv
        for p in range(u_ptr[i], u_ptr[i + 1]):
            u_val[p] = w[u_col[p]]
    return True


@njit(cache=True, error_model="numpy")
def scalar_lu_solve(n, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, rhs, x, y):
    """Scalar counterpart of :func:`block_lu_solve` (``rhs``, ``x``, ``y``: ``n`` floats)."""
    for i in range(n):
        s = rhs[perm[i]]
        for p in range(l_ptr[i], l_ptr[i + 1]):
            s -= l_val[p] * y[l_col[p]]
        y[i] = s
    for i in range(n - 1, -1, -1):
        s = y[i]
        for p in range(u_ptr[i], u_ptr[i + 1]):
            s -= u_val[p] * y[u_col[p]]
        y[i] = d_inv[i] * s
    for i in range(n):
        x[perm[i]] = y[i]


@njit(cache=True, error_model="numpy")
def scalar_dense_solve(n, a_ptr, a_col, a_val, rhs, x):
    """Dense fallback for the scalar system (partial pivoting); False when singular."""
    a = np.zeros((n, n))
    b = np.empty(n)
    for i in range(n):
        b[i] = rhs[i]
        for p in range(a_ptr[i], a_ptr[i + 1]):
            a[i, a_col[p]] += a_val[p]
    if not _dense_lu_solve(n, a, b):
        return False
    for k in range(n):
        x[k] = b[k]
    return True


@njit(cache=True, error_model="numpy")
def _dense_lu_solve(m, a, b):
    """In-place Gaussian elimination with partial pivoting; solution in ``b``."""
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
    for k in range(m):
        if not np.isfinite(b[k]):
            return False
    return True
