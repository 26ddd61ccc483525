"""Choose among a few candidate actions, each described by its AC simulation: a ranking problem.

:class:`CandidateActions` turns an env into a decision process over *danger states* (as
:class:`~gym_powergrid.envs.guard.GuardedActions`, whose rule it shares: a heuristic plays while
every in-service line is below ``threshold`` x its limit; ``threshold=0`` asks at every step).
In a danger state the policy picks one of ``n_slots`` fixed *slots*:

====================  =====================================================================
slot                  move
====================  =====================================================================
0                     the heuristic's (default ``"reconnect"``: do-nothing + reconnection)
1 .. k                the experts' moves (default ``("greedy",)``, the one-step greedy search)
k + 1                 do-nothing
k + 2 .. k + 1 + m    the DC look-ahead's ``m = top_k`` best moves (the greedy search's ranking
                      over every line switch and substation configuration,
                      :class:`~gym_powergrid.agents.search.GreedySearch`)
====================  =====================================================================

A slot whose move repeats an earlier slot's (or that has no move) is masked
(:meth:`CandidateActions.action_masks`, sb3-contrib's convention; slot 0 is always valid).
Each valid slot is simulated once with ``env.simulate(move, loadflow_mode="AC")`` and described
by :data:`FEATURES` (all in ``[0, 1]`` except the usage ones in ``[0, 2]`` and the usage change
in ``[-2, 2]``; a masked slot's features are 0). The observation is
:class:`~gym_powergrid.envs.wrappers.FlatObservation`'s vector followed by the ``n_slots x
len(FEATURES)`` features (row by row), with exact bounds. Rewards, ``info["env_steps"]`` and
``info["episode_env_steps"]`` are GuardedActions'.

The same code drives a saved policy outside the wrapper (:meth:`CandidateActions.decide`, used
by :class:`~gym_powergrid.training.PolicyAgent` and the ablation agents of
:mod:`gym_powergrid.training.ablations`), so evaluation plays exactly what was trained.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

from ..envs.guard import GuardedActions, max_usage
from ..envs.wrappers import USAGE_MAX, FlatObservation

logger = logging.getLogger(__name__)

#: Per-slot features (in this order) of the AC simulation of the slot's move.
FEATURES = ("valid", "game_over", "max_usage", "mean_usage", "overloaded_lines", "lines_off",
            "lines_broken", "loads_cut", "cuts_line", "reconnects_line", "changes_substation",
            "max_usage_change")
_LOW = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -USAGE_MAX], dtype=np.float32)
_HIGH = np.array([1, 1, USAGE_MAX, USAGE_MAX, 1, 1, 1, 1, 1, 1, 1, USAGE_MAX], dtype=np.float32)


class CandidateActions(GuardedActions):
    """A ``Discrete(n_slots)`` choice among candidate moves described by AC simulations.

    Args:
        env: a gym_powergrid env with ``Dict`` observations and ``MultiBinary`` actions.
        threshold: the policy is asked when an in-service line's capacity usage reaches this
            (0: at every step).
        min_elements: substations with at least this many elements get configurations in the
            DC ranking.
        heuristic: agent spec playing outside danger states; its move is slot 0.
        expert: agent specs whose moves are slots 1 .. k.
        top_k: how many of the DC look-ahead's best moves get a slot.
        max_auto_steps, reward_scale: see :class:`~gym_powergrid.envs.guard.GuardedActions`.
    """

    def __init__(self, env: gym.Env, threshold: float = 0.95, min_elements: int = 4,
                 heuristic: str = "reconnect", expert: str | Sequence[str] | None = ("greedy",),
                 top_k: int = 4, max_auto_steps: int | None = None,
                 reward_scale: float = 1.0) -> None:
        super().__init__(env, threshold=threshold, min_elements=min_elements,
                         max_auto_steps=max_auto_steps, reward_scale=reward_scale,
                         expert=expert, heuristic=heuristic)
        if int(top_k) < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k!r}")
        from ..agents.search import GreedySearch

        self.top_k = int(top_k)
        # the DC ranking of every state the policy is asked about: no danger gate of its own
        self.ranking = GreedySearch(env, min_elements=min_elements, search_above=0.0)
        self.flat = FlatObservation(env)
        self.n_slots = 2 + self.offset + self.top_k
        self.action_space = gym.spaces.Discrete(self.n_slots)
        n = self.n_slots
        low = np.concatenate([self.flat.observation_space.low, np.tile(_LOW, n)])
        high = np.concatenate([self.flat.observation_space.high, np.tile(_HIGH, n)])
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self._moves: list[np.ndarray | None] = [None] * n
        self._features = np.zeros((n, len(FEATURES)), dtype=np.float32)
        self._vector: np.ndarray | None = None

    # -------------------------------------------------------------- the candidates
    def slot_names(self) -> list[str]:
        """A label per slot (``"reconnect"``, ``"greedy"``, ``"do-nothing"``, ``"dc-1"``...)."""
        return slot_labels(self.heuristic_spec, self.expert_specs, self.top_k)

    def prepare(self, obs: dict) -> np.ndarray:
        """Compute the slots' moves and features in state ``obs``; returns the observation
        vector (flat observation + features)."""
        base = self.env.unwrapped
        moves: list[np.ndarray | None] = [self.heuristic.act(obs)]
        moves += [agent.act(obs) for agent in self.experts]
        moves.append(base.action_helper.do_nothing())
        if self.top_k:
            self.ranking.act(obs)
            order = np.argsort(-self.ranking.last_scores, kind="stable")
            rows = self.ranking.last_indices[order]
            picked: list[np.ndarray] = []
            for row in rows:
                move = self.ranking.candidates.actions[row]
                if not any(np.array_equal(move, m) for m in moves if m is not None):
                    picked.append(move.copy())
                if len(picked) == self.top_k:
                    break
            moves += picked + [None] * (self.top_k - len(picked))
        self._moves = _unique(moves)
        self._features = self._describe(obs, self._moves)
        self._vector = np.concatenate([self.flat.observation(obs), self._features.ravel()])
        return self._vector

    def _describe(self, obs: dict, moves: list[np.ndarray | None]) -> np.ndarray:
        base = self.env.unwrapped
        grid = base.grid
        n_line, n_load = grid.n_line, max(grid.n_load, 1)
        status_now = np.asarray(obs["lines_status"]) != 0
        usage_now = max_usage(obs)
        lim = np.asarray(base.limits_a, np.float64)
        feats = np.zeros((len(moves), len(FEATURES)), dtype=np.float32)
        n_nodes = base.action_helper.offset_status
        for i, move in enumerate(moves):
            if move is None:
                continue
            after, _, game_over, info = base.simulate(move, loadflow_mode="AC")
            line_sw = np.asarray(move[n_nodes:]) != 0
            on = np.asarray(after["lines_status"]) != 0
            amps = np.nan_to_num(np.asarray(after["ampere_flows"], np.float64))
            usage = np.divide(amps, lim, out=np.zeros_like(amps), where=lim > 0)[on & (lim > 0)]
            if game_over or usage.size == 0:
                top = mean = USAGE_MAX
            else:
                top, mean = float(usage.max()), float(usage.mean())
            feats[i] = (1.0, float(game_over), min(top, USAGE_MAX), min(mean, USAGE_MAX),
                        float(np.sum(usage > 1.0)) / n_line, float(np.sum(~on)) / n_line,
                        len(info["lines_broken"]) / n_line,
                        min(float(info.get("n_loads_cut", 0)) / n_load, 1.0),
                        float(np.any(line_sw & status_now)), float(np.any(line_sw & ~status_now)),
                        float(np.any(np.asarray(move[:n_nodes]) != 0)),
                        np.clip(min(top, USAGE_MAX) - usage_now, -USAGE_MAX, USAGE_MAX))
        return np.clip(feats, _LOW, _HIGH)

    @property
    def features(self) -> np.ndarray:
        """``(n_slots, len(FEATURES))`` features of the last prepared state."""
        return self._features

    def action_masks(self) -> np.ndarray:
        """Valid slots in the last prepared state (slot 0 always)."""
        mask = np.array([m is not None for m in self._moves], dtype=bool)
        mask[0] = True
        return mask

    def to_switches(self, index: int, obs: dict) -> np.ndarray:
        """The move of slot ``index`` in the last prepared state (slot 0 outside danger)."""
        move = self._moves[int(index)]
        if move is None:
            raise ValueError(f"slot {index} ({self.slot_names()[int(index)]}) is masked in this "
                             "state")
        return move.copy()

    def describe(self, index: int) -> str:
        return self.slot_names()[int(index)]

    def decide(self, obs: dict, policy: Callable[[np.ndarray, np.ndarray], int]
               ) -> tuple[np.ndarray, int, bool]:
        """The move to play in ``obs`` outside the wrapper: ``(switches, slot, asked)``.

        In danger the slots are prepared and ``policy(vector, mask)`` picks one; otherwise the
        heuristic plays (slot 0).
        """
        if not self.in_danger(obs):
            return self.heuristic.act(obs), 0, False
        vector = self.prepare(obs)
        slot = int(policy(vector, self.action_masks()))
        return self.to_switches(slot, obs), slot, True

    # -------------------------------------------------------------- the decision process
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = super().reset(seed=seed, options=options)
        for agent in (self.ranking,):
            agent.reset(obs, info)
        return self.prepare(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:
            self._moves = [None] * self.n_slots
            self._features = np.zeros_like(self._features)
            vector = np.concatenate([self.flat.observation(obs), self._features.ravel()])
        else:
            vector = self.prepare(obs)
        info["slot"] = int(action)
        return vector, reward, terminated, truncated, info


def slot_labels(heuristic: str, expert: Sequence[str] | None, top_k: int) -> list[str]:
    """The slot labels of ``CandidateActions(heuristic=..., expert=..., top_k=...)``."""
    return [heuristic, *(expert or ()), "do-nothing"] + [f"dc-{i + 1}" for i in range(top_k)]


def _unique(moves: list[np.ndarray | None]) -> list[np.ndarray | None]:
    """``moves`` with every repeat of an earlier move replaced by None."""
    out: list[np.ndarray | None] = []
    for move in moves:
        if move is None or any(m is not None and np.array_equal(move, m) for m in out):
            out.append(None)
        else:
            out.append(np.asarray(move, dtype=np.int8))
    return out
