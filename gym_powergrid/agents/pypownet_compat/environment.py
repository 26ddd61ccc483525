"""pypownet's ``RunEnv`` as seen by an agent, over a :class:`~gym_powergrid.envs.PowerGridEnv`.

A pypownet agent is built as ``Agent(environment)`` and uses ``environment.action_space``,
``environment.observation_space`` and ``environment.simulate(action, do_sum=True)``. This
:class:`RunEnv` gives it exactly that, and names any other part of pypownet's API it touches
(:class:`UnsupportedPypownetAPI`).

``simulate`` maps to :meth:`PowerGridEnv.simulate` in the env's own load-flow mode (pypownet
2.2.9 simulates in the mode of its steps: its DC switch is commented out), on the planned
injections, without hazards, and returns what pypownet 2.2.9 returns: the tuple
``(observation array or None at a game over, reward, done, flag)``, ``reward`` being the sum of
the reward components or, with ``do_sum=False``, their list (pypownet's ``reward_aslist``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .actions import Action, ActionSpace, ElementType
from .errors import UnsupportedPypownetAPI, unsupported
from .observation import Observation, ObservationSpace, to_pypownet_array

logger = logging.getLogger(__name__)

SUPPORTED_RUNENV = ("action_space", "observation_space", "simulate", "get_observation",
                    "get_current_chronic_name", "get_current_datetime", "parameters_folder",
                    "game_over_mode", "last_rewards")


# ---------------------------------------------------------------- pypownet's exceptions (flags)
class IllegalActionException(Exception):
    """pypownet's flag for an action partly or wholly refused by the rules."""

    def __init__(self, text, has_too_much_activations, illegal_lines_reconnections,
                 illegal_unavailable_lines_switches, illegal_oncoolown_substations_switches,
                 *args):
        super().__init__(*args)
        self.text = text
        self.has_too_much_activations = has_too_much_activations
        self.illegal_broken_lines_reconnections = illegal_lines_reconnections
        self.illegal_oncooldown_lines_switches = illegal_unavailable_lines_switches
        self.illegal_oncoolown_substations_switches = illegal_oncoolown_substations_switches

    def get_has_too_much_activations(self):
        return self.has_too_much_activations

    def get_illegal_broken_lines_reconnections(self):
        return self.illegal_broken_lines_reconnections

    def get_illegal_oncoolown_lines_switches(self):
        return self.illegal_oncooldown_lines_switches

    def get_illegal_oncoolown_substations_switches(self):
        return self.illegal_oncoolown_substations_switches

    @property
    def is_empty(self) -> bool:
        return (self.has_too_much_activations is False
                and self.illegal_broken_lines_reconnections is None
                and self.illegal_oncooldown_lines_switches is None
                and self.illegal_oncoolown_substations_switches is None)


class DivergingLoadflowException(Exception):
    """pypownet's flag for a power flow that did not converge (game over)."""

    def __init__(self, last_observation, *args):
        super().__init__(last_observation, *args)
        self.last_observation = last_observation
        self.text = args[0] if args else "the power flow diverged"


class TooManyProductionsCut(Exception):
    """pypownet's flag for too many isolated productions (game over)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.text = args[0] if args else "too many productions cut"


class TooManyConsumptionsCut(Exception):
    """pypownet's flag for too many isolated loads (game over)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.text = args[0] if args else "too many loads cut"


class NoMoreScenarios(Exception):
    pass


def _mask(ids: list[int], n: int) -> np.ndarray | None:
    if not ids:
        return None
    m = np.zeros(n, dtype=bool)
    m[np.asarray(ids, dtype=int)] = True
    return m


def flag_of(info: dict, n_line: int, n_sub: int):
    """pypownet's flag (an exception instance or None) for a step's ``info``."""
    reason = info.get("game_over_reason")
    message = info.get("game_over_message") or str(reason)
    if reason == "diverged":
        return DivergingLoadflowException(None, message)
    if reason == "too_many_loads_cut":
        return TooManyConsumptionsCut(message)
    if reason == "too_many_prods_cut":
        return TooManyProductionsCut(message)
    ill = info.get("illegal") or {}
    too_many = bool(ill.get("replaced_by_do_nothing"))
    broken = _mask(ill.get("illegal_reconnections") or [], n_line)
    cooldown = _mask(ill.get("lines_on_cooldown") or [], n_line)
    subs = _mask(ill.get("substations_on_cooldown") or [], n_sub)
    if too_many or broken is not None or cooldown is not None or subs is not None:
        return IllegalActionException(ill.get("reason") or "illegal action", too_many, broken,
                                      cooldown, subs)
    return None


