"""Search agents: depth-1 tree search over unitary actions, and the line-reconnection heuristic.

* :class:`TreeSearchLineServiceStatus` (pypownet's): do-nothing plus every one-line status
  switch; keeps the best.
* :class:`GreedySearch` (pypownet's): also every node-switch configuration of each substation
  with at least ``min_elements`` elements (the first element's switch fixed to 0, which
  enumerates every distinct busbar split once).
* :class:`LineReconnection`: reconnects a disconnected line as soon as the rules allow it; when
  several can be reconnected, the one with the best look-ahead score.

Candidates are scored by a one-step DC look-ahead (:mod:`.lookahead`) — by default all in one
parallel numba call; ``use_batch=False`` uses one ``env.simulate`` per candidate instead (the
reference; both give the same scores). Candidates the rules would refuse (cooldowns, broken or
in-maintenance lines, action limits) are never evaluated, and do-nothing always is. Ties go to
the earliest candidate, so do-nothing wins ties.

The AC check (``ac_check=K``, greedy's default 3; see :class:`SearchAgent`) guards against the
DC look-ahead's optimism in AC games: the K best candidates by DC score and do-nothing are
simulated again with the game's AC power flow (``env.simulate(action, "AC")``), candidates that
end the game or overload more lines than do-nothing there are rejected, and the best AC score
wins.

The danger gate (``search_above=u``, greedy's default :data:`GREEDY_SEARCH_ABOVE`; see
:class:`SearchAgent`) makes the search act only when it is needed, as Grid2Op's expert agents
do: while every line in service is loaded below ``u`` x its thermal limit the agent plays
:class:`LineReconnection`'s move (the best allowed reconnection, else do-nothing) without
searching; once a line reaches ``u`` (an overflowing line always does, ``u <= 1``) it runs the
full search. ``search_above=0`` searches at every step (pypownet's agents).
"""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any

import numpy as np

from ..core import batch as kb
from .base import Agent
from .lookahead import ScoreWeights, make_lookahead

logger = logging.getLogger(__name__)

KIND_DO_NOTHING, KIND_LINE, KIND_SUBSTATION = 0, 1, 2

#: ``search_above`` of :class:`GreedySearch` (chosen on the hard levels, docs/data.md).
GREEDY_SEARCH_ABOVE = 1.0


