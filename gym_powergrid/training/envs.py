"""Training environments: chronic subsets, the recipe's wrappers, vectorised envs."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np

from .config import TrainConfig, _require_sb3

logger = logging.getLogger(__name__)


class ChronicSubset(gym.Wrapper):
    """Play only some chronics: each new episode starts on one of ``chronics``.

    After a game over in ``soft``/``easy`` mode the chronic goes on from the next step (the
    env's own rule); otherwise the next chronic is drawn uniformly from ``chronics`` (seeded by
    ``reset(seed=...)``). A reset with explicit ``options`` is passed through unchanged.

    Args:
        env: a gym_powergrid env (possibly wrapped).
        chronics: allowed chronic names or indices.
        random_start: start new chronics at a random step instead of step 0.
    """

    def __init__(self, env: gym.Env, chronics: Sequence[str | int],
                 random_start: bool = False) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not chronics:
            raise ValueError("ChronicSubset needs at least one chronic")
        for c in chronics:
            base.chronics.index(c)  # raises ChronicError with close names for unknown ones
        self.chronics = list(chronics)
        self.random_start = bool(random_start)
        self._rng = np.random.default_rng()
        self._game_over = False

    def _continues(self) -> bool:
        base = self.env.unwrapped
        if not self._game_over or base.state is None or base.current_chronic is None:
            return False
        if base.config.game_over_mode not in ("soft", "easy"):
            return False
        return base.state.step + 1 < base.current_chronic.n_steps

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        options = dict(options or {})
        if "chronic" not in options and "start_step" not in options and not self._continues():
            chronic = self.chronics[int(self._rng.integers(len(self.chronics)))]
            options["chronic"] = chronic
            if self.random_start:
                n = self.env.unwrapped.chronics[chronic].n_steps
                options["start_step"] = int(self._rng.integers(max(n - 1, 1)))
        self._game_over = False
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._game_over = bool(terminated)
        return obs, reward, terminated, truncated, info


def wrap_env(env: gym.Env, action_space: str = "discrete", observation: str = "flat",
             min_elements: int = 4, danger_threshold: float = 0.95,
             expert: str | Sequence[str] | None = None,
             heuristic: str = "reconnect", top_k: int = 4,
             reward_scale: float = 1.0) -> gym.Env:
    """Apply the action and observation wrappers of a training recipe to ``env``.

    With ``action_space="candidates"`` the observation is the candidates' own (flat
    observation + slot features, :mod:`gym_powergrid.training.candidates`) whatever
    ``observation`` says."""
    from ..envs.guard import GuardedActions
    from ..envs.wrappers import DiscreteUnitaryActions, FlatObservation

    if action_space == "candidates":
        from .candidates import CandidateActions

        return CandidateActions(env, threshold=danger_threshold, min_elements=min_elements,
                                heuristic=heuristic, expert=expert, top_k=top_k,
                                reward_scale=reward_scale)
    if action_space == "guarded":
        env = GuardedActions(env, threshold=danger_threshold, min_elements=min_elements,
                             expert=expert, heuristic=heuristic, reward_scale=reward_scale)
    elif action_space == "discrete":
        env = DiscreteUnitaryActions(env, min_elements=min_elements)
    if observation == "flat":
        env = FlatObservation(env)
    return env


def make_training_env(env_id: str = "PowerGrid-case14-v0", env_kwargs: dict | None = None,
                      reward: str | None = "survival", action_space: str = "discrete",
                      observation: str = "flat", min_elements: int = 4,
                      chronics: Sequence[str | int] | None = None, random_start: bool = False,
                      monitor_file: str | None = None,
                      danger_threshold: float = 0.95,
                      expert: str | Sequence[str] | None = None,
                      heuristic: str = "reconnect", top_k: int = 4,
                      reward_scale: float = 1.0) -> gym.Env:
    """One training env: ``gymnasium.make`` + wrappers + :class:`ChronicSubset` + ``Monitor``.

    Built from plain arguments, so a ``functools.partial`` of it pickles into ``SubprocVecEnv``
    workers. ``reward=None`` keeps the env's own; ``chronics=None`` allows all of them;
    ``monitor_file`` is the path prefix of an SB3 ``Monitor`` CSV (None: no Monitor); the other
    arguments are :class:`TrainConfig`'s.
    """
    import gym_powergrid  # noqa: F401 - registers the ids in worker processes

    kwargs = dict(env_kwargs or {})
    if reward is not None:
        kwargs["reward"] = reward
    env = wrap_env(gym.make(env_id, **kwargs), action_space, observation, min_elements,
                   danger_threshold, expert, heuristic, top_k, reward_scale)
    if chronics is not None:
        env = ChronicSubset(env, chronics, random_start=random_start)
    if monitor_file is not None:
        from stable_baselines3.common.monitor import Monitor

        keys = ("game_over_reason",) + (("episode_env_steps",) if action_space in ("guarded",
                                                                              "candidates")
                                        else ())
        env = Monitor(env, monitor_file, info_keywords=keys)
    return env


def split_chronics(names: Sequence[str], n_heldout: int = 8,
                   train: Sequence[str] | None = None,
                   heldout: Sequence[str] | None = None,
                   seed: int = 0) -> tuple[list[str], list[str]]:
    """Split chronic names into (training, held-out), both in the chronics' order.

    By default ``n_heldout`` chronics drawn uniformly at random with ``seed`` (across the
    whole year, not its end) are held out; explicit ``train`` / ``heldout`` names override the
    draw. With fewer chronics than ``n_heldout`` + 1, all but one are held out; with a single
    chronic, it is used for both (and a warning is logged).
    """
    names = list(names)
    if train is not None or heldout is not None:
        held = list(heldout) if heldout is not None else [n for n in names if n not in train]
        tr = list(train) if train is not None else [n for n in names if n not in held]
    elif len(names) == 1:
        tr, held = names, names
    else:
        k = min(n_heldout, len(names) - 1)
        pick = set(np.random.default_rng(seed).choice(len(names), size=k, replace=False))
        tr = [n for i, n in enumerate(names) if i not in pick]
        held = [n for i, n in enumerate(names) if i in pick]
    unknown = sorted(set(tr + held) - set(names))
    if unknown:
        raise ValueError(f"unknown chronic(s) {unknown}; available: {', '.join(names)}")
    if not tr or not held:
        raise ValueError(f"need at least one training and one held-out chronic, got train={tr} "
                         f"held-out={held}")
    if set(tr) & set(held):
        logger.warning("chronics %s are used both for training and evaluation",
                       sorted(set(tr) & set(held)))
    return tr, held


def make_vec_env(cfg: TrainConfig, chronics: Sequence[str] | None,
                 monitor_dir: str | os.PathLike | None = None):
    """The vectorized training env of ``cfg`` (``SubprocVecEnv``, ``DummyVecEnv`` or the
    native vector env), seeded."""
    _require_sb3(cfg.algo)
    if cfg.vec_env == "native":
        return _native_vec_env(cfg, chronics, monitor_dir)
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    fns: list[Callable[[], gym.Env]] = []
    for rank in range(cfg.n_envs):
        monitor = None if monitor_dir is None else str(Path(monitor_dir) / str(rank))
        fns.append(functools.partial(
            make_training_env, cfg.env_id, cfg.env_kwargs, cfg.reward, cfg.action_space,
            cfg.observation, cfg.min_elements, None if chronics is None else list(chronics),
            cfg.random_start, monitor, cfg.danger_threshold, cfg.expert, cfg.heuristic,
            cfg.top_k, cfg.reward_scale))
    if cfg.vec_env == "subproc" and cfg.n_envs > 1:
        venv = SubprocVecEnv(fns, start_method=cfg.start_method)
    else:
        venv = DummyVecEnv(fns)
    venv.seed(cfg.seed)
    return venv




def _native_vec_env(cfg: TrainConfig, chronics: Sequence[str] | None,
                    monitor_dir: str | os.PathLike | None):
    """``PowerGridSB3VecEnv`` on the training chronics (each grid draws one at random at each
    reset, seeded, as :class:`ChronicSubset` does) with a ``VecMonitor``."""
    from stable_baselines3.common.vec_env import VecMonitor

    from ..integrations.sb3 import PowerGridSB3VecEnv

    kwargs = dict(cfg.env_kwargs or {})
    if chronics is not None:
        import gym_powergrid  # noqa: F401 - registers the ids

        probe = gym.make(cfg.env_id, **kwargs).unwrapped
        # (ChronicSet's indexing raises a ChronicError naming close names for unknown ones)
        kwargs["chronics"] = [probe.chronics[c] for c in chronics]
        kwargs["chronic_looping_mode"] = "random"
        probe.close()
    venv = PowerGridSB3VecEnv(cfg.env_id, cfg.n_envs, env_kwargs=kwargs, reward=cfg.reward,
                              action_space=cfg.action_space, observation=cfg.observation,
                              min_elements=cfg.min_elements)
    if monitor_dir is not None:
        venv = VecMonitor(venv, str(Path(monitor_dir) / "native"),
                          info_keywords=("game_over_reason",))
    venv.seed(cfg.seed)
    return venv
