"""Unit tests of the numba kernels under the power flow: sparse LU, admittance matrix, workspace.

The end-to-end agreement with pandapower lives in ``test_pf_vs_pandapower.py``; here each piece
is checked against a plain numpy reference, and the topology cache of :func:`run_powerflow` is
checked to give exactly what a fresh solve gives.
"""

from __future__ import annotations

import numpy as np
import pytest
from strategies import load_case, random_topologies

from gym_powergrid.core.network import (
    LF_B_DC,
    LF_YFF_B,
    LF_YFF_G,
    LF_YFT_B,
    LF_YFT_G,
    LF_YTF_B,
    LF_YTF_G,
    LF_YTT_B,
    LF_YTT_G,
    N_LINE_COLS,
    SF_SHUNT_B,
    SF_SHUNT_G,
    build_ybus,
    energised_buses,
)
from gym_powergrid.core.pf_kernel import (
    BAD_INPUT,
    WI_CAP_U,
    WI_N_ANALYSES,
    WI_N_SYMBOLIC,
    WI_NEED_U,
    new_workspace,
    pack_grid,
    pack_injections,
    pack_topology,
    run_powerflow,
    sizes,
)
from gym_powergrid.core.results import Injections
from gym_powergrid.core.sparse_lu import (
    block_lu_numeric,
    block_lu_numeric_static,
    block_lu_solve,
    block_refine,
    dense_solve,
    scalar_dense_solve,
    scalar_lu_numeric,
    scalar_lu_solve,
    symbolic_min_degree,
)
from gym_powergrid.core.status import PFStatus
from gym_powergrid.grid import Topology

RESULT_FIELDS = (
    "bus_vm_pu", "bus_va_rad", "bus_energized_mask", "prod_p_mw", "prod_q_mvar", "prod_v_pu",
    "prod_cut_mask", "load_p_mw", "load_q_mvar", "load_v_pu", "load_cut_mask", "line_p_or_mw",
    "line_q_or_mvar", "line_a_or", "line_v_or_pu", "line_p_ex_mw", "line_q_ex_mvar",
    "line_a_ex", "line_v_ex_pu",
)