class CandidateSet:
    """A fixed list of candidate switch vectors with per-step legality masks.

    Args:
        env: the environment (wrapped or not).
        lines: include one candidate per line status switch.
        substations: include node-switch configurations of substations.
        min_elements: only substations with at least this many elements.
        max_configurations: at most this many configurations per substation (None: all
            ``2 ** (n - 1) - 1`` of them).
        prune_invalid: skip, at each step, configurations leaving a busbar with a single
            element or without any line in service (they isolate elements).

    Attributes:
        actions: ``(n, action_length)`` int8 switch vectors; row 0 is do-nothing.
        kinds: ``KIND_DO_NOTHING``, ``KIND_LINE`` or ``KIND_SUBSTATION`` per row.
        targets: the line or substation id of each row (-1 for do-nothing).
    """

    def __init__(self, env: Any, lines: bool = True, substations: bool = False,
                 min_elements: int = 4, max_configurations: int | None = None,
                 prune_invalid: bool = True) -> None:
        base = getattr(env, "unwrapped", env)
        helper = base.action_helper
        grid = base.grid
        self.helper = helper
        self.n_nodes = helper.offset_status
        self.prune_invalid = prune_invalid
        rows = [helper.get_do_nothing_action()]
        kinds = [KIND_DO_NOTHING]
        targets = [-1]
        if lines:
            for line in range(grid.n_line):
                rows.append(helper.set_lines_status_switch_from_id(helper.do_nothing(), line, 1))
                kinds.append(KIND_LINE)
                targets.append(line)
        #: per substation group: (substation, first row, positions, switch matrix, line mask)
        self.groups: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]] = []
        if substations:
            line_of_pos = np.concatenate([np.full(grid.n_prod + grid.n_load, -1),
                                          np.arange(grid.n_line), np.arange(grid.n_line)])
            for s in range(grid.n_sub):
                pos = helper.substation_element_indices(s)
                n = len(pos)
                if n < max(min_elements, 2):
                    continue
                configs = []
                for bits in itertools.product((0, 1), repeat=n - 1):
                    if any(bits):
                        configs.append((0,) + bits)
                    if max_configurations is not None and len(configs) >= max_configurations:
                        logger.info("substation %d: kept the first %d of %d configurations",
                                    s, len(configs), 2 ** (n - 1) - 1)
                        break
                sw = np.array(configs, dtype=np.int8).reshape(-1, n)
                self.groups.append((s, len(rows), pos, sw, line_of_pos[pos]))
                for cfg in sw:
                    a = helper.do_nothing()
                    a[pos] = cfg
                    rows.append(a)
                    kinds.append(KIND_SUBSTATION)
                    targets.append(s)
        self.actions = np.ascontiguousarray(np.array(rows, dtype=np.int8))
        self.actions.flags.writeable = False
        self.kinds = np.array(kinds, dtype=np.int8)
        self.targets = np.array(targets, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def describe(self, index: int) -> str:
        """Human-readable text of candidate ``index``."""
        kind, target = int(self.kinds[index]), int(self.targets[index])
        if kind == KIND_DO_NOTHING:
            return "do nothing"
        if kind == KIND_LINE:
            return f"switch line {target}"
        pos = self.helper.substation_element_indices(target)
        bits = "".join(str(int(v)) for v in self.actions[index][pos])
        return f"substation {target} node switches {bits}"

    def mask(self, state, limits) -> np.ndarray:
        """Candidates the rules accept now (and, with pruning, valid busbar splits)."""
        ok = np.ones(len(self), dtype=bool)
        line_rows = self.kinds == KIND_LINE
        if line_rows.any():
            lines = self.targets[line_rows]
            off = np.asarray(state.line_status)[lines] == 0
            legal = (state.line_cooldown[lines] == 0) & ~(off & (state.line_unavailable[lines] > 0))
            if limits.max_lines < 1 or limits.max_total < 1:
                legal[:] = False
            ok[line_rows] = legal
        if limits.max_substations < 1 or limits.max_total < 1:
            ok[self.kinds == KIND_SUBSTATION] = False
            return ok
        nodes = state.nodes() if self.groups else None
        status_on = np.asarray(state.line_status) != 0
        for sub, first, pos, sw, line_of_pos in self.groups:
            rows = slice(first, first + len(sw))
            if state.sub_cooldown[sub] > 0:
                ok[rows] = False
                continue
            if not self.prune_invalid:
                continue
            target = sw ^ nodes[pos][None, :]
            n_el = len(pos)
            line_on = (line_of_pos >= 0) & status_on[np.maximum(line_of_pos, 0)]
            n1 = target.sum(axis=1)
            n0 = n_el - n1
            l1 = (target.astype(bool) & line_on[None, :]).sum(axis=1)
            l0 = int(line_on.sum()) - l1
            valid = (((n0 == 0) | ((n0 >= 2) & (l0 >= 1)))
                     & ((n1 == 0) | ((n1 >= 2) & (l1 >= 1))))
            ok[rows] = valid
        ok[0] = True
        return ok


class SearchAgent(Agent):
    """Depth-1 search over a :class:`CandidateSet` scored by a DC look-ahead.

    Args:
        env: the environment.
        seed: unused (the search is deterministic), kept for the common signature.
        use_batch: score all candidates in one numba call (default) or, when False, with one
            ``env.simulate`` per candidate (the reference path).
        weights: :class:`~gym_powergrid.agents.lookahead.ScoreWeights` or a dict of them.
        min_elements, max_configurations, prune_invalid: see :class:`CandidateSet`.
        ac_correction: correct the DC currents by the lines' AC/DC ratio of the current
            state (see :class:`~gym_powergrid.agents.lookahead.BatchLookahead`); horizon 1 and
            the batched look-ahead only. None (default): on with the AC check (``ac_check >
            0``) where it applies (one-step batched look-ahead), off otherwise; on case30's
            hard level it lifted greedy from 1.11 to 1.26 x reconnect's mean survival.
        horizon: steps of the look-ahead: 1 (default, one step) or ``h > 1``: each candidate at
            the next step then do-nothing over ``h`` planned steps, scored by
            :func:`~gym_powergrid.agents.lookahead.horizon_score` (fewer steps near the
            chronic's end).
        discount: weight ``discount ** k`` of step ``k + 1`` in the horizon score.
        ac_check: in an AC game, re-simulate the ``ac_check`` best candidates by DC score
            (do-nothing excluded) and do-nothing with the game's AC power flow, over the same
            horizon; when do-nothing survives there, reject the candidates that end the game
            or overload more lines than do-nothing at the next step; play the best AC score
            of do-nothing and the others (ties: do-nothing, then the DC order). 0: the DC
            choice (pypownet's search). None: the class default (:attr:`default_ac_check`).
            Ignored in DC games (the DC scores are the game's).
        search_above: the danger gate, a fraction of the thermal limit in ``[0, 1]``: search
            only when a line in service is loaded at or above ``search_above`` x its limit
            (an overflowing line always counts); in safe states play the reconnection
            heuristic's move (:class:`LineReconnection`, same ``weights`` and ``use_batch``:
            the best allowed reconnection, else do-nothing) without searching. 0: search at
            every step (pypownet's agents). None: the class default
            (:attr:`default_search_above`; 0 for the tree search, :data:`GREEDY_SEARCH_ABOVE`
            for greedy).

    Attributes:
        candidates: the :class:`CandidateSet`.
        last_choice: description of the last action chosen.
        last_scores: scores of the candidates evaluated at the last step.
        last_indices: their rows in :attr:`candidates`.
        last_ac_indices: rows of :attr:`candidates` re-simulated in AC at the last step
            (do-nothing first; empty without an AC check).
        last_ac_scores: their AC scores (-inf for the rejected ones).
        ac_overrides: steps on which the AC check played another action than the DC choice.
        reconnection: the :class:`LineReconnection` playing safe states (None without a gate).
        searched_steps: steps on which the search ran (the others were safe).
    """

    lines = True
    substations = False
    default_ac_check = 0
    default_search_above = 0.0

    def __init__(self, env: Any, seed: int | None = None, use_batch: bool = True,
                 weights: ScoreWeights | dict | None = None, min_elements: int = 4,
                 max_configurations: int | None = None, prune_invalid: bool = True,
                 ac_correction: bool | None = None, horizon: int = 1, discount: float = 1.0,
                 ac_check: int | None = None, search_above: float | None = None) -> None:
        super().__init__(env, seed)
        self.ac_check = check_ac_check(self.default_ac_check if ac_check is None else ac_check)
        self.search_above = check_search_above(
            self.default_search_above if search_above is None else search_above)
        self.reconnection = (LineReconnection(env, seed, use_batch=use_batch, weights=weights)
                             if self.search_above > 0 else None)
        if ac_correction is None:
            ac_correction = bool(self.ac_check) and bool(use_batch) and horizon == 1
        self.ac_correction = bool(ac_correction)
        self.use_batch = bool(use_batch)
        self.horizon = horizon
        self.candidates = CandidateSet(env, lines=self.lines, substations=self.substations,
                                       min_elements=min_elements,
                                       max_configurations=max_configurations,
                                       prune_invalid=prune_invalid)
        self.lookahead = make_lookahead(env, self.use_batch, weights, self.ac_correction, horizon,
                                        discount)
        self.ac_lookahead = None
        if self.ac_check and self.base_env.ac:
            self.ac_lookahead = make_lookahead(env, False, weights, horizon=horizon,
                                               discount=discount, loadflow_mode="AC")
        elif self.ac_check:
            logger.info("%s: DC game, the AC check is off", type(self).__name__)
        self.last_choice = "do nothing"
        self.last_scores = np.zeros(0)
        self.last_indices = np.zeros(0, dtype=np.int64)
        self.last_ac_scores = np.zeros(0)
        self.last_ac_indices = np.zeros(0, dtype=np.int64)
        self.ac_overrides = 0
        self.searched_steps = 0
        self.act_seconds = 0.0
        logger.debug("%s: %d candidate actions (%s path)", type(self).__name__,
                     len(self.candidates), "batch" if self.use_batch else "simulate")

    def in_danger(self) -> bool:
        """Whether the search runs in the current state: a line in service is loaded at or
        above :attr:`search_above` x its thermal limit (always with ``search_above=0``)."""
        if self.search_above <= 0:
            return True
        env = self.base_env
        if env.last_result is None:
            return True
        on = np.asarray(env.state.line_status) != 0
        usage = np.asarray(env.get_lines_capacity_usage(), np.float64)[on]
        return bool(np.any(~(usage < self.search_above)))  # NaN (no flow solution): danger

    def act(self, observation: Any) -> np.ndarray:
        t0 = time.perf_counter()
        env = self.base_env
        if not self.in_danger():
            action = self.reconnection.act(observation)
            self.last_choice = self.reconnection.last_choice
            self.last_indices = np.zeros(0, dtype=np.int64)
            self.last_scores = np.zeros(0)
            self.last_ac_indices, self.last_ac_scores = self.last_indices, self.last_scores
            self.act_seconds += time.perf_counter() - t0
            return action
        self.searched_steps += 1
        idx = np.flatnonzero(self.candidates.mask(env.state, env.limits))
        cands = self.candidates.actions[idx]
        score, _ = self.lookahead.evaluate(cands)
        best = int(np.argmax(score))
        self.last_indices, self.last_scores = idx, score
        if self.ac_lookahead is not None:
            checked = self._ac_choice(cands, score)
            if checked != best:
                self.ac_overrides += 1
                logger.debug("%s: AC check plays %r instead of %r", type(self).__name__,
                             self.candidates.describe(int(idx[checked])),
                             self.candidates.describe(int(idx[best])))
            best = checked
        self.last_choice = self.candidates.describe(int(idx[best]))
        self.act_seconds += time.perf_counter() - t0
        if best != 0:
            logger.debug("%s chose %r (score %.4f vs do-nothing %.4f)", type(self).__name__,
                         self.last_choice, score[best], score[0])
        return cands[best].copy()

    def _ac_choice(self, cands: np.ndarray, dc_score: np.ndarray) -> int:
        """Row of ``cands`` to play after the AC check of the best ones by ``dc_score``."""
        order = np.argsort(-dc_score[1:], kind="stable")[:self.ac_check] + 1
        rows = np.concatenate([[0], order])
        score, stats = self.ac_lookahead.evaluate(cands[rows])
        ends = _game_over(self.ac_lookahead, stats)
        score = score.astype(np.float64, copy=True)
        if not ends[0]:
            worse = ends | (stats[:, kb.ST_N_OVERFLOW] > stats[0, kb.ST_N_OVERFLOW])
            score[worse] = -np.inf
        self.last_ac_indices, self.last_ac_scores = self.last_indices[rows], score
        return int(rows[int(np.argmax(score))])

    @property
    def candidates_per_second(self) -> float:
        """Candidates scored per second of look-ahead evaluation since the agent was built."""
        return self.lookahead.candidates_per_second

    @property
    def stats(self) -> dict[str, float]:
        out = {"candidates_evaluated": float(self.lookahead.n_evaluated), **_speed(self)}
        if self.ac_lookahead is not None:
            out["ac_checked"] = float(self.ac_lookahead.n_evaluated)
            out["ac_overrides"] = float(self.ac_overrides)
        if self.reconnection is not None:
            out["searched_steps"] = float(self.searched_steps)
            out["reconnections"] = float(self.reconnection.n_reconnections)
        return out


def check_ac_check(value: Any) -> int:
    """``ac_check`` as an int >= 0, or a ValueError."""
    if (not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_))
            or value < 0):
        raise ValueError(f"ac_check must be an integer >= 0 (candidates re-simulated in AC; "
                         f"0: no AC check), got {value!r}")
    return int(value)


