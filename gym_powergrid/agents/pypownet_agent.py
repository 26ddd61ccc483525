"""Play a pypownet agent, unchanged, as a gym_powergrid :class:`~gym_powergrid.agents.Agent`.

``--agent pypownet:path/to/file.py:ClassName`` (CLI) or
``make_agent("pypownet:path/to/file.py:ClassName", env, seed=0)`` loads a pypownet 2.2.9 agent
file (``import pypownet.agent``, ``class MyAgent(pypownet.agent.Agent)``) with the adapter of
:mod:`gym_powergrid.agents.pypownet_compat` and wraps it in :class:`PypownetAgent`:

* the pypownet agent is built as ``ClassName(environment)``, ``environment`` being pypownet's
  ``RunEnv`` over this env (``action_space``, ``observation_space``, ``simulate``);
* each step its ``act`` receives pypownet's observation array and may return an ``Action`` or
  a binary array; ``feed_reward(action, consequent_observation, rewards_aslist)`` follows the
  step, ``rewards_aslist`` being the list of the env's reward components;
* the shim answers ``import pypownet...`` while the file is loaded and the agent is built
  (``sys.modules`` is restored after); the agent's methods use the modules they imported then,
  so an ``import pypownet...`` inside ``act`` itself is not served (a pypownet reward file of
  the env keeps its own stand-in, :mod:`gym_powergrid.envs.rewards`);
* the seed seeds numpy's global generator (``np.random.seed``), which pypownet agents draw
  from, as pypownet's ``RunEnv(seed=...)`` does.

See docs/pypownet_agents.md for what is supported.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np

from .base import Agent
from .pypownet_compat import pypownet_modules
from .pypownet_compat.actions import Action
from .pypownet_compat.environment import RunEnv
from .pypownet_compat.errors import PypownetAgentError
from .pypownet_compat.loader import PREFIX, load_pypownet_class, parse_spec
from .pypownet_compat.observation import to_pypownet_array

logger = logging.getLogger(__name__)


class PypownetAgent(Agent):
    """A pypownet agent class played on a PowerGridEnv (built by :func:`pypownet_agent_class`).

    Args:
        env: the environment (a PowerGridEnv, possibly wrapped, with its Dict observation).
        seed: seeds ``np.random`` (the generator pypownet agents use) and :attr:`rng`.

    Attributes:
        environment: pypownet's ``RunEnv`` given to the pypownet agent.
        pypownet_agent: the pypownet agent instance.
    """

    name: ClassVar[str] = "pypownet"
    #: the pypownet agent class (set on the subclasses :func:`pypownet_agent_class` makes)
    pypownet_class: ClassVar[type | None] = None
    spec: ClassVar[str] = ""

    def __init__(self, env: Any, seed: int | None = None, **options: Any) -> None:
        if options:
            raise PypownetAgentError(
                f"{self.spec or 'a pypownet agent'} takes no options (pypownet builds agents as "
                f"ClassName(environment)); got {', '.join(sorted(options))}")
        if self.pypownet_class is None:
            raise TypeError("PypownetAgent is played through a spec: "
                            "make_agent('pypownet:path/to/file.py:ClassName', env)")
        super().__init__(env, seed=seed)
        self.environment = RunEnv(env)
        self._last_returned: Any = None
        with pypownet_modules():
            self.pypownet_agent = self.pypownet_class(self.environment)

    def seed(self, seed: int | None = None) -> None:
        super().seed(seed)
        if seed is not None:
            np.random.seed(seed)  # noqa: NPY002 - pypownet agents draw from it

    def reset(self, observation: Any, info: dict | None = None) -> None:
        self.environment.observe(observation)

    def act(self, observation: Any) -> np.ndarray:
        self.environment.observe(observation)
        array = to_pypownet_array(observation)
        returned = self.pypownet_agent.act(array)
        self._last_returned = returned
        try:
            return self.environment.action_space.to_vector(returned)
        except (ValueError, TypeError) as exc:
            raise PypownetAgentError(
                f"{self.spec}: act() returned {type(returned).__name__} that is not an action: "
                f"{exc}. Return an Action (action_space.get_do_nothing_action("
                "as_class_Action=True)) or a binary array of length "
                f"{self.environment.action_space.action_length}") from None

    def feed_reward(self, action: np.ndarray, observation: Any, reward: float,
                    info: dict) -> None:
        self.environment.observe(observation)
        rewards = [float(v) for v in (info.get("reward_components") or {"reward": reward}
                                      ).values()]
        returned = self._last_returned if self._last_returned is not None else action
        self.pypownet_agent.feed_reward(returned, to_pypownet_array(observation), rewards)

    def __repr__(self) -> str:
        return f"PypownetAgent({self.spec!r}, seed={self.seed_value!r})"


def is_pypownet_spec(spec: Any) -> bool:
    """True for a ``pypownet:...`` agent spec."""
    return isinstance(spec, str) and spec.startswith(PREFIX)


def pypownet_agent_class(spec: str) -> type[PypownetAgent]:
    """A :class:`PypownetAgent` subclass playing the pypownet class named by ``spec``.

    Raises:
        PypownetAgentError: malformed spec, missing file or class (with a close name), a class
            that is not a pypownet agent, or one using pypownet APIs the adapter lacks.
    """
    path, name = parse_spec(spec)
    cls = load_pypownet_class(spec)
    return type(f"{name}", (PypownetAgent,), {
        "pypownet_class": cls, "spec": f"{PREFIX}{path}:{name}",
        "__module__": "pypownet", "__qualname__": f"{path}:{name}",
        "__doc__": f"pypownet agent {name} of {path}, played by the adapter."})


__all__ = ["PypownetAgent", "PypownetAgentError", "Action", "is_pypownet_spec",
           "pypownet_agent_class"]
