"""The :class:`Agent` base class: pypownet's agent interface over a Gymnasium env.

An agent is built from the environment (wrapped or not) and a seed, returns a switch vector
(``MultiBinary``, pypownet layout) from :meth:`Agent.act`, and may learn in
:meth:`Agent.feed_reward`. The :class:`~gym_powergrid.runner.Runner` drives the loop::

    obs, info = env.reset(seed=seed)
    agent.reset(obs, info)
    while not done:
        action = agent.act(obs)
        obs, reward, terminated, truncated, info = env.step(action)
        agent.feed_reward(action, obs, reward, info)
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

logger = logging.getLogger(__name__)


class Agent:
    """Base class of every controller; on its own it is pypownet's do-nothing policy.

    Args:
        env: the environment (a :class:`~gym_powergrid.envs.PowerGridEnv`, possibly wrapped:
            the agent reads ``env.unwrapped`` for the action helper, grid and game state).
        seed: seed of the agent's own random generator :attr:`rng`.

    Attributes:
        env: the environment given.
        rng: ``numpy.random.Generator`` seeded with ``seed``.
        action_helper: pypownet's ``ActionSpace`` builders
            (:class:`~gym_powergrid.envs.actions.ActionHelper`).
    """

    #: short name in the agent registry (``gym-powergrid run --agent NAME``)
    name: ClassVar[str] = "agent"

    def __init__(self, env: Any, seed: int | None = None) -> None:
        self.env = env
        base = getattr(env, "unwrapped", env)
        if not hasattr(base, "action_helper"):
            raise TypeError(f"{type(self).__name__} needs a gym_powergrid PowerGridEnv (possibly "
                            f"wrapped), got {type(env).__name__} without an action_helper")
        self.base_env = base
        self.action_helper = base.action_helper
        self.seed(seed)

    # ------------------------------------------------------------------ interface
    def seed(self, seed: int | None = None) -> None:
        """(Re)seed the agent's random generator."""
        self.seed_value = seed
        self.rng = np.random.default_rng(seed)

    def reset(self, observation: Any, info: dict | None = None) -> None:
        """Called by the runner at the start of every episode (default: nothing)."""

    def act(self, observation: Any) -> np.ndarray:
        """Return the action (int8 switch vector) for ``observation``; default: do nothing."""
        return self.do_nothing()

    def feed_reward(self, action: np.ndarray, observation: Any, reward: float,
                    info: dict) -> None:
        """Receive the consequence of ``action`` (default: ignore it, i.e. no learning)."""

    def close(self) -> None:
        """Release resources (files...); called by the runner at the end of a run."""

    # ------------------------------------------------------------------ helpers
    @property
    def grid(self):
        """The grid arrays of the environment."""
        return self.base_env.grid

    @property
    def state(self):
        """The environment's current :class:`~gym_powergrid.core.rules.GameState`."""
        return self.base_env.state

    def do_nothing(self) -> np.ndarray:
        """A fresh do-nothing action."""
        return self.action_helper.get_do_nothing_action()

    @property
    def stats(self) -> dict[str, float]:
        """Numbers the runner adds to its summary (e.g. candidates per second)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed_value!r})"


def action_indices(action: np.ndarray) -> list[int]:
    """Positions of the 1s of an action (how the runner logs actions)."""
    return [int(i) for i in np.flatnonzero(np.asarray(action))]
