"""Act only when the grid is in danger: a heuristic agent plays every other step.

:class:`GuardedActions` turns an env into a decision process over *danger states*: after each
decision the wrapper keeps stepping the env itself with a heuristic agent (``heuristic``: by
default the line-reconnection heuristic,
:class:`~gym_powergrid.agents.search.LineReconnection`: switch a line back on as soon as the
rules allow, otherwise do nothing; any agent spec, e.g. ``"greedy"``) until an in-service line
is loaded at or above ``threshold`` x its thermal limit, the episode ends, or
``max_auto_steps`` pass. Only then is the policy asked again. Its actions are those of
:class:`~gym_powergrid.envs.wrappers.DiscreteUnitaryActions` (one line switch or one substation
configuration), except that action 0 is *the heuristic's move* instead of do-nothing (and
actions ``1 .. k`` the moves of optional ``expert`` agents), so a policy that always picks 0
plays the heuristic exactly, and learning is about *when and which* topology change beats it.
The reward of a decision is the sum of the env's rewards over
the steps it covered (times ``reward_scale``); ``info["env_steps"]`` counts them and
``info["episode_env_steps"]`` the episode's steps so far. The steps ``reset`` plays before the
first danger state are counted in ``episode_env_steps`` but their reward is not returned (no
policy choice affects it).

The same rule drives a saved policy outside the wrapper (:meth:`GuardedActions.choose`, used by
:class:`gym_powergrid.training.PolicyAgent`), so evaluation plays exactly what was trained.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np

from .wrappers import DiscreteUnitaryActions

logger = logging.getLogger(__name__)


def max_usage(obs: dict) -> float:
    """Highest ampere flow / thermal limit over in-service lines (0 if none)."""
    lim = np.asarray(obs["thermal_limits"], dtype=np.float64)
    on = (np.asarray(obs["lines_status"]) != 0) & (lim > 0)
    if not on.any():
        return 0.0
    return float(np.max(np.asarray(obs["ampere_flows"], dtype=np.float64)[on] / lim[on]))


def expert_specs(expert: str | Sequence[str] | None) -> tuple[str, ...]:
    """The expert specs of ``GuardedActions(expert=...)`` as a tuple (empty without experts)."""
    if expert is None:
        return ()
    specs = (expert,) if isinstance(expert, str) else tuple(expert)
    for spec in specs:
        if not isinstance(spec, str) or not spec.strip():
            raise ValueError(f"an expert must be an agent name such as 'greedy' or "
                             f"'greedy[horizon=6]', got {spec!r}")
    return tuple(s.strip() for s in specs)


def _make_expert(spec: str, env: gym.Env):
    """The agent of ``spec``; a search agent searches whenever it is asked (``search_above=0``
    unless the spec sets it): the wrapper's own danger rule decides when it is asked."""
    import inspect

    from ..agents import make_agent, resolve_agent
    from ..agents.compare import parse_agent_spec

    name, options = parse_agent_spec(spec)
    if "search_above" in inspect.signature(resolve_agent(name)).parameters:
        options.setdefault("search_above", 0.0)
    return make_agent(name, env, seed=0, **options)


