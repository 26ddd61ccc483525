"""One-step DC look-ahead of candidate actions, scored: batched (numba) or one ``simulate`` each.

Both evaluators answer the same question for a matrix of candidate switch vectors — what would
``env.simulate(action, "DC")`` lead to, and how good is it — and return the same
``(score, stats)`` arrays (columns ``ST_*`` of :mod:`gym_powergrid.core.batch`):

* :class:`BatchLookahead` (default, fast): all candidates in one parallel numba call;
* :class:`SimulateLookahead` (reference): one Python ``env.simulate`` per candidate, the score
  computed from its observation. Tests check that both agree.

The score follows pypownet's reward (squared capacity usage, isolated loads and productions,
action cost, distance to the reference topology) plus overflow and broken-line counts; see
:class:`ScoreWeights`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..core import batch as kb

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreWeights:
    """Weights of the look-ahead score (higher score is better; every term is a penalty).

    Attributes:
        usage_sq: per unit of squared capacity usage summed over lines in service.
        overflow: per line above its thermal limit after the cascade.
        line_broken: per line broken by the simulated cascade.
        load_cut: per isolated load (None: pypownet's ``n_sub / 5``).
        prod_cut: per isolated production (None: pypownet's ``n_sub / 10``).
        node_switch: per node switch of the action (pypownet: 0.1).
        line_switch: per line status switch of the action (pypownet: 0.2).
        distance: per element not on busbar 0 (pypownet: 0.02).
        game_over: penalty of a candidate that ends the game (diverged power flow or too many
            isolated loads / productions).
        line_off: per line out of service after the action and the outages starting at the
            simulated step (before the cascade): a price on lost redundancy, so that lines are
            not switched off for a small gain in usage and are reconnected when possible.
            Default 0 (pypownet's reward alone); on generated case14 scenarios 0.5 made the
            tree search as passive as the reconnection heuristic without improving survival.
    """

    usage_sq: float = 1.0
    overflow: float = 1.0
    line_broken: float = 2.0
    load_cut: float | None = None
    prod_cut: float | None = None
    node_switch: float = 0.1
    line_switch: float = 0.2
    distance: float = 0.02
    game_over: float = 1e6
    line_off: float = 0.0

    @classmethod
    def from_any(cls, value: Any) -> ScoreWeights:
        """Accept None (defaults), a ScoreWeights or a mapping of field names."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            bad = sorted(set(value) - known)
            if bad:
                raise ValueError(f"unknown score weight(s) {bad}; allowed: {sorted(known)}")
            return cls(**value)
        raise TypeError(f"weights must be None, a ScoreWeights or a dict, got {value!r}")

    def vector(self, n_sub: int) -> np.ndarray:
        """The weights in the kernel's ``W_*`` order."""
        w = np.zeros(kb.N_WEIGHTS)
        w[kb.W_USAGE] = self.usage_sq
        w[kb.W_OVERFLOW] = self.overflow
        w[kb.W_BROKEN] = self.line_broken
        w[kb.W_LOAD_CUT] = n_sub / 5.0 if self.load_cut is None else self.load_cut
        w[kb.W_PROD_CUT] = n_sub / 10.0 if self.prod_cut is None else self.prod_cut
        w[kb.W_NODE] = self.node_switch
        w[kb.W_LINE] = self.line_switch
        w[kb.W_DISTANCE] = self.distance
        w[kb.W_GAME_OVER] = self.game_over
        w[kb.W_LINE_OFF] = self.line_off
        return w


def score_from_stats(stats: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The score of each row of ``stats`` (same formula as the numba kernel)."""
    s = np.atleast_2d(stats)
    score = -(weights[kb.W_USAGE] * s[:, kb.ST_USAGE_SQ]
              + weights[kb.W_OVERFLOW] * s[:, kb.ST_N_OVERFLOW]
              + weights[kb.W_BROKEN] * s[:, kb.ST_BROKEN]
              + weights[kb.W_LOAD_CUT] * s[:, kb.ST_LOADS_CUT]
              + weights[kb.W_PROD_CUT] * s[:, kb.ST_PRODS_CUT]
              + weights[kb.W_NODE] * s[:, kb.ST_NODE_SW]
              + weights[kb.W_LINE] * s[:, kb.ST_LINE_SW]
              + weights[kb.W_DISTANCE] * s[:, kb.ST_DISTANCE]
              + weights[kb.W_LINE_OFF] * s[:, kb.ST_LINES_OFF])
    return np.where(s[:, kb.ST_GAME_OVER] > 0, -weights[kb.W_GAME_OVER], score)


class _Lookahead:
    """Common part: environment access, weights, throughput counters."""

    def __init__(self, env: Any, weights: ScoreWeights | dict | None = None) -> None:
        self.env = getattr(env, "unwrapped", env)
        self.weights = ScoreWeights.from_any(weights)
        self.weight_vector = self.weights.vector(self.env.grid.n_sub)
        self.n_evaluated = 0
        self.seconds = 0.0
        self.last_seconds = 0.0

    @property
    def candidates_per_second(self) -> float:
        """Candidates evaluated per second of evaluation, over the evaluator's life."""
        return self.n_evaluated / self.seconds if self.seconds > 0 else float("nan")

    def evaluate(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score each row of ``candidates``; returns ``(score (n,), stats (n, N_STATS))``."""
        if self.env.state is None:
            raise RuntimeError("call env.reset() before evaluating candidate actions")
        t0 = time.perf_counter()
        score, stats = self._evaluate(np.asarray(candidates))
        self.last_seconds = time.perf_counter() - t0
        self.seconds += self.last_seconds
        self.n_evaluated += len(score)
        return score, stats

    def _evaluate(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class BatchLookahead(_Lookahead):
    """All candidates in one parallel numba call (:mod:`gym_powergrid.core.batch`).

    Args:
        env: the environment.
        weights: score weights.
        ac_correction: scale each line's DC current by its AC/DC ratio in the current state
            (``|S| / |P|`` of the last AC power flow, clipped to ``[1, max_ac_ratio]``), so the
            DC look-ahead does not under-estimate the loading of lines carrying reactive power.
            Off by default (pypownet's plain DC ``simulate``); only meaningful in AC games.
        max_ac_ratio: upper clip of that ratio.
    """

    def __init__(self, env: Any, weights: ScoreWeights | dict | None = None,
                 ac_correction: bool = False, max_ac_ratio: float = 1.5) -> None:
        super().__init__(env, weights)
        self.evaluator = kb.BatchEvaluator(self.env.grid)
        self.ac_correction = bool(ac_correction)
        self.max_ac_ratio = float(max_ac_ratio)
        grid = self.env.grid
        self._vn_or_kv = np.asarray(grid.sub_vn_kv, np.float64)[grid.line_sub_or_idx]

    def ac_ratio(self) -> np.ndarray:
        """Per line, AC current over the DC estimate ``|P| / (sqrt(3) Vn)`` (1 when unknown)."""
        res = self.env.last_result
        ratio = np.ones(self.env.grid.n_line)
        if res is None or not self.env.ac:
            return ratio
        p = np.abs(np.asarray(res.line_p_or_mw, np.float64))
        a = np.asarray(res.line_a_or, np.float64)
        dc = p * 1e3 / (np.sqrt(3.0) * self._vn_or_kv)
        ok = dc > 1e-3 * np.maximum(a, 1e-9)
        ratio[ok] = np.clip(a[ok] / dc[ok], 1.0, self.max_ac_ratio)
        return ratio

    def inputs(self) -> dict[str, Any]:
        """The arrays describing the simulated step (what ``simulate`` would use)."""
        from ..core.pf_kernel import pack_injections, pack_topology

        env = self.env
        st = env.state
        grid = env.grid
        chronic = env.current_chronic
        t = min(st.step + 1, chronic.n_steps - 1)
        prod_p = np.array(chronic.prod_p_planned_mw[t], dtype=np.float64)
        prod_v = np.array(chronic.prod_v_planned_pu[t], dtype=np.float64)
        off = prod_v <= 0  # pypownet: a production with V <= 0 is off
        prod_p[off] = 0.0
        prod_v[off] = grid.prod_vm_pu[off]
        inj = pack_injections(prod_p, np.asarray(grid.prod_q_mvar, np.float64), prod_v,
                              np.asarray(chronic.load_p_planned_mw[t], np.float64),
                              np.asarray(chronic.load_q_planned_mvar[t], np.float64))
        topo = pack_topology(st.prod_node, st.load_node, st.line_or_node, st.line_ex_node,
                             st.line_status)
        cfg = env.config
        limits = np.asarray(env.limits_a, np.float64)
        if self.ac_correction:
            limits = limits / self.ac_ratio()
        return {
            "base_topo": topo, "overflow_steps": st.line_overflow_steps,
            "outage_mask": np.asarray(chronic.maintenance[t]) > 0, "inj": inj,
            "limits_a": limits, "hard_coef": cfg.hard_overflow_coefficient,
            "n_soft": cfg.n_timesteps_consecutive_soft_overflow_breaks,
            "easy": cfg.game_over_mode == "easy",
            "max_loads_go": cfg.max_number_loads_game_over,
            "max_prods_go": cfg.max_number_prods_game_over,
        }

    def _evaluate(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.evaluator.evaluate(candidates, weights=self.weight_vector, **self.inputs())


def stats_from_simulation(env: Any, obs: dict, terminated: bool, info: dict,
                          row: np.ndarray) -> None:
    """Fill ``row`` (``ST_*`` columns) from one simulated step's observation and info."""
    from ..core.status import PFStatus

    n_line = env.grid.n_line
    applied = np.asarray(info["action_applied"])
    row[kb.ST_NODE_SW] = int(applied[:-n_line].sum())
    row[kb.ST_LINE_SW] = int(applied[-n_line:].sum())
    row[kb.ST_DISTANCE] = sum(int(np.count_nonzero(obs[k])) for k in (
        "productions_nodes", "loads_nodes", "lines_or_nodes", "lines_ex_nodes"))
    row[kb.ST_BROKEN] = len(info["lines_broken"])
    row[kb.ST_DEPTH] = info["cascade_depth"]
    # lines off before the cascade = off at the end minus those the cascade broke
    row[kb.ST_LINES_OFF] = (int(np.sum(np.asarray(obs["lines_status"]) == 0))
                            - len(info["lines_broken"]))
    row[kb.ST_STATUS] = int(PFStatus[info["power_flow_status"]])
    row[kb.ST_GAME_OVER] = 1.0 if terminated else 0.0
    if info["game_over_reason"] == "diverged":
        return
    row[kb.ST_LOADS_CUT] = int(np.sum(obs["are_loads_cut"]))
    row[kb.ST_PRODS_CUT] = int(np.sum(obs["are_prods_cut"]))
    on = np.asarray(obs["lines_status"]).astype(bool)
    amps = np.asarray(obs["ampere_flows"], np.float64)
    lim = np.asarray(env.limits_a, np.float64)
    usage = np.divide(amps, lim, out=np.zeros_like(amps), where=lim > 0)[on]
    row[kb.ST_USAGE_SQ] = float(np.sum(usage ** 2))
    row[kb.ST_N_OVERFLOW] = int(np.sum(usage > 1.0))
    row[kb.ST_MAX_USAGE] = float(usage.max()) if usage.size else 0.0


def check_loadflow_mode(mode: Any) -> str:
    """``"AC"`` or ``"DC"`` (any case), or a ValueError."""
    m = mode.upper() if isinstance(mode, str) else None
    if m not in ("AC", "DC"):
        raise ValueError(f"loadflow_mode must be 'AC' or 'DC', got {mode!r}")
    return m


class SimulateLookahead(_Lookahead):
    """Reference: one ``env.simulate(action, loadflow_mode)`` per candidate (slow, obviously
    right). ``loadflow_mode="DC"`` (default) is what the batched evaluator computes; ``"AC"``
    scores the candidates with the game's own AC power flow (the AC check of
    :class:`~gym_powergrid.agents.search.SearchAgent`)."""

    def __init__(self, env: Any, weights: ScoreWeights | dict | None = None,
                 loadflow_mode: str = "DC") -> None:
        super().__init__(env, weights)
        self.loadflow_mode = check_loadflow_mode(loadflow_mode)

    def _evaluate(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        env = self.env
        stats = np.zeros((len(candidates), kb.N_STATS))
        for i, cand in enumerate(candidates):
            obs, _, terminated, info = env.simulate(cand, loadflow_mode=self.loadflow_mode)
            stats_from_simulation(env, obs, terminated, info, stats[i])
        return score_from_stats(stats, self.weight_vector), stats


def horizon_score(stats: np.ndarray, game_over_step: np.ndarray, weights: np.ndarray,
                  discount: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores of candidates simulated over ``h`` steps; returns ``(score (n,), step (n, h))``.

    ``step[:, k]`` is the one-step score (:func:`score_from_stats`) of step ``k + 1`` when the
    game is still on after it, else 0. ``score = sum_k discount[k] * step[:, k]``, minus
    ``w_game_over * (h - k + 1)`` for a game over predicted at step ``k`` (1-based): a later
    game over always beats an earlier one, surviving beats both, and with ``h = 1`` the score
    is the one-step score.
    """
    n, h, _ = stats.shape
    step = score_from_stats(stats.reshape(n * h, -1), weights).reshape(n, h)
    k = np.arange(1, h + 1)[None, :]
    go = np.asarray(game_over_step, np.int64)[:, None]
    step = np.where((go == 0) | (k < go), step, 0.0)
    total = step @ np.asarray(discount, np.float64)
    lost = go[:, 0] > 0
    total[lost] -= weights[kb.W_GAME_OVER] * (h - go[lost, 0] + 1)
    return total, step


def check_horizon_option(horizon: Any) -> int:
    """``horizon`` as an int >= 1, or a ValueError."""
    if (not isinstance(horizon, (int, np.integer)) or isinstance(horizon, (bool, np.bool_))
            or horizon < 1):
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    return int(horizon)


class _HorizonLookahead(_Lookahead):
    """Common part of the horizon look-aheads: the candidate at the next step, then do-nothing,
    over ``horizon`` steps (fewer near the chronic's end), scored by :func:`horizon_score`.

    Attributes:
        last_step_stats: ``(n, h, N_STATS)`` statistics of the last evaluation.
        last_game_over_step: ``(n,)`` first predicted game-over step (1-based, 0: none).
        last_step_scores: ``(n, h)`` per-step scores.
    """

    def __init__(self, env: Any, weights: ScoreWeights | dict | None = None, horizon: int = 3,
                 discount: float = 1.0) -> None:
        from ..envs.horizon import discount_weights

        super().__init__(env, weights)
        self.horizon = check_horizon_option(horizon)
        discount_weights(1, discount)  # checks it
        self.discount = float(discount)
        self.last_step_stats = np.zeros((0, self.horizon, kb.N_STATS))
        self.last_game_over_step = np.zeros(0, np.int64)
        self.last_step_scores = np.zeros((0, self.horizon))

    def steps(self) -> int:
        """Steps simulated now: ``horizon``, or the planned steps left (at least 1)."""
        from ..envs.horizon import max_horizon

        return max(1, min(self.horizon, max_horizon(self.env)))

    def _finish(self, stats: np.ndarray, go_step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from ..envs.horizon import discount_weights

        disc = discount_weights(stats.shape[1], self.discount)
        score, step = horizon_score(stats, go_step, self.weight_vector, disc)
        self.last_step_stats, self.last_game_over_step = stats, go_step
        self.last_step_scores = step
        return score, stats[:, 0]


class BatchHorizonLookahead(_HorizonLookahead):
    """Candidates x horizon in one parallel numba call (:mod:`gym_powergrid.core.batch_horizon`),
    DC power flows on the planned injections, maintenance known, no hazards."""

    def __init__(self, env: Any, weights: ScoreWeights | dict | None = None, horizon: int = 3,
                 discount: float = 1.0) -> None:
        from ..core.batch_horizon import HorizonEvaluator
        from ..envs.fast_path import pack_rules

        super().__init__(env, weights, horizon, discount)
        self.evaluator = HorizonEvaluator(self.env.grid, self.env.action_helper.node_switch_sub)
        self.rules_i, self.rules_f = pack_rules(self.env.config)

    def inputs(self, h: int) -> tuple[np.ndarray, np.ndarray]:
        """``(maint_rows (h, L) int32, inj_rows (h, inj_len))`` of the next ``h`` steps, the
        planned injections as the env's ``simulate`` packs them (a V <= 0 reads as off)."""
        env = self.env
        c = env.current_chronic
        g = env.grid
        rows = np.minimum(np.arange(env.state.step + 1, env.state.step + 1 + h), c.n_steps - 1)
        q = np.broadcast_to(np.asarray(g.prod_q_mvar, np.float64), (h, g.n_prod))
        inj = np.concatenate([np.asarray(c.prod_p_planned_mw[rows], np.float64), q,
                              np.maximum(np.asarray(c.prod_v_planned_pu[rows], np.float64), 0.0),
                              np.asarray(c.load_p_planned_mw[rows], np.float64),
                              np.asarray(c.load_q_planned_mvar[rows], np.float64)], axis=1)
        return np.asarray(c.maintenance[rows], np.int32), np.ascontiguousarray(inj)

    def _evaluate(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        maint, inj = self.inputs(self.steps())
        stats, go_step = self.evaluator.evaluate(candidates, self.rules_i, self.rules_f,
                                                 self.env.state, maint, inj, self.env.limits_a)
        return self._finish(stats, go_step)


class SimulateHorizonLookahead(_HorizonLookahead):
    """Reference: one ``env.simulate(action, loadflow_mode, horizon=h)`` per candidate
    (``loadflow_mode`` as in :class:`SimulateLookahead`)."""

    def __init__(self, env: Any, weights: ScoreWeights | dict | None = None, horizon: int = 3,
                 discount: float = 1.0, loadflow_mode: str = "DC") -> None:
        super().__init__(env, weights, horizon, discount)
        self.loadflow_mode = check_loadflow_mode(loadflow_mode)

    def _evaluate(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        env = self.env
        h = self.steps()
        mode = self.loadflow_mode
        stats = np.zeros((len(candidates), h, kb.N_STATS))
        go_step = np.zeros(len(candidates), np.int64)
        for i, cand in enumerate(candidates):
            if h == 1:
                obs, _, terminated, info = env.simulate(cand, loadflow_mode=mode)
                steps = [(obs, terminated, info)]
            else:
                res = env.simulate(cand, loadflow_mode=mode, horizon=h)
                steps = [(o, k + 1 == res.game_over_step, inf)
                         for k, (o, inf) in enumerate(zip(res.observations, res.infos))]
            for k, (obs, terminated, info) in enumerate(steps):
                stats_from_simulation(env, obs, terminated, info, stats[i, k])
                if terminated:
                    go_step[i] = k + 1
        return self._finish(stats, go_step)


def make_lookahead(env: Any, use_batch: bool = True,
                   weights: ScoreWeights | dict | None = None,
                   ac_correction: bool = False, horizon: int = 1,
                   discount: float = 1.0, loadflow_mode: str = "DC") -> _Lookahead:
    """The batched evaluator, or the ``simulate`` reference when ``use_batch`` is False;
    ``horizon > 1``: the candidate then do-nothing over ``horizon`` steps
    (:class:`BatchHorizonLookahead`, :class:`SimulateHorizonLookahead`).
    ``loadflow_mode="AC"`` needs the reference (``use_batch=False``): the kernels are DC."""
    if check_loadflow_mode(loadflow_mode) == "AC" and use_batch:
        raise ValueError("loadflow_mode='AC' needs the simulate look-ahead (use_batch=False)")
    if check_horizon_option(horizon) != 1:
        if ac_correction:
            raise ValueError("ac_correction works with horizon=1 only")
        if use_batch:
            return BatchHorizonLookahead(env, weights, horizon=horizon, discount=discount)
        return SimulateHorizonLookahead(env, weights, horizon=horizon, discount=discount,
                                        loadflow_mode=loadflow_mode)
    if not use_batch:
        if ac_correction:
            raise ValueError("ac_correction needs the batched look-ahead (use_batch=True)")
        return SimulateLookahead(env, weights, loadflow_mode=loadflow_mode)
    return BatchLookahead(env, weights, ac_correction=ac_correction)
