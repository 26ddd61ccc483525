"""Topology kernels: element -> bus map, energised island of the slack, admittance matrix.

Buses are the ``2 * n_sub`` busbars (see :mod:`gym_powergrid.grid.arrays`). Only busbars
connected to the slack's busbar take part in the power flow; they get *compact* indices
``0..n_c-1`` (``bus_cidx``; -1 for the others).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def element_buses(n_sub, sub_idx, node):
    """Bus of each element: ``sub + node * n_sub``."""
    out = np.empty(sub_idx.shape[0], dtype=np.int64)
    for i in range(sub_idx.shape[0]):
        out[i] = sub_idx[i] + n_sub * node[i]
    return out


@njit(cache=True)
def energised_buses(n_bus, slack_bus, line_bus_or, line_bus_ex, line_status, bus_cidx):
    """Breadth-first search from the slack's bus over in-service branches.

    Fills ``bus_cidx`` (compact index in BFS order, -1 when not energised) and returns the
    number of energised buses.
    """
    n_line = line_bus_or.shape[0]
    deg = np.zeros(n_bus + 1, dtype=np.int64)
    for k in range(n_line):
        if line_status[k]:
            deg[line_bus_or[k] + 1] += 1
            deg[line_bus_ex[k] + 1] += 1
    ptr = np.cumsum(deg)
    nbr = np.empty(ptr[n_bus], dtype=np.int64)
    fill = ptr[:n_bus].copy()
    for k in range(n_line):
        if line_status[k]:
            a = line_bus_or[k]
            b = line_bus_ex[k]
            nbr[fill[a]] = b
            fill[a] += 1
            nbr[fill[b]] = a
            fill[b] += 1
    for i in range(n_bus):
        bus_cidx[i] = -1
    queue = np.empty(n_bus, dtype=np.int64)
    queue[0] = slack_bus
    bus_cidx[slack_bus] = 0
    head = 0
    tail = 1
    while head < tail:
        v = queue[head]
        head += 1
        for p in range(ptr[v], ptr[v + 1]):
            u = nbr[p]
            if bus_cidx[u] < 0:
                bus_cidx[u] = tail
                queue[tail] = u
                tail += 1
    return tail


@njit(cache=True)
def build_ybus(n_c, n_sub, bus_cidx, line_bus_or, line_bus_ex, line_status, y_ff, y_ft, y_tf,
               y_tt, sub_shunt_y):
    """Compact admittance matrix in CSR form with sorted unique columns.

    Returns ``(ptr, col, val, diag_pos)``.
    """
    n_line = line_bus_or.shape[0]
    cnt = np.ones(n_c + 1, dtype=np.int64)
    cnt[0] = 0
    for k in range(n_line):
        if line_status[k]:
            f = bus_cidx[line_bus_or[k]]
            if f >= 0:
                t = bus_cidx[line_bus_ex[k]]
                cnt[f + 1] += 1
                cnt[t + 1] += 1
    ptr = np.cumsum(cnt)
    col = np.empty(ptr[n_c], dtype=np.int64)
    val = np.zeros(ptr[n_c], dtype=np.complex128)
    fill = ptr[:n_c].copy()
    for i in range(n_c):
        col[fill[i]] = i
        fill[i] += 1
    for s in range(n_sub):
        c = bus_cidx[s]
        if c >= 0:
            val[ptr[c]] += sub_shunt_y[s]
    for k in range(n_line):
        if line_status[k]:
            f = bus_cidx[line_bus_or[k]]
            if f >= 0:
                t = bus_cidx[line_bus_ex[k]]
                val[ptr[f]] += y_ff[k]
                val[ptr[t]] += y_tt[k]
                col[fill[f]] = t
                val[fill[f]] = y_ft[k]
                fill[f] += 1
                col[fill[t]] = f
                val[fill[t]] = y_tf[k]
                fill[t] += 1
    # sort each row by column and merge duplicates (parallel branches)
    out_ptr = np.zeros(n_c + 1, dtype=np.int64)
    out_col = np.empty(ptr[n_c], dtype=np.int64)
    out_val = np.empty(ptr[n_c], dtype=np.complex128)
    diag = np.empty(n_c, dtype=np.int64)
    w = 0
    for i in range(n_c):
        s = ptr[i]
        e = ptr[i + 1]
        order = np.argsort(col[s:e])
        last = -1
        for q in range(e - s):
            p = s + order[q]
            c = col[p]
            if c == last:
                out_val[w - 1] += val[p]
            else:
                out_col[w] = c
                out_val[w] = val[p]
                if c == i:
                    diag[i] = w
                w += 1
                last = c
        out_ptr[i + 1] = w
    return out_ptr, out_col[:w].copy(), out_val[:w].copy(), diag