class RunEnv:
    """The ``environment`` a pypownet agent is built with (see the module docstring).

    Args:
        env: a :class:`~gym_powergrid.envs.PowerGridEnv`, possibly wrapped (the wrappers must
            keep the ``Dict`` observation).
    """

    def __init__(self, env: Any, *args: Any, **kwargs: Any) -> None:
        base = getattr(env, "unwrapped", env)
        if args or kwargs or not hasattr(base, "action_helper"):
            raise TypeError(
                "pypownet.environment.RunEnv is built by gym_powergrid's adapter around a "
                "PowerGridEnv, not from a parameters folder; play the agent with "
                "'gym-powergrid run --parameters FOLDER --agent pypownet:FILE.py:Class'")
        self.env = env
        self.base_env = base
        self.action_space = ActionSpace(base)
        self.observation_space = ObservationSpace(base)
        self.parameters_folder = getattr(base, "parameters_folder", None)
        self.game_over_mode = base.config.game_over_mode
        self.last_rewards: list[float] = []
        self._mode = "AC" if str(base.config.loadflow_mode).upper() == "AC" else "DC"
        self._observation: dict | None = None

    def observe(self, observation: dict) -> None:
        """Record the env's latest observation (the adapter calls it before every act)."""
        self._observation = observation

    def simulate(self, action, do_sum=True):
        """pypownet's one-step look-ahead: ``(observation, reward, done, flag)``."""
        vec = self.action_space.to_vector(action)
        obs, _, done, info = self.base_env.simulate(vec, loadflow_mode=self._mode)
        rewards = [float(v) for v in info["reward_components"].values()]
        self.last_rewards = rewards
        flag = flag_of(info, self.base_env.grid.n_line, self.base_env.grid.n_sub)
        array = None if done else to_pypownet_array(obs)
        return array, (sum(rewards) if do_sum else rewards), bool(done), flag

    def get_observation(self, as_array=True):
        """The current observation (array, or :class:`Observation` with ``as_array=False``)."""
        if self._observation is None:
            raise RuntimeError("RunEnv.get_observation(): no observation yet (the env has not "
                               "been reset by the runner)")
        array = to_pypownet_array(self._observation)
        return array if as_array else self.observation_space.array_to_observation(array)

    def get_current_chronic_name(self) -> str:
        return str(self.base_env.current_chronic.name)

    def get_current_datetime(self):
        import datetime as dt

        c = self.base_env.current_chronic
        step = self.base_env.state.step
        return dt.datetime.fromisoformat(str(np.datetime_as_string(c.datetimes[step], "s")))

    # pypownet's RunEnv methods that drive the game: the runner owns them here
    def _not_for_agents(self, name: str):
        raise UnsupportedPypownetAPI(
            f"RunEnv.{name}() is not available to agents under gym_powergrid's pypownet adapter "
            "(the Runner steps and resets the env); agents may use: "
            + ", ".join(SUPPORTED_RUNENV))

    def step(self, *args, **kwargs):
        self._not_for_agents("step")

    def reset(self, *args, **kwargs):
        self._not_for_agents("reset")

    def process_game_over(self, *args, **kwargs):
        self._not_for_agents("process_game_over")

    def render(self, *args, **kwargs):
        self._not_for_agents("render")

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise unsupported("RunEnv", name, SUPPORTED_RUNENV)


__all__ = ["RunEnv", "ActionSpace", "ObservationSpace", "Observation", "Action", "ElementType",
           "IllegalActionException", "DivergingLoadflowException", "TooManyProductionsCut",
           "TooManyConsumptionsCut", "NoMoreScenarios", "UnsupportedPypownetAPI", "flag_of"]
