"""Evaluate many candidate actions in one numba call: DC look-ahead with cascade, scored.

This is the fast path of the search agents (:mod:`gym_powergrid.agents.search`). For each
candidate switch vector it reproduces what ``PowerGridEnv.simulate(action, "DC")`` computes —
apply the switches to the current topology, take out the lines whose maintenance starts at the
next step, run a DC power flow on the *planned* injections, break hard-overflowed lines and
lines overflowed for too many consecutive steps (at every level, :mod:`.game_rules`), re-run
until stable — and scores the final
state with pypownet-like terms. Candidates are independent: ``prange`` runs them over the
threads, each thread with its own power-flow workspace.

Score (higher is better; :class:`ScoreWeights` holds the weights)::

    score = -(w_usage * sum(usage**2) + w_overflow * n_overflowed + w_broken * n_broken
              + w_load_cut * n_loads_cut + w_prod_cut * n_prods_cut
              + w_node * n_node_switches + w_line * n_line_switches + w_distance * distance
              + w_line_off * n_lines_off)
    score = -w_game_over  when the power flow fails or too many loads/productions are cut

``usage`` is the DC ampere flow over the thermal limit of the lines in service after the
cascade; ``distance`` counts elements not on busbar 0 (pypownet's distance to the reference
topology); ``n_lines_off`` counts lines out of service after the action and the outages
starting at the simulated step, before the cascade (a price on lost redundancy).

The kernel never raises; bad sizes give ``STATUS_BAD_INPUT`` rows. It takes the packed arrays of
:mod:`gym_powergrid.core.pf_kernel` (``grid_i``, ``grid_f``, pypownet-layout ``topo``, ``inj``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .game_rules import (
    BREAK_NONE,
    ISLAND_DIVERGES,
    breaks,
    island_without_slack,
    isolated_elements,
)
from .pf_kernel import LN_A_OR, run_powerflow_dc, sizes
from .status import PFStatus

CONVERGED = int(PFStatus.CONVERGED)
ISLAND = int(PFStatus.ISLAND)

# columns of the statistics array returned per candidate
ST_GAME_OVER = 0  # 1.0 when the candidate ends the game
ST_STATUS = 1  # last power-flow status (PFStatus code; -1 bad input)
ST_USAGE_SQ = 2  # sum of squared capacity usage of lines in service
ST_N_OVERFLOW = 3  # lines in service with usage > 1 after the cascade
ST_MAX_USAGE = 4  # largest capacity usage
ST_LOADS_CUT = 5  # isolated loads
ST_PRODS_CUT = 6  # isolated productions
ST_BROKEN = 7  # lines broken by the cascade
ST_NODE_SW = 8  # node switches of the candidate
ST_LINE_SW = 9  # line status switches of the candidate
ST_DISTANCE = 10  # elements not on busbar 0 after the action
ST_DEPTH = 11  # cascade depth
ST_LINES_OFF = 12  # lines out of service after the action and the outages, before the cascade
N_STATS = 13
STAT_NAMES = ("game_over", "status", "usage_sq", "n_overflow", "max_usage", "loads_cut",
              "prods_cut", "broken", "node_switches", "line_switches", "distance", "depth",
              "lines_off")

# order of the weights vector
(W_USAGE, W_OVERFLOW, W_BROKEN, W_LOAD_CUT, W_PROD_CUT, W_NODE, W_LINE, W_DISTANCE, W_GAME_OVER,
 W_LINE_OFF) = range(10)
N_WEIGHTS = 10

STATUS_BAD_INPUT = -1
_DC_MAX_ITER = 1
_DC_TOL = 1e-10


@njit(inline="always")
def _evaluate_one(i, candidates, grid_i, grid_f, base_topo, overflow_steps, outage_mask, inj,
                  limits_a, hard_coef, n_soft, easy, max_loads_go, max_prods_go, weights,
                  topo, steps, brk, bus_v, out_mask, out_res, ws_i, ws_f, out_score, out_stats):
    n_sub = grid_i[0]
    n_prod = grid_i[1]
    n_load = grid_i[2]
    n_line = grid_i[3]
    n_bus = 2 * n_sub
    n_nodes = n_prod + n_load + 2 * n_line
    stats = out_stats[i]
    for c in range(stats.shape[0]):
        stats[c] = 0.0
    # ---- apply the switches, then the outages starting at the next step
    n_node_sw = 0
    n_line_sw = 0
    n_off = 0
    distance = 0
    for k in range(n_nodes):
        sw = candidates[i, k] != 0
        n_node_sw += sw
        v = base_topo[k] ^ 1 if sw else base_topo[k]
        topo[k] = v
        distance += v != 0
    for l in range(n_line):
        sw = candidates[i, n_nodes + l] != 0
        n_line_sw += sw
        on = base_topo[n_nodes + l] != 0
        if sw:
            on = not on
        if outage_mask[l]:
            on = False
        topo[n_nodes + l] = 1 if on else 0
        n_off += not on
        steps[l] = overflow_steps[l]
    stats[ST_NODE_SW] = n_node_sw
    stats[ST_LINE_SW] = n_line_sw
    stats[ST_DISTANCE] = distance
    stats[ST_LINES_OFF] = n_off
    # ---- power flow and cascade (the rules of gym_powergrid.core.game_rules)
    line0 = 3 * n_prod + 3 * n_load
    depth = 0
    n_broken = 0
    game_over = False
    while True:
        for b in range(n_bus):
            bus_v[0, b] = 0.0
            bus_v[1, b] = 0.0
        status, _ = run_powerflow_dc(False, False, _DC_MAX_ITER, _DC_TOL, grid_i, grid_f, topo, inj,
                                     bus_v, out_mask, out_res, ws_i, ws_f)
        if status == CONVERGED and island_without_slack(grid_i, topo, inj,
                                                        out_mask[:n_bus]) == ISLAND_DIVERGES:
            status = ISLAND
        elif status == CONVERGED:
            isolated_elements(grid_i, topo, out_mask[n_bus:n_bus + n_prod],
                              out_mask[n_bus + n_prod:])
        stats[ST_STATUS] = status
        if status != CONVERGED:
            game_over = True
            break
        if easy:
            break
        n_break = 0
        for l in range(n_line):
            brk[l] = False
            if topo[n_nodes + l] == 0:
                continue
            lim = limits_a[l]
            u = out_res[line0 + 8 * l + LN_A_OR] / lim if lim > 0 else 0.0
            if breaks(u, steps[l], hard_coef, n_soft) != BREAK_NONE:
                brk[l] = True
                n_break += 1
        if n_break == 0:
            break
        for l in range(n_line):
            if brk[l]:
                topo[n_nodes + l] = 0
        n_broken += n_break
        depth += 1
        if depth > n_line:
            break
    stats[ST_BROKEN] = n_broken
    stats[ST_DEPTH] = depth
    if not game_over:
        n_lc = 0
        n_pc = 0
        for k in range(n_prod):
            n_pc += out_mask[n_bus + k]
        for k in range(n_load):
            n_lc += out_mask[n_bus + n_prod + k]
        stats[ST_LOADS_CUT] = n_lc
        stats[ST_PRODS_CUT] = n_pc
        if n_lc > max_loads_go or n_pc > max_prods_go:
            game_over = True
        usage_sq = 0.0
        n_over = 0
        max_u = 0.0
        for l in range(n_line):
            if topo[n_nodes + l] == 0:
                continue
            lim = limits_a[l]
            u = out_res[line0 + 8 * l + LN_A_OR] / lim if lim > 0 else 0.0
            usage_sq += u * u
            n_over += u > 1.0
            max_u = max(max_u, u)
        stats[ST_USAGE_SQ] = usage_sq
        stats[ST_N_OVERFLOW] = n_over
        stats[ST_MAX_USAGE] = max_u
    stats[ST_GAME_OVER] = 1.0 if game_over else 0.0
    if game_over:
        out_score[i] = -weights[W_GAME_OVER]
    else:
        out_score[i] = -(weights[W_USAGE] * stats[ST_USAGE_SQ]
                         + weights[W_OVERFLOW] * stats[ST_N_OVERFLOW]
                         + weights[W_BROKEN] * n_broken
                         + weights[W_LOAD_CUT] * stats[ST_LOADS_CUT]
                         + weights[W_PROD_CUT] * stats[ST_PRODS_CUT]
                         + weights[W_NODE] * n_node_sw + weights[W_LINE] * n_line_sw
                         + weights[W_DISTANCE] * distance + weights[W_LINE_OFF] * n_off)


#: Sources the kernel compiles in through :func:`run_powerflow`. numba's cache only watches the
#: file of the cached function, so their hash is a closure constant of the kernel: numba keys
#: cached code on closure values, and an edited power flow recompiles instead of loading stale
#: machine code.
_DEPENDENCIES = ("pf_kernel.py", "pf_layout.py", "pf_solve.py", "network.py", "solvers.py",
                 "sparse_lu.py", "status.py", "game_rules.py", "fdpf.py")


def dependency_hash(names: tuple[str, ...] = _DEPENDENCIES) -> str:
    """Hash of the sources ``names`` (files of this package) a cached kernel compiles in."""
    import hashlib
    from pathlib import Path

    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in names:
        try:
            h.update((here / name).read_bytes())
        except OSError:  # pragma: no cover - e.g. a zipped install: fall back to the name
            h.update(name.encode())
    return h.hexdigest()[:16]


def _build_kernel(dependency_hash: str):
    @njit(cache=True, parallel=True)
    def evaluate_candidates(candidates, grid_i, grid_f, base_topo, overflow_steps, outage_mask, inj,
                            limits_a, hard_coef, n_soft, easy, max_loads_go, max_prods_go, weights,
                            ws_i_all, ws_f_all, out_score, out_stats):
        """Score every row of ``candidates`` (int8 switch vectors, pypownet layout).

        Args:
            candidates: ``(n_cand, n_prod + n_load + 3 n_line)`` int8 switch vectors.
            grid_i, grid_f: packed grid (:func:`gym_powergrid.core.pf_kernel.pack_grid`).
            base_topo: current topology, int8 pypownet layout (nodes then line status).
            overflow_steps: consecutive overflowed steps of each line (int64).
            outage_mask: lines whose maintenance starts at the simulated step (bool).
            inj: packed planned injections of the simulated step.
            limits_a: thermal limits (A); a limit <= 0 means no limit.
            hard_coef, n_soft, easy: cascade rules (``hard_overflow_coefficient``,
                ``n_timesteps_consecutive_soft_overflow_breaks``, game-over mode ``easy``).
            max_loads_go, max_prods_go: isolated loads / productions tolerated before game over.
            weights: score weights (``W_*`` order).
            ws_i_all, ws_f_all: one power-flow workspace per row; rows are processed in parallel
                chunks, one chunk per row.
            out_score: ``(n_cand,)`` scores (output).
            out_stats: ``(n_cand, N_STATS)`` statistics (output, ``ST_*`` columns).
        """
        if len(dependency_hash) == 0:  # never true: keys numba's cache on the callees' sources
            return
        n_cand = candidates.shape[0]
        n_sub = grid_i[0]
        n_prod = grid_i[1]
        n_load = grid_i[2]
        n_line = grid_i[3]
        n_topo = n_prod + n_load + 3 * n_line
        if (candidates.shape[1] != n_topo or base_topo.shape[0] != n_topo
                or overflow_steps.shape[0] != n_line or outage_mask.shape[0] != n_line
                or limits_a.shape[0] != n_line or weights.shape[0] != N_WEIGHTS
                or out_score.shape[0] != n_cand or out_stats.shape[0] != n_cand
                or out_stats.shape[1] != N_STATS or ws_i_all.shape[0] != ws_f_all.shape[0]
                or ws_i_all.shape[0] < 1):
            for i in range(out_score.shape[0]):
                out_score[i] = -np.inf
            for i in range(out_stats.shape[0]):
                out_stats[i, :] = 0.0
                out_stats[i, ST_STATUS] = STATUS_BAD_INPUT
                out_stats[i, ST_GAME_OVER] = 1.0
            return
        n_chunks = min(ws_i_all.shape[0], n_cand)
        for ch in prange(n_chunks):
            lo = ch * n_cand // n_chunks
            hi = (ch + 1) * n_cand // n_chunks
            topo = np.empty(n_topo, dtype=np.int8)
            steps = np.empty(n_line, dtype=np.int64)
            brk = np.empty(n_line, dtype=np.bool_)
            bus_v = np.zeros((2, 2 * n_sub))
            out_mask = np.zeros(2 * n_sub + n_prod + n_load, dtype=np.bool_)
            out_res = np.zeros(3 * n_prod + 3 * n_load + 8 * n_line)
            ws_i = ws_i_all[ch]
            ws_f = ws_f_all[ch]
            for i in range(lo, hi):
                _evaluate_one(i, candidates, grid_i, grid_f, base_topo, overflow_steps, outage_mask,
                              inj, limits_a, hard_coef, n_soft, easy, max_loads_go, max_prods_go,
                              weights, topo, steps, brk, bus_v, out_mask, out_res, ws_i, ws_f,
                              out_score, out_stats)

    return evaluate_candidates


evaluate_candidates = _build_kernel(dependency_hash())


def writable(a, dtype) -> np.ndarray:
    """C-contiguous, writable array of ``dtype`` (copied only when needed): read-only inputs
    would give the kernel a second type signature, hence a second (slow) compilation."""
    out = np.ascontiguousarray(a, dtype=dtype)
    return out if out.flags.writeable else out.copy()


def check_sizes(grid_i: np.ndarray, candidates: np.ndarray) -> None:
    """Raise ValueError unless ``candidates`` is a 2-D array of switch vectors for this grid."""
    sz = sizes(grid_i)
    if candidates.ndim != 2 or candidates.shape[1] != sz.topo_len:
        raise ValueError(f"candidates must have shape (n, {sz.topo_len}) (one switch vector per "
                         f"row, pypownet layout), got {candidates.shape}")


class BatchEvaluator:
    """Owns the packed grid and one power-flow workspace per thread; scores candidate batches.

    Args:
        grid: the grid (:class:`~gym_powergrid.grid.arrays.GridArrays`).
        threads: most threads used per call (default: numba's thread count at construction).
        min_per_thread: a batch uses one more thread per ``min_per_thread`` candidates. Small
            batches run on one thread: waking threads costs more than it saves, and on a busy
            machine (other processes on every core) a second thread made batches of a few
            hundred case14 candidates 10x slower.

    Example:
        >>> ev = BatchEvaluator(grid)  # doctest: +SKIP
        >>> score, stats = ev.evaluate(cands, topo, steps, outages, inj, limits, 1.5, 3,
        ...                            False, 10, 10, weights)  # doctest: +SKIP
    """

    def __init__(self, grid, threads: int | None = None, min_per_thread: int = 256) -> None:
        import numba

        from .pf_kernel import new_workspace, pack_grid

        self.grid = grid
        self.grid_i, self.grid_f = pack_grid(grid)
        self.sizes = sizes(self.grid_i)
        n = max(1, int(threads or numba.get_num_threads()))
        self.threads = n
        self.min_per_thread = max(1, int(min_per_thread))
        ws_i, ws_f = new_workspace(self.grid_i, self.grid_f)
        self.ws_i = np.ascontiguousarray(np.repeat(ws_i[None, :], n, axis=0))
        self.ws_f = np.ascontiguousarray(np.repeat(ws_f[None, :], n, axis=0))
        self.warmup()

    def warmup(self) -> None:
        """Load (or compile) the kernel now rather than inside the first timed evaluation."""
        sz = self.sizes
        topo = np.zeros(sz.topo_len, dtype=np.int8)
        topo[sz.n_prod + sz.n_load + 2 * sz.n_line:] = 1
        inj = np.zeros(sz.inj_len)
        inj[2 * sz.n_prod:3 * sz.n_prod] = 1.0
        self.evaluate(np.zeros((1, sz.topo_len), np.int8), topo, np.zeros(sz.n_line, np.int64),
                      np.zeros(sz.n_line, bool), inj, np.ones(sz.n_line), 1.5, 3, False, 0, 0,
                      np.zeros(N_WEIGHTS))

    def _grow_if_needed(self) -> None:
        from .pf_kernel import WI_CAP_U, WI_NEED_U, new_workspace

        need = int(self.ws_i[:, WI_NEED_U].max())
        if need > int(self.ws_i[0, WI_CAP_U]):
            ws_i, ws_f = new_workspace(self.grid_i, self.grid_f, cap_u=need + need // 2)
            n = self.ws_i.shape[0]
            self.ws_i = np.ascontiguousarray(np.repeat(ws_i[None, :], n, axis=0))
            self.ws_f = np.ascontiguousarray(np.repeat(ws_f[None, :], n, axis=0))

    def evaluate(self, candidates: np.ndarray, base_topo: np.ndarray, overflow_steps: np.ndarray,
                 outage_mask: np.ndarray, inj: np.ndarray, limits_a: np.ndarray,
                 hard_coef: float, n_soft: int, easy: bool, max_loads_go: int,
                 max_prods_go: int, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score ``candidates``; returns ``(score (n,), stats (n, N_STATS))``.

        See :func:`evaluate_candidates` for the arguments.
        """
        cands = writable(candidates, np.int8)
        check_sizes(self.grid_i, cands)
        n = cands.shape[0]
        score = np.empty(n)
        stats = np.empty((n, N_STATS))
        if n == 0:
            return score, stats
        import numba

        threads = max(1, min(self.threads, numba.get_num_threads(), n // self.min_per_thread))
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            self._call(cands, score, stats, base_topo, overflow_steps, outage_mask, inj,
                       limits_a, hard_coef, n_soft, easy, max_loads_go, max_prods_go, weights)
        finally:
            numba.set_num_threads(previous)
        self._grow_if_needed()
        return score, stats

    def _call(self, cands, score, stats, base_topo, overflow_steps, outage_mask, inj, limits_a,
              hard_coef, n_soft, easy, max_loads_go, max_prods_go, weights) -> None:
        evaluate_candidates(
            cands, self.grid_i, self.grid_f, writable(base_topo, np.int8),
            writable(overflow_steps, np.int64), writable(outage_mask, np.bool_),
            writable(inj, np.float64), writable(limits_a, np.float64),
            float(hard_coef), int(n_soft), bool(easy), int(max_loads_go), int(max_prods_go),
            writable(weights, np.float64), self.ws_i, self.ws_f, score, stats)