# --------------------------------------------------------------------------- helpers
def random_pattern(rng: np.random.Generator, n: int, n_edges: int,
                   duplicates: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Structurally symmetric CSR pattern with the diagonal, like an admittance matrix."""
    rows: list[list[int]] = [[i] for i in range(n)]
    for _ in range(n_edges):
        i, j = (int(x) for x in rng.integers(0, n, size=2))
        if i != j:
            rows[i].append(j)
            rows[j].append(i)
            if duplicates and rng.random() < 0.3:  # a parallel branch
                rows[i].append(j)
                rows[j].append(i)
    ptr = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        ptr[i + 1] = ptr[i] + len(rows[i])
    col = np.array([j for r in rows for j in rng.permutation(r)], dtype=np.int64)
    return ptr, col


def block_dense(n: int, ptr: np.ndarray, col: np.ndarray, val: np.ndarray) -> np.ndarray:
    """Dense ``(2n, 2n)`` matrix of flat 2x2 block values (duplicates summed)."""
    a = np.zeros((2 * n, 2 * n))
    for i in range(n):
        for p in range(ptr[i], ptr[i + 1]):
            j = col[p]
            a[2 * i:2 * i + 2, 2 * j:2 * j + 2] += val[4 * p:4 * p + 4].reshape(2, 2)
    return a


def scalar_dense(n: int, ptr: np.ndarray, col: np.ndarray, val: np.ndarray) -> np.ndarray:
    a = np.zeros((n, n))
    for i in range(n):
        for p in range(ptr[i], ptr[i + 1]):
            a[i, col[p]] += val[p]
    return a


def block_sparse_solve(n, ptr, col, val, rhs, skip=None):
    """Symbolic + numeric + solve; returns ``(ok, x, n_fill)``."""
    skip = np.zeros(n, dtype=np.bool_) if skip is None else skip
    perm, iperm, u_ptr, u_col, l_ptr, l_col = symbolic_min_degree(n, ptr, col, skip)
    nnz_u = u_col.shape[0]
    u_val = np.zeros(4 * nnz_u)
    l_val = np.zeros(4 * nnz_u)
    d_inv = np.zeros(4 * n)
    w = np.zeros(4 * n)
    ok = block_lu_numeric(n, ptr, col, val, perm, iperm, u_ptr, u_col, l_ptr, l_col, u_val,
                          l_val, d_inv, w)
    x = np.zeros(2 * n)
    if ok:
        block_lu_solve(n, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, rhs, x,
                       np.zeros(2 * n))
    return ok, x, nnz_u


def diagonally_dominant_blocks(rng, n, ptr, col) -> np.ndarray:
    val = rng.normal(size=4 * col.shape[0])
    for i in range(n):
        for p in range(ptr[i], ptr[i + 1]):
            if col[p] == i:
                val[4 * p] += 4.0 * (ptr[i + 1] - ptr[i]) + 1.0
                val[4 * p + 3] += 4.0 * (ptr[i + 1] - ptr[i]) + 1.0
    return val


# --------------------------------------------------------------------------- sparse LU
@pytest.mark.parametrize("n", [1, 2, 5, 14, 40, 120])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_lu_matches_numpy(n: int, seed: int) -> None:
    rng = np.random.default_rng(1000 * n + seed)
    ptr, col = random_pattern(rng, n, n_edges=int(1.6 * n), duplicates=seed == 2)
    val = diagonally_dominant_blocks(rng, n, ptr, col)
    rhs = rng.normal(size=2 * n)
    ok, x, _ = block_sparse_solve(n, ptr, col, val, rhs)
    assert ok
    expected = np.linalg.solve(block_dense(n, ptr, col, val), rhs)
    np.testing.assert_allclose(x, expected, rtol=1e-10, atol=1e-12)


def test_block_lu_general_values_match_numpy() -> None:
    """No diagonal dominance: values of both signs, as in a Jacobian."""
    rng = np.random.default_rng(7)
    for n in (3, 10, 30):
        ptr, col = random_pattern(rng, n, n_edges=2 * n)
        val = rng.normal(size=4 * col.shape[0])
        a = block_dense(n, ptr, col, val)
        rhs = rng.normal(size=2 * n)
        ok, x, _ = block_sparse_solve(n, ptr, col, val, rhs)
        if ok:  # without pivoting a tiny pivot may refuse; the dense fallback then answers
            np.testing.assert_allclose(a @ x, rhs, atol=1e-8 * np.abs(a).max() * n)


def test_block_lu_with_uncoupled_slack_row() -> None:
    """The power flow's slack: identity block, no coupling; it is skipped by the ordering."""
    rng = np.random.default_rng(3)
    n = 25
    ptr, col = random_pattern(rng, n, n_edges=40)
    val = diagonally_dominant_blocks(rng, n, ptr, col)
    for i in range(n):
        for p in range(ptr[i], ptr[i + 1]):
            j = col[p]
            if i == 0 or j == 0:
                val[4 * p:4 * p + 4] = (1.0, 0.0, 0.0, 1.0) if i == j else 0.0
    skip = np.zeros(n, dtype=np.bool_)
    skip[0] = True
    rhs = rng.normal(size=2 * n)
    ok, x, _ = block_sparse_solve(n, ptr, col, val, rhs, skip)
    assert ok
    np.testing.assert_allclose(x, np.linalg.solve(block_dense(n, ptr, col, val), rhs),
                               rtol=1e-10, atol=1e-12)


def test_block_lu_with_pv_rows_matches_numpy() -> None:
    """PV buses' rows: ``dV = 0`` (second row zero off the diagonal, ``(0, 1)`` on it), whose
    multipliers have a zero second row (the numeric LU skips that half of the update)."""
    rng = np.random.default_rng(11)
    n = 40
    ptr, col = random_pattern(rng, n, n_edges=70)
    val = diagonally_dominant_blocks(rng, n, ptr, col)
    pv = rng.random(n) < 0.4
    for i in np.flatnonzero(pv):
        for p in range(ptr[i], ptr[i + 1]):
            val[4 * p + 2] = 0.0
            val[4 * p + 3] = 1.0 if col[p] == i else 0.0
    rhs = rng.normal(size=2 * n)
    rhs[1::2][pv] = 0.0
    ok, x, _ = block_sparse_solve(n, ptr, col, val, rhs)
    assert ok
    np.testing.assert_allclose(x, np.linalg.solve(block_dense(n, ptr, col, val), rhs),
                               rtol=1e-10, atol=1e-12)
    assert np.all(x[1::2][pv] == 0.0)


def test_min_degree_keeps_a_tree_free_of_fill() -> None:
    """A radial grid (tree) needs no fill with a minimum-degree order."""
    n = 50
    rng = np.random.default_rng(5)
    parent = [int(rng.integers(0, i)) for i in range(1, n)]
    rows: list[list[int]] = [[i] for i in range(n)]
    for child, par in enumerate(parent, start=1):
        rows[child].append(par)
        rows[par].append(child)
    ptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    col = np.array([j for r in rows for j in r], dtype=np.int64)
    perm, iperm, u_ptr, u_col, l_ptr, l_col = symbolic_min_degree(n, ptr, col,
                                                                   np.zeros(n, np.bool_))
    assert u_col.shape[0] == n - 1  # exactly the tree's edges, no fill
    assert sorted(perm.tolist()) == list(range(n))
    np.testing.assert_array_equal(iperm[perm], np.arange(n))
    for k in range(n):  # L rows ascending, U entries later in the order
        assert np.all(np.diff(l_col[l_ptr[k]:l_ptr[k + 1]]) > 0)
        assert np.all(u_col[u_ptr[k]:u_ptr[k + 1]] > k)


def test_tiny_pivot_refuses_and_dense_fallback_solves() -> None:
    """Zero diagonal blocks (non-singular matrix): the block LU says no, dense_solve answers."""
    n = 2
    ptr = np.array([0, 2, 4], dtype=np.int64)
    col = np.array([0, 1, 0, 1], dtype=np.int64)
    val = np.zeros(16)
    val[4:8] = (1.0, 2.0, 0.0, 1.0)  # block (0, 1)
    val[8:12] = (3.0, 0.0, 1.0, 1.0)  # block (1, 0)
    rhs = np.array([1.0, -2.0, 0.5, 4.0])
    ok, _, _ = block_sparse_solve(n, ptr, col, val, rhs)
    assert not ok
    x = np.zeros(2 * n)
    assert dense_solve(n, ptr, col, val, rhs, x)
    np.testing.assert_allclose(x, np.linalg.solve(block_dense(n, ptr, col, val), rhs),
                               rtol=1e-12)
    singular = val.copy()
    singular[8:12] = 0.0
    assert not dense_solve(n, ptr, col, singular, rhs, x)


def static_pivot_solve(n, ptr, col, val, rhs):
    """Static pivoting + refinement (the large-system path); ``(n_perturbed, ok, x)``."""
    perm, iperm, u_ptr, u_col, l_ptr, l_col = symbolic_min_degree(n, ptr, col,
                                                                   np.zeros(n, np.bool_))
    k = u_col.shape[0]
    u_val, l_val, d_inv, w = np.zeros(4 * k), np.zeros(4 * k), np.zeros(4 * n), np.zeros(4 * n)
    n_pert = block_lu_numeric_static(n, ptr, col, val, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                                     u_val, l_val, d_inv, w, 1e-8 * np.abs(val).max())
    x = np.zeros(2 * n)
    ok = n_pert >= 0 and block_refine(n, ptr, col, val, perm, u_ptr, u_col, l_ptr, l_col, u_val,
                                      l_val, d_inv, rhs, x, np.zeros(2 * n), np.zeros(2 * n),
                                      np.zeros(2 * n), 20, 1e-10)
    return n_pert, ok, x


@pytest.mark.parametrize("n", [2, 40])
def test_static_pivoting_refines_to_the_dense_solution(n: int) -> None:
    """Where the block LU refuses a tiny pivot (zeroed diagonal blocks of a non-singular
    matrix), perturbed pivots + iterative refinement give the dense LU's solution; a singular
    matrix is refused."""
    rng = np.random.default_rng(n)
    if n == 2:
        ptr = np.array([0, 2, 4], dtype=np.int64)
        col = np.array([0, 1, 0, 1], dtype=np.int64)
        val = np.zeros(16)
        val[4:8] = (1.0, 2.0, 0.0, 1.0)
        val[8:12] = (3.0, 0.0, 1.0, 1.0)
    else:
        ptr, col = random_pattern(rng, n, n_edges=2 * n)
        val = diagonally_dominant_blocks(rng, n, ptr, col)
        diag = [p for i in range(n) for p in range(ptr[i], ptr[i + 1]) if col[p] == i]
        for p in diag[::7]:
            val[4 * p:4 * p + 4] = 0.0
    dense = block_dense(n, ptr, col, val)
    assert np.linalg.cond(dense) < 1e8
    rhs = rng.normal(size=2 * n)
    ok, _, _ = block_sparse_solve(n, ptr, col, val, rhs)
    assert not ok
    n_pert, ok, x = static_pivot_solve(n, ptr, col, val, rhs)
    assert n_pert >= 1 and ok
    np.testing.assert_allclose(x, np.linalg.solve(dense, rhs), rtol=1e-8, atol=1e-10)
    singular = val.copy()
    rows = [p for p in range(ptr[n - 1], ptr[n])]
    for p in rows:  # last block row zero: singular
        singular[4 * p:4 * p + 4] = 0.0
    _, ok, _ = static_pivot_solve(n, ptr, col, singular, rhs)
    assert not ok


@pytest.mark.parametrize("n", [1, 6, 60])
def test_scalar_lu_matches_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    ptr, col = random_pattern(rng, n, n_edges=2 * n, duplicates=True)
    val = rng.normal(size=col.shape[0])
    for i in range(n):
        for p in range(ptr[i], ptr[i + 1]):
            if col[p] == i:
                val[p] += 3.0 * (ptr[i + 1] - ptr[i]) + 1.0
    rhs = rng.normal(size=n)
    perm, iperm, u_ptr, u_col, l_ptr, l_col = symbolic_min_degree(n, ptr, col,
                                                                   np.zeros(n, np.bool_))
    nnz_u = u_col.shape[0]
    u_val, l_val, d_inv, w = np.zeros(nnz_u), np.zeros(nnz_u), np.zeros(n), np.zeros(n)
    assert scalar_lu_numeric(n, ptr, col, val, perm, iperm, u_ptr, u_col, l_ptr, l_col, u_val,
                             l_val, d_inv, w)
    x = np.zeros(n)
    scalar_lu_solve(n, perm, u_ptr, u_col, l_ptr, l_col, u_val, l_val, d_inv, rhs, x,
                    np.zeros(n))
    expected = np.linalg.solve(scalar_dense(n, ptr, col, val), rhs)
    np.testing.assert_allclose(x, expected, rtol=1e-10, atol=1e-12)
    x_dense = np.zeros(n)
    assert scalar_dense_solve(n, ptr, col, val, rhs, x_dense)
    np.testing.assert_allclose(x_dense, expected, rtol=1e-10, atol=1e-12)


def test_scalar_tiny_pivot_refuses() -> None:
    ptr = np.array([0, 2, 4], dtype=np.int64)
    col = np.array([0, 1, 0, 1], dtype=np.int64)
    val = np.array([0.0, 1.0, 1.0, 0.0])  # [[0, 1], [1, 0]]
    perm, iperm, u_ptr, u_col, l_ptr, l_col = symbolic_min_degree(2, ptr, col,
                                                                   np.zeros(2, np.bool_))
    k = u_col.shape[0]
    assert not scalar_lu_numeric(2, ptr, col, val, perm, iperm, u_ptr, u_col, l_ptr, l_col,
                                 np.zeros(k), np.zeros(k), np.zeros(2), np.zeros(2))
    x = np.zeros(2)
    assert scalar_dense_solve(2, ptr, col, val, np.array([2.0, 3.0]), x)
    np.testing.assert_allclose(x, [3.0, 2.0])


# --------------------------------------------------------------------------- network kernels
def test_build_ybus_matches_dense_stamps() -> None:
    """Compact Ybus and DC B matrix equal the sum of branch stamps, parallel branches summed."""
    _, grid = load_case("case30")
    grid_i, grid_f = pack_grid(grid)
    sz = sizes(grid_i)
    topo = random_topologies(grid, 1, seed=4)[0]
    n_bus = sz.n_bus
    lbus_or = grid.line_sub_or_idx + sz.n_sub * topo.line_or_node.astype(np.int64)
    lbus_ex = grid.line_sub_ex_idx + sz.n_sub * topo.line_ex_node.astype(np.int64)
    status = topo.line_status.astype(np.int8)
    bus_cidx = np.empty(n_bus, np.int64)
    cbus = np.empty(n_bus, np.int64)
    slack = grid.slack_prod_idx
    slack_bus = int(grid.prod_sub_idx[slack] + sz.n_sub * topo.prod_node[slack])
    n_c = energised_buses(n_bus, slack_bus, lbus_or, lbus_ex, status, bus_cidx,
                          np.empty(n_bus, np.int64), cbus)
    assert bus_cidx[slack_bus] == 0
    line_f = grid_f[4 + 2 * sz.n_sub:].reshape(sz.n_line, N_LINE_COLS)
    sub_f = grid_f[4:4 + 2 * sz.n_sub].reshape(sz.n_sub, 2)
    cap = n_bus + 2 * sz.n_line
    y_ptr, y_col = np.zeros(n_bus + 1, np.int64), np.zeros(cap, np.int64)
    y_g, y_b, b_dc = np.zeros(cap), np.zeros(cap), np.zeros(cap)
    y_diag = np.zeros(n_bus, np.int64)
    nnz = build_ybus(n_c, bus_cidx, lbus_or, lbus_ex, status, line_f, sub_f, y_ptr, y_col, y_g,
                     y_b, b_dc, y_diag)
    assert nnz == y_ptr[n_c]
    y_ref = np.zeros((n_c, n_c), complex)
    b_ref = np.zeros((n_c, n_c))
    for s in range(sz.n_sub):
        if bus_cidx[s] >= 0:
            y_ref[bus_cidx[s], bus_cidx[s]] += complex(sub_f[s, SF_SHUNT_G], sub_f[s, SF_SHUNT_B])
    for k in range(sz.n_line):
        f, t = bus_cidx[lbus_or[k]], bus_cidx[lbus_ex[k]]
        if not status[k] or f < 0:
            continue
        y = line_f[k]
        y_ref[f, f] += complex(y[LF_YFF_G], y[LF_YFF_B])
        y_ref[f, t] += complex(y[LF_YFT_G], y[LF_YFT_B])
        y_ref[t, f] += complex(y[LF_YTF_G], y[LF_YTF_B])
        y_ref[t, t] += complex(y[LF_YTT_G], y[LF_YTT_B])
        b_ref[[f, t], [f, t]] += y[LF_B_DC]
        b_ref[f, t] -= y[LF_B_DC]
        b_ref[t, f] -= y[LF_B_DC]
    y_got = np.zeros((n_c, n_c), complex)
    b_got = np.zeros((n_c, n_c))
    for i in range(n_c):
        cols = y_col[y_ptr[i]:y_ptr[i + 1]]
        assert np.all(np.diff(cols) > 0), "columns sorted and unique"
        assert y_col[y_diag[i]] == i
        y_got[i, cols] = y_g[y_ptr[i]:y_ptr[i + 1]] + 1j * y_b[y_ptr[i]:y_ptr[i + 1]]
        b_got[i, cols] = b_dc[y_ptr[i]:y_ptr[i + 1]]
    np.testing.assert_allclose(y_got, y_ref, rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(b_got, b_ref, rtol=1e-14, atol=1e-12)


# --------------------------------------------------------------------------- run_powerflow cache
def assert_same_result(a, b, atol: float = 0.0) -> None:
    assert a.status == b.status
    for name in RESULT_FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        if atol == 0.0:
            np.testing.assert_array_equal(x, y, err_msg=name)
        else:
            np.testing.assert_allclose(x, y, rtol=0.0, atol=atol, err_msg=name)


@pytest.mark.parametrize("case", ["case14", "case118"])
def test_topology_cache_gives_a_fresh_solve(case: str, numba_pf_class) -> None:
    """Solve, change topology, solve: identical to a fresh solver; unchanged topology re-uses."""
    _, grid = load_case(case)
    inj = Injections.reference(grid)
    ref_topo = Topology.reference(grid)
    pf = numba_pf_class(grid)
    topos = [ref_topo, *random_topologies(grid, 6, seed=21), ref_topo]
    n_analyses = int(pf.ws_i[WI_N_ANALYSES])
    for topo in topos:
        for ac in (True, False):
            pf.reset_voltages()  # same start point as the fresh solver (the cache stays)
            got = pf.run_ac(topo, inj, warm_start=False) if ac else pf.run_dc(topo, inj)
            fresh_pf = numba_pf_class(grid)
            fresh = (fresh_pf.run_ac(topo, inj, warm_start=False) if ac
                     else fresh_pf.run_dc(topo, inj))
            assert_same_result(got, fresh)
        n_analyses += 1  # AC analysed the new topology, DC re-used it
        assert int(pf.ws_i[WI_N_ANALYSES]) == n_analyses
    again = pf.run_dc(ref_topo, inj)
    assert int(pf.ws_i[WI_N_ANALYSES]) == n_analyses
    assert_same_result(again, numba_pf_class(grid).run_dc(ref_topo, inj))


@pytest.mark.parametrize("case", ["case30", "case118"])
def test_line_outages_reuse_the_ordering(case: str, numba_pf_class) -> None:
    """Switching lines off keeps the cached ordering (its fill covers the smaller pattern) and
    gives a fresh solver's results; a node split needs a new ordering."""
    _, grid = load_case(case)
    inj = Injections.reference(grid)
    pf = numba_pf_class(grid)
    ref_topo = Topology.reference(grid)
    base = pf.run_ac(ref_topo, inj)
    n_sym = int(pf.ws_i[WI_N_SYMBOLIC])
    rng = np.random.default_rng(2)
    n_checked = 0
    for k in rng.permutation(np.flatnonzero(grid.line_in_service))[:8]:
        topo = Topology.reference(grid)
        topo.line_status[k] = False
        fresh_pf = numba_pf_class(grid)
        fresh = fresh_pf.run_ac(topo, inj, warm_start=False)
        if fresh.bus_energized_mask.sum() != base.bus_energized_mask.sum():
            continue  # this outage islands a bus: another system size, another ordering
        assert_same_result(pf.run_ac(topo, inj, warm_start=False), fresh, atol=1e-8)
        assert_same_result(pf.run_dc(topo, inj), fresh_pf.run_dc(topo, inj), atol=1e-8)
        assert int(pf.ws_i[WI_N_SYMBOLIC]) == n_sym
        back = pf.run_ac(ref_topo, inj, warm_start=False)  # same pattern as the cached one
        assert_same_result(back, base, atol=1e-8)
        n_checked += 1
    assert n_checked >= 4
    assert int(pf.ws_i[WI_N_SYMBOLIC]) == n_sym
    split = random_topologies(grid, 1, seed=9, max_outages=0)[0]
    pf.run_ac(split, inj)
    assert int(pf.ws_i[WI_N_SYMBOLIC]) == n_sym + 1


def test_cache_sees_a_single_element_move(numba_pf_class) -> None:
    """Moving one load to busbar 1 (which cuts it) is a topology change like any other."""
    _, grid = load_case("case14")
    inj = Injections.reference(grid)
    pf = numba_pf_class(grid)
    base = pf.run_ac(Topology.reference(grid), inj)
    topo = Topology.reference(grid)
    topo.load_node[3] = 1
    moved = pf.run_ac(topo, inj)
    assert moved.converged and moved.load_cut_mask[3] and not base.load_cut_mask[3]
    assert_same_result(moved, numba_pf_class(grid).run_ac(topo, inj), atol=1e-9)
    back = pf.run_ac(Topology.reference(grid), inj)
    assert_same_result(back, base, atol=1e-9)


@pytest.mark.parametrize("case", ["case14", "case57", "case300"])
def test_warm_and_flat_start_agree(case: str, numba_pf_class) -> None:
    _, grid = load_case(case)
    topo = Topology.reference(grid)
    inj = Injections.reference(grid)
    inj2 = Injections(inj.prod_p_mw * 1.02, inj.prod_v_pu, inj.load_p_mw * 1.02,
                      inj.load_q_mvar * 0.98, inj.prod_q_mvar)
    pf = numba_pf_class(grid)
    assert pf.run_ac(topo, inj).converged
    warm = pf.run_ac(topo, inj2, warm_start=True)
    flat = numba_pf_class(grid).run_ac(topo, inj2, warm_start=False)
    assert warm.converged and flat.converged
    assert warm.n_iter <= flat.n_iter
    assert_same_result(warm, flat, atol=1e-7)
    np.testing.assert_allclose(warm.bus_vm_pu, flat.bus_vm_pu, atol=1e-10)


@pytest.mark.parametrize("case", ["case14", "case118"])
def test_a_used_workspace_gives_a_fresh_warm_solve(case: str, numba_pf_class) -> None:
    """A warm Newton solve keeps the last solution's cos/sin where its start point is the
    same (``WI_N_TRIG``): bit for bit what a fresh workspace gives from the same start, after
    AC, DC and other-topology solves and a start point set from outside."""
    _, grid = load_case(case)
    topo = Topology.reference(grid)
    inj = Injections.reference(grid)
    inj2 = Injections(inj.prod_p_mw * 1.02, inj.prod_v_pu, inj.load_p_mw * 1.02,
                      inj.load_q_mvar * 0.98, inj.prod_q_mvar)
    other = random_topologies(grid, 1, seed=5)[0]
    pf = numba_pf_class(grid)
    steps = [("ac", topo, inj), ("ac", topo, inj2), ("dc", topo, inj), ("ac", topo, inj),
             ("ac", other, inj2), ("ac", topo, inj2), ("ac", topo, inj2)]
    for k, (kind, t, i) in enumerate(steps):
        fresh = numba_pf_class(grid)
        fresh.set_initial_voltages(pf.bus_vm.copy(), pf.bus_va.copy())
        if k == 5:  # a start point from outside (as an env's reset sets it)
            vm, va = pf.bus_vm * 1.001, pf.bus_va.copy()
            pf.set_initial_voltages(vm, va)
            fresh.set_initial_voltages(vm.copy(), va.copy())
        got = pf.run_ac(t, i) if kind == "ac" else pf.run_dc(t, i)
        want = fresh.run_ac(t, i) if kind == "ac" else fresh.run_dc(t, i)
        assert int(got.status) == int(want.status) and got.n_iter == want.n_iter, k
        assert got.converged or t is other, k
        assert_same_result(got, want)


# --------------------------------------------------------------------------- raw kernel
def _raw_setup(grid):
    grid_i, grid_f = pack_grid(grid)
    sz = sizes(grid_i)
    topo = Topology.reference(grid)
    inj = Injections.reference(grid).validated(grid)
    t = pack_topology(topo.prod_node, topo.load_node, topo.line_or_node, topo.line_ex_node,
                      topo.line_status)
    i = pack_injections(inj.prod_p_mw, inj.prod_q_mvar, inj.prod_v_pu, inj.load_p_mw,
                        inj.load_q_mvar)
    return grid_i, grid_f, sz, t, i


def _raw_run(grid_i, grid_f, sz, t, i, ws_i, ws_f):
    bus_v = np.zeros((2, sz.n_bus))
    mask = np.zeros(sz.mask_len, np.bool_)
    res = np.zeros(sz.res_len)
    status, n_iter = run_powerflow(True, False, 30, 1e-10, grid_i, grid_f, t, i, bus_v, mask,
                                   res, ws_i, ws_f)
    return int(status), bus_v, mask, res


def test_small_or_foreign_workspace_still_solves() -> None:
    _, grid = load_case("case57")
    grid_i, grid_f, sz, t, i = _raw_setup(grid)
    ws_i, ws_f = new_workspace(grid_i, grid_f)
    ref = _raw_run(grid_i, grid_f, sz, t, i, ws_i, ws_f)
    assert ref[0] == PFStatus.CONVERGED
    small_i, small_f = new_workspace(grid_i, grid_f, cap_u=1)
    got = _raw_run(grid_i, grid_f, sz, t, i, small_i, small_f)
    assert int(small_i[WI_NEED_U]) > int(small_i[WI_CAP_U])  # the owner is told to grow
    _, grid14 = load_case("case14")
    other_i, other_f = new_workspace(*pack_grid(grid14))
    foreign = _raw_run(grid_i, grid_f, sz, t, i, other_i, other_f)
    for out in (got, foreign):
        assert out[0] == ref[0]
        for a, b in zip(out[1:], ref[1:]):
            np.testing.assert_array_equal(a, b)


def test_wrong_sizes_return_bad_input() -> None:
    _, grid = load_case("case14")
    grid_i, grid_f, sz, t, i = _raw_setup(grid)
    ws_i, ws_f = new_workspace(grid_i, grid_f)
    bus_v = np.zeros((2, sz.n_bus))
    mask = np.zeros(sz.mask_len, np.bool_)
    res = np.zeros(sz.res_len)
    args = dict(t=t, i=i, bus_v=bus_v, mask=mask, res=res)
    for name, bad in (("t", t[:-1]), ("i", np.zeros(sz.inj_len + 1)),
                      ("bus_v", np.zeros((2, sz.n_bus - 1))), ("mask", mask[1:]),
                      ("res", np.zeros(sz.res_len + 8))):
        a = dict(args, **{name: bad})
        status, _ = run_powerflow(True, False, 30, 1e-10, grid_i, grid_f, a["t"], a["i"],
                                  a["bus_v"], a["mask"], a["res"], ws_i, ws_f)
        assert status == BAD_INPUT, name


def test_warm_start_at_the_trivial_root_retries_flat(numba_pf_class) -> None:
    """A busbar holding only a line end admits |V| = 0 (P = Q = 0 there): never report it."""
    _, grid = load_case("case14")
    inj = Injections.reference(grid)
    topo = Topology.reference(grid)
    topo.line_or_node[1] = 1  # line 1's origin alone on busbar 1: no injection there
    dangling = int(grid.line_sub_or_idx[1]) + grid.n_sub
    flat = numba_pf_class(grid).run_ac(topo, inj, warm_start=False)
    assert flat.converged and flat.bus_vm_pu[dangling] > 0.9
    pf = numba_pf_class(grid)
    assert pf.run_ac(Topology.reference(grid), inj).converged
    pf.bus_vm[dangling] = 1e-12  # a warm point sitting on the spurious root
    pf.bus_va[dangling] = 0.0
    warm = pf.run_ac(topo, inj, warm_start=True)
    assert warm.converged
    assert_same_result(warm, flat, atol=1e-7)
