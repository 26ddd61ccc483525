"""Topology kernels: element -> bus map, energised island of the slack, admittance matrix.

Buses are the ``2 * n_sub`` busbars (see :mod:`gym_powergrid.grid.arrays`). Only busbars
connected to the slack's busbar take part in the power flow; they get *compact* indices
``0..n_c-1`` (``bus_cidx``; -1 for the others), the slack's busbar being compact 0.

The static branch data the kernels read is one ``(n_line, N_LINE_COLS)`` float array
(``line_f``, columns ``LF_*``) and one ``(n_sub, N_SUB_COLS)`` float array (``sub_f``,
columns ``SF_*``); :func:`gym_powergrid.core.pf_kernel.pack_grid` builds them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# columns of the static branch array ``line_f`` (per-unit on the system base)
LF_YFF_G, LF_YFF_B, LF_YFT_G, LF_YFT_B, LF_YTF_G, LF_YTF_B, LF_YTT_G, LF_YTT_B = range(8)
LF_B_DC = 8  # DC susceptance 1 / (x * tap)
LF_SHIFT = 9  # phase shift (rad)
LF_IBASE_OR = 10  # base current (A) at the origin end: sn_mva / (sqrt(3) * vn_kv) * 1e3
LF_IBASE_EX = 11
LF_X = 12  # series reactance (p.u. on the system base): B' of the fast-decoupled method
N_LINE_COLS = 13
# columns of the static substation array ``sub_f`` (shunt at 1 p.u., busbar 0)
SF_SHUNT_G, SF_SHUNT_B = 0, 1
N_SUB_COLS = 2


@njit(cache=True, error_model="numpy")
def element_buses(n_sub, sub_idx, node, out):
    """Bus of each element, ``sub + node * n_sub``, written into ``out``."""
    for i in range(sub_idx.shape[0]):
        out[i] = sub_idx[i] + n_sub * node[i]


@njit(cache=True, error_model="numpy")
def effective_slack(grid_i, topo, inj):
    """The production that balances the grid (pypownet's rule, as PYPOWER applies it).

    The grid's slack (``grid_i[4]``) while it is in service (``prod_v > 0``) and an
    in-service branch ends on its busbar; otherwise the first voltage-controlled production
    (kind 1) in service whose busbar has one. When there is none, the grid's slack (its
    busbar is then isolated: no network to solve).
    """
    n_sub, n_prod, n_load, n_line = grid_i[0], grid_i[1], grid_i[2], grid_i[3]
    slack = grid_i[4]
    o = 8  # grid_i header length (pf_kernel.GI_HDR)
    prod_sub = grid_i[o:o + n_prod]
    prod_kind = grid_i[o + n_prod:o + 2 * n_prod]
    line_sub_or = grid_i[o + 2 * n_prod + n_load:o + 2 * n_prod + n_load + n_line]
    line_sub_ex = grid_i[o + 2 * n_prod + n_load + n_line:o + 2 * n_prod + n_load + 2 * n_line]
    t_or = n_prod + n_load
    t_ex = t_or + n_line
    t_st = t_ex + n_line
    prod_v = inj[2 * n_prod:3 * n_prod]
    touched = np.zeros(2 * n_sub, dtype=np.bool_)
    for k in range(n_line):
        if topo[t_st + k]:
            touched[line_sub_or[k] + n_sub * topo[t_or + k]] = True
            touched[line_sub_ex[k] + n_sub * topo[t_ex + k]] = True
    if prod_v[slack] > 0.0 and touched[prod_sub[slack] + n_sub * topo[slack]]:
        return slack
    for k in range(n_prod):
        if (k != slack and prod_kind[k] == 1 and prod_v[k] > 0.0
                and touched[prod_sub[k] + n_sub * topo[k]]):
            return k
    return slack


@njit(cache=True, error_model="numpy")
def _find(parent, a):
    while parent[a] != a:
        parent[a] = parent[parent[a]]
        a = parent[a]
    return a


@njit(cache=True, error_model="numpy")
def energised_buses(n_bus, slack_bus, line_bus_or, line_bus_ex, line_status, bus_cidx, parent,
                    cbus):
    """Busbars connected to the slack's busbar through in-service branches (union-find).

    Fills ``bus_cidx`` (compact index, -1 when not energised; the slack's busbar is 0, the
    others follow in bus order) and ``cbus`` (compact -> bus); ``parent`` is a work array of
    ``n_bus`` ints. Returns the number of energised buses.
    """
    for b in range(n_bus):
        parent[b] = b
    for k in range(line_bus_or.shape[0]):
        if line_status[k]:
            ra = _find(parent, line_bus_or[k])
            rb = _find(parent, line_bus_ex[k])
            if ra != rb:
                parent[ra] = rb
    root = _find(parent, slack_bus)
    bus_cidx[slack_bus] = 0
    cbus[0] = slack_bus
    n_c = 1
    for b in range(n_bus):
        if b == slack_bus:
            continue
        if _find(parent, b) == root:
            bus_cidx[b] = n_c
            cbus[n_c] = b
            n_c += 1
        else:
            bus_cidx[b] = -1
    return n_c


@njit(cache=True, error_model="numpy")
def build_ybus(n_c, bus_cidx, line_bus_or, line_bus_ex, line_status, line_f, sub_f,
               y_ptr, y_col, y_g, y_b, b_dc, y_diag):
    """Compact admittance matrix (and DC susceptance matrix) in CSR form, sorted unique columns.

    Writes ``y_ptr`` (n_c + 1), ``y_col``/``y_g``/``y_b``/``b_dc`` (capacity
    ``n_c + 2 * n_line``) and ``y_diag`` (position of each diagonal entry); ``Y = y_g + j y_b``
    and ``b_dc`` is the DC matrix ``B`` (``1 / (x tap)`` per branch) on the same pattern.
    Parallel branches are summed. Returns the number of stored entries.
    """
    n_line = line_bus_or.shape[0]
    for i in range(n_c + 1):
        y_ptr[i] = 0
    for k in range(n_line):
        if line_status[k]:
            f = bus_cidx[line_bus_or[k]]
            if f >= 0:
                y_ptr[f + 1] += 1
                y_ptr[bus_cidx[line_bus_ex[k]] + 1] += 1
    for i in range(n_c):  # + 1 for the diagonal, then cumulative sum
        y_ptr[i + 1] += y_ptr[i] + 1
    # y_diag temporarily holds the fill position of each row; the diagonal goes first
    for i in range(n_c):
        p = y_ptr[i]
        y_col[p] = i
        y_g[p] = 0.0
        y_b[p] = 0.0
        b_dc[p] = 0.0
        y_diag[i] = p + 1
    n_sub = sub_f.shape[0]
    for s in range(n_sub):
        c = bus_cidx[s]
        if c >= 0:
            y_g[y_ptr[c]] += sub_f[s, SF_SHUNT_G]
            y_b[y_ptr[c]] += sub_f[s, SF_SHUNT_B]
    for k in range(n_line):
        if line_status[k]:
            f = bus_cidx[line_bus_or[k]]
            if f >= 0:
                t = bus_cidx[line_bus_ex[k]]
                bk = line_f[k, LF_B_DC]
                pf = y_ptr[f]
                pt = y_ptr[t]
                y_g[pf] += line_f[k, LF_YFF_G]
                y_b[pf] += line_f[k, LF_YFF_B]
                b_dc[pf] += bk
                y_g[pt] += line_f[k, LF_YTT_G]
                y_b[pt] += line_f[k, LF_YTT_B]
                b_dc[pt] += bk
                q = y_diag[f]
                y_col[q] = t
                y_g[q] = line_f[k, LF_YFT_G]
                y_b[q] = line_f[k, LF_YFT_B]
                b_dc[q] = -bk
                y_diag[f] = q + 1
                q = y_diag[t]
                y_col[q] = f
                y_g[q] = line_f[k, LF_YTF_G]
                y_b[q] = line_f[k, LF_YTF_B]
                b_dc[q] = -bk
                y_diag[t] = q + 1
    # stable insertion sort of each row by column, then merge duplicates (in place: w <= p)
    w = 0
    for i in range(n_c):
        s = y_ptr[i]
        e = y_ptr[i + 1]
        for p in range(s + 1, e):
            c = y_col[p]
            g = y_g[p]
            b = y_b[p]
            bd = b_dc[p]
            q = p - 1
            while q >= s and y_col[q] > c:
                y_col[q + 1] = y_col[q]
                y_g[q + 1] = y_g[q]
                y_b[q + 1] = y_b[q]
                b_dc[q + 1] = b_dc[q]
                q -= 1
            y_col[q + 1] = c
            y_g[q + 1] = g
            y_b[q + 1] = b
            b_dc[q + 1] = bd
        y_ptr[i] = w
        last = -1
        for p in range(s, e):
            c = y_col[p]
            if c == last:
                y_g[w - 1] += y_g[p]
                y_b[w - 1] += y_b[p]
                b_dc[w - 1] += b_dc[p]
            else:
                y_col[w] = c
                y_g[w] = y_g[p]
                y_b[w] = y_b[p]
                b_dc[w] = b_dc[p]
                if c == i:
                    y_diag[i] = w
                w += 1
                last = c
    y_ptr[n_c] = w
    return w