def check_search_above(value: Any) -> float:
    """``search_above`` as a float in ``[0, 1]``, or a ValueError."""
    ok = (isinstance(value, (int, float, np.integer, np.floating))
          and not isinstance(value, (bool, np.bool_)) and 0.0 <= float(value) <= 1.0)
    if not ok:
        raise ValueError(f"search_above must be a fraction of the thermal limit in [0, 1] (search "
                         f"only when a line is loaded at or above it; 0: search at every step), "
                         f"got {value!r}")
    return float(value)


def _game_over(lookahead: Any, stats: np.ndarray) -> np.ndarray:
    """Per evaluated candidate: does its simulation end the game (within the horizon)?"""
    go_step = getattr(lookahead, "last_game_over_step", None)
    if go_step is not None:
        return np.asarray(go_step) > 0
    return stats[:, kb.ST_GAME_OVER] > 0


class TreeSearchLineServiceStatus(SearchAgent):
    """Do-nothing or the best single line status switch (pypownet's tree search of depth 1)."""

    name = "tree-search"


class GreedySearch(SearchAgent):
    """Do-nothing, every line switch and every configuration of substations with >= 4 elements.

    pypownet's ``GreedySearch``: a depth-1 search constrained to at most one substation or one
    line per action, keeping the best simulated outcome. By default the search runs only in
    danger (``search_above=1.0``: a line at its thermal limit; otherwise the reconnection
    heuristic plays) and its DC choice is checked in AC (``ac_check=3``; see
    :class:`SearchAgent`); ``ac_check=0, search_above=0`` is pypownet's plain greedy.
    """

    name = "greedy"
    substations = True
    default_ac_check = 3
    default_search_above = GREEDY_SEARCH_ABOVE


