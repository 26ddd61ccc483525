"""Candidates x horizon in one numba call: each candidate action, then do-nothing, over ``h`` steps.

The multi-step twin of :mod:`.batch`. For every candidate it copies the game state and plays
``h`` whole game steps with :func:`.step_kernel.game_step` — the very transition of the env
(legality, switching, countdowns, outages, DC power flow, cascade, overflow counters, isolated
elements, game over; the rules of :mod:`.game_rules`, written once) — the candidate at the
first step, do-nothing after it, on the planned injections and the maintenance of each step
(no hazards: they are not known in advance). It returns the statistics of every simulated step
(the ``ST_*`` columns of :mod:`.batch`) and the step of the first predicted game over; the
score is computed from them outside the kernel
(:class:`gym_powergrid.agents.lookahead.BatchHorizonLookahead`), with the one-step formula.

A candidate whose game ends at step ``k`` is not simulated further: its rows after ``k`` are
zero. Candidates run in parallel (``prange`` over chunks, one power-flow workspace each).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .batch import (
    N_STATS,
    ST_BROKEN,
    ST_DEPTH,
    ST_DISTANCE,
    ST_GAME_OVER,
    ST_LINE_SW,
    ST_LINES_OFF,
    ST_LOADS_CUT,
    ST_MAX_USAGE,
    ST_N_OVERFLOW,
    ST_NODE_SW,
    ST_PRODS_CUT,
    ST_STATUS,
    ST_USAGE_SQ,
    STATUS_BAD_INPUT,
    check_sizes,
    dependency_hash,
    writable,
)
from .pf_kernel import LN_A_OR, sizes
from .step_kernel import (
    CONVERGED,
    FLAG_NONE,
    N_REPORT,
    RP_DEPTH,
    RP_FLAG,
    RP_LOADS_CUT,
    RP_N_BROKEN,
    RP_PRODS_CUT,
    RP_STATUS,
    game_step,
)

_DC_MAX_ITER = 1
_DC_TOL = 1e-10

_DEPENDENCIES = ("pf_kernel.py", "pf_layout.py", "pf_solve.py", "network.py", "solvers.py",
                 "sparse_lu.py", "status.py", "game_rules.py", "step_kernel.py", "fdpf.py",
                 "batch.py")


@njit(cache=True)
def _step_stats(stats, applied, topo, n_nodes, n_line, out_res, line0, limits_a, report):
    """The ``ST_*`` statistics of one simulated step (after :func:`game_step`)."""
    for c in range(stats.shape[0]):
        stats[c] = 0.0
    node_sw = 0
    distance = 0
    for k in range(n_nodes):
        node_sw += applied[k] != 0
        distance += topo[k] != 0
    line_sw = 0
    n_off = 0
    for k in range(n_line):
        line_sw += applied[n_nodes + k] != 0
        n_off += topo[n_nodes + k] == 0
    stats[ST_NODE_SW] = node_sw
    stats[ST_LINE_SW] = line_sw
    stats[ST_DISTANCE] = distance
    stats[ST_BROKEN] = report[RP_N_BROKEN]
    stats[ST_DEPTH] = report[RP_DEPTH]
    stats[ST_LINES_OFF] = n_off - report[RP_N_BROKEN]  # before the cascade: it only adds
    stats[ST_STATUS] = report[RP_STATUS]
    if report[RP_FLAG] != FLAG_NONE:
        stats[ST_GAME_OVER] = 1.0
    if report[RP_STATUS] != CONVERGED:  # no solution: no flows
        return
    stats[ST_LOADS_CUT] = report[RP_LOADS_CUT]
    stats[ST_PRODS_CUT] = report[RP_PRODS_CUT]
    usage_sq = 0.0
    n_over = 0
    max_u = 0.0
    for k in range(n_line):
        if topo[n_nodes + k] == 0:
            continue
        lim = limits_a[k]
        u = out_res[line0 + 8 * k + LN_A_OR] / lim if lim > 0 else 0.0
        usage_sq += u * u
        n_over += u > 1.0
        max_u = max(max_u, u)
    stats[ST_USAGE_SQ] = usage_sq
    stats[ST_N_OVERFLOW] = n_over
    stats[ST_MAX_USAGE] = max_u


def _build_kernel(source_hash: str):
    @njit(cache=True, parallel=True)
    def evaluate_horizon(candidates, grid_i, grid_f, node_switch_sub, rules_i, rules_f, topo0,
                         unavail0, over0, line_cd0, sub_cd0, maint_rows, inj_rows, limits_a,
                         ws_i_all, ws_f_all, out_stats, out_game_over_step):
        """Simulate every row of ``candidates`` over ``h = inj_rows.shape[0]`` steps.

        Args:
            candidates: ``(n, n_prod + n_load + 3 n_line)`` int8 switch vectors.
            grid_i, grid_f: packed grid (:func:`gym_powergrid.core.pf_kernel.pack_grid`).
            node_switch_sub: substation of each node switch (int64).
            rules_i, rules_f: packed rules (:func:`gym_powergrid.envs.fast_path.pack_rules`).
            topo0, unavail0, over0, line_cd0, sub_cd0: the current game state (int8 topology,
                int32 counters), never written.
            maint_rows: ``(h, n_line)`` int32 maintenance rows of the simulated steps.
            inj_rows: ``(h, inj_len)`` packed planned injections of the simulated steps.
            limits_a: thermal limits (A).
            ws_i_all, ws_f_all: one power-flow workspace per chunk of rows.
            out_stats: ``(n, h, N_STATS)`` statistics of each simulated step (output).
            out_game_over_step: ``(n,)`` int64, ``k`` (1-based) of the first step with a game
                over, 0 when none (output).
        """
        if len(source_hash) == 0:  # never true: keys numba's cache on the callees' sources
            return
        n_cand = candidates.shape[0]
        n_h = inj_rows.shape[0]
        n_sub = grid_i[0]
        n_prod = grid_i[1]
        n_load = grid_i[2]
        n_line = grid_i[3]
        n_nodes = n_prod + n_load + 2 * n_line
        n_topo = n_nodes + n_line
        if (candidates.shape[1] != n_topo or topo0.shape[0] != n_topo
                or maint_rows.shape[0] != n_h or maint_rows.shape[1] != n_line
                or out_stats.shape[0] != n_cand or out_stats.shape[1] != n_h
                or out_stats.shape[2] != N_STATS or out_game_over_step.shape[0] != n_cand
                or ws_i_all.shape[0] != ws_f_all.shape[0] or ws_i_all.shape[0] < 1):
            for i in range(n_cand):
                out_game_over_step[i] = 1
                for k in range(out_stats.shape[1]):
                    out_stats[i, k, :] = 0.0
                    out_stats[i, k, ST_STATUS] = STATUS_BAD_INPUT
                    out_stats[i, k, ST_GAME_OVER] = 1.0
            return
        line0 = 3 * n_prod + 3 * n_load
        n_chunks = min(ws_i_all.shape[0], n_cand)
        for ch in prange(n_chunks):
            lo = ch * n_cand // n_chunks
            hi = (ch + 1) * n_cand // n_chunks
            topo = np.empty(n_topo, dtype=np.int8)
            unavail = np.empty_like(unavail0)
            over = np.empty_like(over0)
            line_cd = np.empty_like(line_cd0)
            sub_cd = np.empty_like(sub_cd0)
            action = np.empty(n_topo, dtype=np.int8)
            applied = np.empty(n_topo, dtype=np.int8)
            hazards = np.zeros(n_line, dtype=maint_rows.dtype)
            line_event = np.empty(n_line, dtype=np.int8)
            sub_event = np.empty(n_sub, dtype=np.int8)
            broken = np.empty(max(n_line, 1), dtype=np.int32)
            report = np.empty(N_REPORT, dtype=np.int64)
            bus_v = np.zeros((2, 2 * n_sub))
            out_mask = np.zeros(2 * n_sub + n_prod + n_load, dtype=np.bool_)
            out_res = np.zeros(line0 + 8 * n_line)
            ws_i = ws_i_all[ch]
            ws_f = ws_f_all[ch]
            for i in range(lo, hi):
                topo[:] = topo0
                unavail[:] = unavail0
                over[:] = over0
                line_cd[:] = line_cd0
                sub_cd[:] = sub_cd0
                action[:] = candidates[i]
                out_game_over_step[i] = 0
                for k in range(n_h):
                    if out_game_over_step[i] != 0:
                        out_stats[i, k, :] = 0.0
                        continue
                    bus_v[:, :] = 0.0
                    game_step(action, topo, unavail, over, line_cd, sub_cd, node_switch_sub,
                              rules_i, rules_f, maint_rows[k], hazards, inj_rows[k], limits_a,
                              1, 0, _DC_MAX_ITER, _DC_TOL, grid_i, grid_f, bus_v, out_mask,
                              out_res, ws_i, ws_f, applied, line_event, sub_event, broken,
                              report)
                    _step_stats(out_stats[i, k], applied, topo, n_nodes, n_line, out_res,
                                line0, limits_a, report)
                    if report[RP_FLAG] != FLAG_NONE:
                        out_game_over_step[i] = k + 1
                    action[:] = 0

    return evaluate_horizon


evaluate_horizon = _build_kernel(dependency_hash(_DEPENDENCIES))


class HorizonEvaluator:
    """Owns the packed grid and one workspace per thread; simulates candidate batches over a
    horizon (:func:`evaluate_horizon`). Same threading policy as :class:`.batch.BatchEvaluator`.

    Args:
        grid: the grid (:class:`~gym_powergrid.grid.arrays.GridArrays`).
        node_switch_sub: substation of each node switch (``ActionHelper.node_switch_sub``).
        threads: most threads per call (default: numba's thread count).
        min_per_thread: one more thread per ``min_per_thread`` candidates.
    """

    def __init__(self, grid, node_switch_sub: np.ndarray, threads: int | None = None,
                 min_per_thread: int = 64) -> None:
        import numba

        from .pf_kernel import new_workspace, pack_grid

        self.grid = grid
        self.grid_i, self.grid_f = pack_grid(grid)
        self.sizes = sizes(self.grid_i)
        self.node_switch_sub = writable(node_switch_sub, np.int64)
        self.threads = max(1, int(threads or numba.get_num_threads()))
        self.min_per_thread = max(1, int(min_per_thread))
        ws_i, ws_f = new_workspace(self.grid_i, self.grid_f)
        self.ws_i = np.ascontiguousarray(np.repeat(ws_i[None, :], self.threads, axis=0))
        self.ws_f = np.ascontiguousarray(np.repeat(ws_f[None, :], self.threads, axis=0))

    def _grow_if_needed(self) -> None:
        from .pf_kernel import WI_CAP_U, WI_NEED_U, new_workspace

        need = int(self.ws_i[:, WI_NEED_U].max())
        if need > int(self.ws_i[0, WI_CAP_U]):
            ws_i, ws_f = new_workspace(self.grid_i, self.grid_f, cap_u=need + need // 2)
            n = self.ws_i.shape[0]
            self.ws_i = np.ascontiguousarray(np.repeat(ws_i[None, :], n, axis=0))
            self.ws_f = np.ascontiguousarray(np.repeat(ws_f[None, :], n, axis=0))

    def evaluate(self, candidates: np.ndarray, rules_i: np.ndarray, rules_f: np.ndarray,
                 state, maint_rows: np.ndarray, inj_rows: np.ndarray,
                 limits_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Simulate ``candidates`` from ``state`` (a :class:`~gym_powergrid.core.rules.GameState`,
        not modified) over ``len(inj_rows)`` steps; returns ``(stats (n, h, N_STATS),
        game_over_step (n,))``."""
        cands = writable(candidates, np.int8)
        check_sizes(self.grid_i, cands)
        inj = writable(inj_rows, np.float64)
        maint = writable(maint_rows, np.int32)
        sz = self.sizes
        if inj.ndim != 2 or inj.shape[0] < 1 or inj.shape[1] != sz.inj_len:
            raise ValueError(f"inj_rows must have shape (h >= 1, {sz.inj_len}), got {inj.shape}")
        if maint.shape != (inj.shape[0], sz.n_line):
            raise ValueError(f"maint_rows must have shape ({inj.shape[0]}, {sz.n_line}), got "
                             f"{maint.shape}")
        n, h = cands.shape[0], inj.shape[0]
        stats = np.zeros((n, h, N_STATS))
        go_step = np.zeros(n, dtype=np.int64)
        if n == 0:
            return stats, go_step
        import numba

        threads = max(1, min(self.threads, numba.get_num_threads(),
                             (n * h) // self.min_per_thread))
        previous = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            evaluate_horizon(cands, self.grid_i, self.grid_f, self.node_switch_sub,
                             writable(rules_i, np.int64), writable(rules_f, np.float64),
                             writable(state.topo, np.int8),
                             writable(state.line_unavailable, np.int32),
                             writable(state.line_overflow_steps, np.int32),
                             writable(state.line_cooldown, np.int32),
                             writable(state.sub_cooldown, np.int32),
                             maint, inj, writable(limits_a, np.float64), self.ws_i, self.ws_f,
                             stats, go_step)
        finally:
            numba.set_num_threads(previous)
        self._grow_if_needed()
        return stats, go_step