class GuardedActions(gym.Wrapper):
    """Discrete topology actions asked only in danger states; a heuristic plays otherwise.

    Args:
        env: a gym_powergrid env with ``Dict`` observations and ``MultiBinary`` actions.
        threshold: a state is a danger state when an in-service line's capacity usage is at
            least this (0.95 by default; 0 asks the policy at every step).
        min_elements: substations with at least this many elements get configuration actions.
        max_auto_steps: ask the policy at least every this many steps (None: only in danger).
        reward_scale: factor applied to the summed reward of a decision.
        expert: optional agent spec, or a sequence of them (e.g. ``"greedy"`` or
            ``("greedy", "greedy[horizon=6]")``: a registered name, see
            :mod:`gym_powergrid.agents`, with constructor options in brackets as in the agent
            benchmark) whose moves become actions ``1 .. k`` (the unitary actions then start
            at ``k + 1``): the policy can learn when which search is worth following rather
            than finding every move itself. Only the chosen expert is asked for its move.
            Search agents (``greedy``, ``tree-search``) are built with ``search_above=0``
            unless the spec sets it: the wrapper's ``threshold`` decides when they are asked,
            and they search whenever asked (as the heuristic, at every step).
        heuristic: the agent spec that plays outside danger states and whose move is action
            0 (default ``"reconnect"``, the line-reconnection heuristic; e.g. ``"greedy"``
            makes the policy a set of learned deviations from the greedy search).
    """

    def __init__(self, env: gym.Env, threshold: float = 0.95, min_elements: int = 4,
                 max_auto_steps: int | None = None, reward_scale: float = 1.0,
                 expert: str | Sequence[str] | None = None,
                 heuristic: str = "reconnect") -> None:
        super().__init__(env)

        if not 0.0 <= float(threshold) < 10.0:
            raise ValueError(f"threshold must be a capacity usage in [0, 10), got {threshold!r}")
        if max_auto_steps is not None and int(max_auto_steps) < 1:
            raise ValueError(f"max_auto_steps must be None or >= 1, got {max_auto_steps!r}")
        self.threshold = float(threshold)
        self.max_auto_steps = None if max_auto_steps is None else int(max_auto_steps)
        self.reward_scale = float(reward_scale)
        self.discrete = DiscreteUnitaryActions(env, min_elements=min_elements)
        self.heuristic_spec = expert_specs(heuristic)[0] if heuristic else "reconnect"
        self.heuristic = _make_expert(self.heuristic_spec, env)
        self.expert_specs = expert_specs(expert)
        self.experts = [_make_expert(spec, env) for spec in self.expert_specs]
        self.offset = len(self.experts)  # unitary action k is index k + offset
        self.action_space = gym.spaces.Discrete(self.discrete.action_space.n + self.offset)
        self.n_decisions = 0
        self._obs: dict | None = None
        self._episode_steps = 0

    @property
    def expert(self):
        """The first expert (None without experts)."""
        return self.experts[0] if self.experts else None

    #: resets in a row whose episode has no danger state before giving up (then the policy
    #: is asked at the first step)
    MAX_RESETS = 10

    # -------------------------------------------------------------- the shared rule
    def in_danger(self, obs: dict) -> bool:
        """Whether the policy is asked in this state."""
        return max_usage(obs) >= self.threshold

    def to_switches(self, index: int, obs: dict) -> np.ndarray:
        """Switch vector of action ``index`` (0: the heuristic's move) in the current state."""
        index = int(index)
        if index == 0:
            return self.heuristic.act(obs)
        if index <= self.offset:
            return self.experts[index - 1].act(obs)
        return self.discrete.to_switches(index - self.offset)

    def action_masks(self) -> np.ndarray:
        """Legal actions now (sb3-contrib's convention); action 0 is always legal."""
        mask = self.discrete.action_masks()
        mask[0] = True
        if self.offset:
            mask = np.concatenate([np.ones(self.offset, dtype=bool), mask])
        return mask

    def choose(self, obs: dict, policy: Callable[[dict, np.ndarray], int]) -> tuple[int, bool]:
        """The action index to play in ``obs``: ``policy(obs, mask)`` in danger, else 0.

        Returns ``(index, asked)``.
        """
        if not self.in_danger(obs):
            return 0, False
        return int(policy(obs, self.action_masks())), True

    def describe(self, index: int) -> str:
        index = int(index)
        if index == 0:
            return ("reconnection heuristic" if self.heuristic_spec == "reconnect"
                    else f"{self.heuristic_spec}'s move (default)")
        if index <= self.offset:
            return f"{self.expert_specs[index - 1]}'s move"
        return self.discrete.describe(index - self.offset)

    # -------------------------------------------------------------- the decision process
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        for _ in range(self.MAX_RESETS):
            obs, info = self.env.reset(seed=seed, options=options)
            seed = None
            self.heuristic.reset(obs, info)
            for agent in self.experts:
                agent.reset(obs, info)
            obs, info, ended = self._advance(obs, info, 0.0, first=True)
            if not ended:
                self._episode_steps = int(info["env_steps"])
                return obs, info
            logger.debug("no danger state in a whole episode; resetting")
        obs, info = self.env.reset()  # pathological threshold: ask at the first step
        self._obs = obs
        self._episode_steps = 0
        return obs, info

    def step(self, action):
        if not self.action_space.contains(np.int64(action)):
            raise ValueError(f"action must be an integer in [0, {self.action_space.n - 1}], "
                             f"got {action!r}")
        self.n_decisions += 1
        obs, reward, terminated, truncated, info = self.env.step(
            self.to_switches(int(action), self._obs))
        info["env_steps"] = 1
        if not (terminated or truncated):
            obs, reward, terminated, truncated, info = self._advance(obs, info, float(reward))
        else:
            self._obs = obs
            reward = float(reward) * self.reward_scale
        self._episode_steps += info["env_steps"]
        info["episode_env_steps"] = self._episode_steps
        return obs, reward, terminated, truncated, info

    def _advance(self, obs: dict, info: dict, total: float, first: bool = False):
        """Play the heuristic until a danger state or the episode's end."""
        n = int(info.get("env_steps", 0))
        auto = 0
        terminated = truncated = False
        while not self.in_danger(obs) and (self.max_auto_steps is None
                                           or auto < self.max_auto_steps):
            obs, reward, terminated, truncated, info = self.env.step(self.heuristic.act(obs))
            total += float(reward)
            n += 1
            auto += 1
            if terminated or truncated:
                break
        info["env_steps"] = n
        self._obs = obs
        if first:
            return obs, info, terminated or truncated
        return obs, total * self.reward_scale, terminated, truncated, info