class LineReconnection(Agent):
    """Reconnect a disconnected line as soon as the rules allow it.

    A line is a candidate when it is off, in service in the reference grid, not broken or in
    maintenance any more (``timesteps_before_lines_reconnectable == 0``) and not on cooldown.
    With one candidate it is reconnected; with several, the one with the best look-ahead score.

    Args:
        env: the environment.
        seed: unused (deterministic).
        use_batch: see :class:`SearchAgent`.
        weights: see :class:`SearchAgent`.
        require_improvement: only reconnect when the look-ahead score beats do-nothing's
            (default False: reconnect whenever allowed, the classic heuristic).
        ac_correction: see :class:`SearchAgent`.
    """

    name = "reconnect"

    def __init__(self, env: Any, seed: int | None = None, use_batch: bool = True,
                 weights: ScoreWeights | dict | None = None,
                 require_improvement: bool = False, ac_correction: bool = False) -> None:
        super().__init__(env, seed)
        self.lookahead = make_lookahead(env, use_batch, weights, ac_correction)
        self.require_improvement = bool(require_improvement)
        self.n_reconnections = 0
        self.last_choice = "do nothing"

    def reconnectable_lines(self) -> np.ndarray:
        """Ids of the lines that may be reconnected now."""
        st = self.base_env.state
        limits = self.base_env.limits
        if limits.max_lines < 1 or limits.max_total < 1:
            return np.zeros(0, dtype=np.int64)
        ok = ((np.asarray(st.line_status) == 0) & (st.line_unavailable == 0)
              & (st.line_cooldown == 0)
              & np.asarray(self.grid.line_in_service, dtype=bool))
        return np.flatnonzero(ok)

    def act(self, observation: Any) -> np.ndarray:
        lines = self.reconnectable_lines()
        self.last_choice = "do nothing"
        if len(lines) == 0:
            return self.do_nothing()
        helper = self.action_helper
        actions = [helper.do_nothing()] + [
            helper.set_lines_status_switch_from_id(helper.do_nothing(), int(l), 1) for l in lines]
        if len(lines) == 1 and not self.require_improvement:
            best = 1
        else:
            score, _ = self.lookahead.evaluate(np.array(actions))
            best = int(np.argmax(score[1:])) + 1
            if self.require_improvement and score[best] <= score[0]:
                return self.do_nothing()
        self.n_reconnections += 1
        self.last_choice = f"reconnect line {int(lines[best - 1])}"
        logger.debug("%s", self.last_choice)
        return actions[best]

    @property
    def candidates_per_second(self) -> float:
        return self.lookahead.candidates_per_second

    @property
    def stats(self) -> dict[str, float]:
        return {"reconnections": float(self.n_reconnections),
                "candidates_evaluated": float(self.lookahead.n_evaluated),
                **_speed(self)}


def _speed(agent) -> dict[str, float]:
    """``candidates_per_second`` once the look-ahead has evaluated something (no nan figure)."""
    if agent.lookahead.n_evaluated > 0 and agent.lookahead.seconds > 0:
        return {"candidates_per_second": float(agent.candidates_per_second)}
    return {}
