"""Multi-step look-ahead: ``PowerGridEnv.simulate(action, horizon=h)``.

The action is applied at the next step, then a follow-up policy (do-nothing by default) plays
the ``h - 1`` steps after it. Every simulated step is an ordinary transition of the game
(:meth:`PowerGridEnv.simulate`'s one-step rules, composed ``h`` times on copies of the state):

* step ``t + k`` (``k = 1 .. h``, ``t`` the current step) runs its power flow on the **planned
  injections of row** ``t + k`` (``Chronic.*_planned_*[t + k]``, the forecast of step ``t + k``;
  the one-step ``simulate`` uses row ``t + 1`` the same way);
* **maintenance** is known in advance: the outages of row ``t + k`` start at step ``t + k``;
  **hazards** are not (none are simulated, as in the one-step ``simulate``);
* cooldowns, outage counters, overflow counters and soft / hard overflow breaks carry from one
  simulated step to the next, so a line overflowed at ``t + 1`` may break at ``t + 3``;
* each step's power flow starts from the same point as the one-step ``simulate`` (the
  simulation backend's own start; in DC there is no iteration). The env's own power flow, its
  warm start and its state are never touched: the next real step gives the same result as in an
  env that never simulated.

A predicted game over ends the simulation at that step (the game would reset there).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigurationError


@dataclass
class HorizonResult:
    """What ``simulate(action, horizon=h)`` predicts.

    Attributes:
        observations: predicted observations of steps ``t + 1 .. t + n`` (``n <= h``: the list
            stops at a predicted game over).
        rewards: the reward of each of those steps (the env's reward function).
        infos: the ``info`` dict of each step (as ``step``'s, with ``reward_components``).
        game_over_step: ``k`` (1-based, ``1 <= k <= h``) when a game over is predicted at step
            ``t + k``, else None.
        horizon: the requested ``h``.
        timesteps: the chronic rows of the simulated steps.
    """

    observations: list[dict]
    rewards: list[float]
    infos: list[dict]
    game_over_step: int | None
    horizon: int
    timesteps: list[int] = field(default_factory=list)

    @property
    def terminated(self) -> bool:
        """True when a game over is predicted within the horizon."""
        return self.game_over_step is not None

    @property
    def total_reward(self) -> float:
        """Sum of the predicted rewards."""
        return float(sum(self.rewards))

    def discounted_reward(self, gamma: float) -> float:
        """``sum_k gamma**(k-1) * reward_k`` over the simulated steps."""
        return float(sum(r * gamma ** k for k, r in enumerate(self.rewards)))

    def __len__(self) -> int:
        return len(self.observations)


def max_horizon(env) -> int:
    """Largest horizon allowed now: the planned steps left in the chronic after the current one."""
    return max(0, env.current_chronic.n_steps - 1 - env.state.step)


def check_horizon(env, horizon: Any) -> int:
    """``horizon`` as an int in ``1 .. max_horizon(env)``, else a ConfigurationError with the
    allowed range."""
    hi = max_horizon(env)
    ok = isinstance(horizon, (int, np.integer)) and not isinstance(horizon, (bool, np.bool_))
    h = int(horizon) if ok else None
    if h is not None and 1 <= h <= hi:
        return h
    where = (f"the env is at step {env.state.step} of chronic {env.current_chronic.name!r} "
             f"({env.current_chronic.n_steps} steps)")
    if hi == 0:
        raise ConfigurationError(f"simulate: horizon={horizon!r} is not possible: {where}, so no "
                                 "planned step is left to simulate; call reset()")
    raise ConfigurationError(f"simulate: horizon must be an integer from 1 to {hi} ({where}), "
                             f"got {horizon!r}")


def _follow_up(policy) -> Callable[[dict], Any] | None:
    if policy is None:
        return None
    if hasattr(policy, "act") and callable(policy.act):
        return policy.act
    if callable(policy):
        return policy
    raise ConfigurationError(f"simulate: policy must be None (do-nothing), a callable "
                             f"observation -> action or an object with act(observation), got "
                             f"{policy!r}")


def simulate_horizon(step: Callable, state, action: np.ndarray, horizon: int, action_helper,
                     policy=None) -> HorizonResult:
    """Play ``action`` then ``policy`` (None: do-nothing) over ``horizon`` planned steps.

    ``step(state, action) -> (new_state, obs, reward, terminated, info)`` is one simulated
    transition (the env's; ``state`` is never mutated); ``action`` a validated action;
    ``horizon`` checked by :func:`check_horizon`. The follow-up policy sees the predicted
    observations only (an agent reading ``env.state`` would see the real state, not the
    simulated one).
    """
    from .actions import validate_action

    follow = _follow_up(policy)
    do_nothing = action_helper.do_nothing()
    result = HorizonResult([], [], [], None, int(horizon))
    a = action
    for k in range(1, horizon + 1):
        state, obs, reward, terminated, info = step(state, a)
        result.observations.append(obs)
        result.rewards.append(reward)
        result.infos.append(info)
        result.timesteps.append(int(info["timestep"]))
        if terminated:
            result.game_over_step = k
            break
        if k < horizon:
            a = do_nothing if follow is None else validate_action(follow(obs),
                                                                   action_helper.action_length)
    return result


def discount_weights(horizon: int, gamma: float) -> np.ndarray:
    """``gamma ** k`` for ``k = 0 .. horizon - 1`` (float64), checked: ``0 < gamma <= 1``."""
    if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and 0.0 < gamma <= 1.0):
        raise ValueError(f"discount must be a number in (0, 1], got {gamma!r}")
    return np.power(float(gamma), np.arange(horizon, dtype=np.float64))
