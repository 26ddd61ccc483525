"""Stable-Baselines3 on the native vector env: :class:`PowerGridSB3VecEnv`.

An SB3 ``VecEnv`` over :class:`~gym_powergrid.envs.vector.PowerGridVectorEnv` (all grids in
one numba call, in-process: no ``SubprocVecEnv`` workers), with the training recipe's
observation and action spaces (:func:`gym_powergrid.training.wrap_env`): the scaled flat
observations of :class:`~gym_powergrid.envs.wrappers.FlatObservation` and the ``Discrete``
unitary actions of :class:`~gym_powergrid.envs.wrappers.DiscreteUnitaryActions`, whose
legality masks are computed for all grids at once (``action_masks()``, and
``env_method("action_masks")`` as sb3-contrib's ``MaskablePPO`` calls it). Each grid plays
what ``DummyVecEnv`` over ``make_training_env`` plays with the same seeds (tested)::

    from sb3_contrib import MaskablePPO
    from gym_powergrid.integrations.sb3 import PowerGridSB3VecEnv

    venv = PowerGridSB3VecEnv("PowerGrid-case14-v0", n_envs=16)
    venv.seed(0)
    MaskablePPO("MlpPolicy", venv, n_steps=64).learn(2048)

SB3 is imported when the class is built (``pip install "gym-powergrid[rl]"``). Each step's
``infos[i]`` is empty unless grid ``i``'s episode ended: then it holds the single env's last
``info`` plus SB3's ``terminal_observation`` and ``TimeLimit.truncated``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..errors import require

logger = logging.getLogger(__name__)

ACTION_SPACES = ("discrete", "multibinary")
OBSERVATIONS = ("flat", "dict")


def _vec_env_base() -> type:
    vec_env = require("stable_baselines3.common.vec_env", "rl", "PowerGridSB3VecEnv")
    return vec_env.VecEnv


def PowerGridSB3VecEnv(env_id: str = "PowerGrid-case14-v0", n_envs: int = 4, *,  # noqa: N802
                       env_kwargs: dict | None = None, reward: str | None = "survival",
                       action_space: str = "discrete", observation: str = "flat",
                       min_elements: int = 4):
    """An SB3 ``VecEnv`` of ``n_envs`` grids of ``env_id`` on the native vector env.

    Args mirror :func:`gym_powergrid.training.make_training_env`: ``env_kwargs`` (the env's
    keywords), ``reward`` (None keeps the id's), ``action_space`` ``"discrete"`` (unitary
    actions with masks) or ``"multibinary"`` (raw switches), ``observation`` ``"flat"`` or
    ``"dict"``, ``min_elements`` (substations with fewer elements get no configurations).
    """
    cls = _adapter_class()
    return cls(env_id, n_envs, env_kwargs=env_kwargs, reward=reward, action_space=action_space,
               observation=observation, min_elements=min_elements)


_CLASS: list = []


def _adapter_class() -> type:
    if _CLASS:
        return _CLASS[0]
    base = _vec_env_base()

    class _Adapter(_SB3Adapter, base):
        pass

    _Adapter.__name__ = _Adapter.__qualname__ = "PowerGridSB3VecEnv"
    _CLASS.append(_Adapter)
    return _Adapter


class _SB3Adapter:
    """The adapter's methods (mixed into SB3's ``VecEnv`` when SB3 is importable)."""

    def __init__(self, env_id: str, n_envs: int, *, env_kwargs: dict | None, reward,
                 action_space: str, observation: str, min_elements: int) -> None:
        import gymnasium as gym
        from gymnasium.vector import AutoresetMode

        import gym_powergrid  # noqa: F401 - registers the ids

        from ..envs.vector import PowerGridVectorEnv
        from ..envs.wrappers import DiscreteUnitaryActions, FlatObservation

        if action_space not in ACTION_SPACES:
            raise ValueError(f"action_space must be one of {ACTION_SPACES}, got "
                             f"{action_space!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        kwargs = dict(env_kwargs or {})
        if reward is not None:
            kwargs["reward"] = reward
        native = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                              autoreset_mode=AutoresetMode.SAME_STEP, copy=False, **kwargs)
        self.native: PowerGridVectorEnv = native.unwrapped
        env0 = self.native.envs[0]
        self.discrete = (DiscreteUnitaryActions(env0, min_elements=min_elements)
                         if action_space == "discrete" else None)
        self.flat = FlatObservation(env0) if observation == "flat" else None
        obs_space = self.flat.observation_space if self.flat else env0.observation_space
        act_space = self.discrete.action_space if self.discrete else env0.action_space
        super().__init__(n_envs, obs_space, act_space)
        self._n_nodes = env0.action_helper.offset_status
        self._n_line = env0.grid.n_line
        self._actions = None

    # ------------------------------------------------------------------ observations, actions
    def _obs(self, obs: dict):
        if self.flat is not None:
            return self.flat.observation_batch(obs)
        return {k: np.array(v) for k, v in obs.items()}

    def _one_obs(self, obs: dict):
        return self.flat.observation(obs) if self.flat is not None else obs

    def _switches(self, actions) -> np.ndarray:
        if self.discrete is None:
            return actions
        a = np.asarray(actions).reshape(-1)
        n = self.discrete.action_space.n
        if a.shape != (self.num_envs,) or a.dtype.kind not in "iu" or (
                a.size and (a.min() < 0 or a.max() >= n)):
            raise ValueError(f"actions must be {self.num_envs} integers in [0, {n - 1}], got "
                             f"{np.asarray(actions)!r}")
        return self.discrete.batch_to_switches(a, self.native.topologies[:, :self._n_nodes])

    def action_masks(self) -> np.ndarray:
        """Legal unitary actions of every grid (N, n_actions), MaskablePPO's convention."""
        if self.discrete is None:
            raise AttributeError("action_masks needs action_space='discrete'")
        c = self.native.counters()
        status = self.native.topologies[:, self._n_nodes:]
        return self.discrete.batch_action_masks(c["line_cooldown"], status,
                                                c["line_unavailable"], c["sub_cooldown"])

    # ------------------------------------------------------------------ VecEnv API
    def reset(self):
        from ..envs.vector_info import row_info

        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        opts = self._options
        if any(o != opts[0] for o in opts):
            raise ValueError("PowerGridSB3VecEnv.set_options takes the same options for every "
                             "env")
        obs, info = self.native.reset(seed=seeds, options=dict(opts[0]) or None)
        self.reset_infos = [row_info(info, i) for i in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return self._obs(obs)

    def step_async(self, actions) -> None:
        self._actions = actions

    def step_wait(self):
        from ..envs.vector_info import row_info

        obs, rewards, terminated, truncated, info = self.native.step(
            self._switches(self._actions))
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):
            one = row_info(info["final_info"], int(i))
            one["terminal_observation"] = self._one_obs(info["final_obs"][i])
            one["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            infos[i] = one
        return self._obs(obs), rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.native.close()

    def _indices(self, indices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, (int, np.integer)):
            return [int(indices)]
        return [int(i) for i in indices]

    def get_attr(self, attr_name: str, indices=None) -> list:
        if attr_name == "action_masks":
            return [self.action_masks] * len(self._indices(indices))
        return [getattr(self.native.envs[i], attr_name) for i in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        for i in self._indices(indices):
            setattr(self.native.envs[i], attr_name, value)

    def env_method(self, method_name: str, *args, indices=None, **kwargs) -> list:
        idx = self._indices(indices)
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in idx]
        self.native.sync_states()
        return [getattr(self.native.envs[i], method_name)(*args, **kwargs) for i in idx]

    def has_attr(self, attr_name: str) -> bool:
        if attr_name == "action_masks":
            return self.discrete is not None
        return hasattr(self.native.envs[0], attr_name)

    def env_is_wrapped(self, wrapper_class, indices=None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def get_images(self):
        raise NotImplementedError("the native vector env does not render")

