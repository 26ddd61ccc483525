"""Train stable-baselines3 agents on gym_powergrid and compare them with the baselines.

Default recipe (the README's Training section): MaskablePPO (sb3-contrib) on
``PowerGrid-case14-hard-v0`` with :class:`~gym_powergrid.envs.guard.GuardedActions` (the
policy is asked only when a line is loaded at 95% of its limit or more; the one-step greedy
search plays the other steps; action 0 = greedy's move, then the unitary actions of
:class:`~gym_powergrid.envs.wrappers.DiscreteUnitaryActions`),
:class:`~gym_powergrid.envs.wrappers.FlatObservation` and ``reward="survival"``, in ``n_envs``
``SubprocVecEnv`` processes. ``n_heldout`` chronics drawn at random with ``split_seed`` are
held out; the trained policy then plays them (once per ``eval_seeds`` seed) next to
do-nothing, reconnect and greedy through the agent benchmark
(:mod:`gym_powergrid.agents.compare`: episodes end at the first game over, env's own reward)::

    python -m gym_powergrid.training --json results/training.json

``--out`` receives ``model.zip``, ``model.json`` (the recipe, to rebuild the wrappers),
``monitor/`` (SB3 ``Monitor`` CSVs, one row per training episode), ``learning_curve.png`` and
``evaluation/`` (the benchmark's ``episodes.csv``, ``agents.csv``, ``survival.png``).

Algorithms: ``maskable-ppo`` and ``dqn`` (``--action-space discrete``), ``ppo`` (``discrete``
or ``multibinary``, the raw switches). Observations: ``flat`` (``MlpPolicy``) or ``dict``
(``MultiInputPolicy`` on pypownet's ``Dict``). In Python::

    result = train(TrainConfig(timesteps=20_000, out="runs/demo"))
    agent = PolicyAgent(env, path=result.model_path)  # an Agent: act(observation) -> switches

and from the command line, like any agent: ``gym-powergrid run PowerGrid-case14-v0 --agent
gym_powergrid.training:PolicyAgent --agent-option path=runs/demo/model.zip``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from .agents.base import Agent

logger = logging.getLogger(__name__)

ALGOS = ("maskable-ppo", "ppo", "dqn")
ACTION_SPACES = ("guarded", "discrete", "multibinary")
OBSERVATIONS = ("flat", "dict")
#: Allowed values of the :class:`TrainConfig` fields that take a name.
CHOICES: dict[str, tuple] = {"algo": ALGOS, "action_space": ACTION_SPACES,
                             "observation": OBSERVATIONS, "vec_env": ("subproc", "dummy"),
                             "start_method": (None, "fork", "forkserver", "spawn")}
_INSTALL_HINT = 'pip install "gym-powergrid[rl]"'
#: Environment variable read by :class:`PolicyAgent` when no model is given.
MODEL_ENV_VAR = "GYM_POWERGRID_MODEL"


def _require_sb3(algo: str = "ppo") -> None:
    """Raise an ImportError with the install line when SB3 (or sb3-contrib) is missing."""
    try:
        import stable_baselines3  # noqa: F401

        if algo == "maskable-ppo":
            import sb3_contrib  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"training needs stable-baselines3 and sb3-contrib ({exc}); "
                          f"install them with: {_INSTALL_HINT}") from exc


def algo_class(algo: str) -> type:
    """The SB3 class of an algorithm name (``maskable-ppo``, ``ppo`` or ``dqn``)."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algo {algo!r}; choose one of {', '.join(ALGOS)}")
    _require_sb3(algo)
    import importlib

    module, name = {"maskable-ppo": ("sb3_contrib", "MaskablePPO"),
                    "ppo": ("stable_baselines3", "PPO"), "dqn": ("stable_baselines3", "DQN")}[algo]
    return getattr(importlib.import_module(module), name)


@dataclass
class TrainConfig:
    """Settings of a training run (the command line has the same names, ``--n-envs``...).

    Attributes:
        algo: ``"maskable-ppo"``, ``"ppo"`` or ``"dqn"``.
        env_id: registered env id.
        env_kwargs: ``gymnasium.make`` keywords for training and evaluation envs (picklable,
            e.g. ``{"parameters": folder}``).
        reward: training reward (the evaluation uses the env's own, as the benchmark does).
        action_space: ``"guarded"`` (unitary actions asked only in danger states, the
            reconnection heuristic otherwise: the reference recipe), ``"discrete"`` (unitary
            actions at every step) or ``"multibinary"`` (raw switches).
        observation: ``"flat"`` (``MlpPolicy``) or ``"dict"`` (``MultiInputPolicy``).
        min_elements: substations with at least this many elements get configuration actions.
        danger_threshold: with ``action_space="guarded"``, the policy is asked only when an
            in-service line's capacity usage reaches this (the reconnection heuristic plays
            the other steps; :class:`~gym_powergrid.envs.guard.GuardedActions`).
        default_prior: with guarded actions and a PPO policy, the initial probability of
            action 0 (the heuristic's move), shared equally with the experts' moves (actions
            1 .. k), set through the bias of the action layer, so that learning starts from
            the heuristics instead of random topology changes (0: SB3's uniform start).
        heuristic: with guarded actions, the agent spec that plays outside danger states and
            whose move is action 0 (the recipe: ``"greedy"``, the one-step greedy search;
            ``"reconnect"``: the line-reconnection heuristic).
        expert: with guarded actions, agent specs (a name such as ``"greedy"``, options in
            brackets as in the agent benchmark: ``"greedy[horizon=6]"``) whose moves are
            actions 1 .. k (:class:`~gym_powergrid.envs.guard.GuardedActions`); a single
            string is one expert, None or ``()`` none.
        timesteps: training budget (environment steps, all processes together).
        n_envs: parallel environments.
        vec_env: ``"subproc"`` (one process each) or ``"dummy"`` (in process).
        start_method: ``SubprocVecEnv`` start method (None: SB3's, ``forkserver`` on Linux;
            ``"fork"`` starts workers in a second instead of re-importing pandapower and the
            numba kernels, at fork's usual risks).
        n_heldout: this many chronics, drawn at random with ``split_seed``, are held out.
        split_seed: seed of the held-out draw (recorded in ``model.json`` and printed).
        train_chronics, heldout_chronics: explicit chronic names (override ``n_heldout``).
        random_start: start new training episodes at a random step of their chronic.
        seed: seed of the model and the environments.
        out: output folder.
        learning_rate, n_steps, batch_size, n_epochs, gamma, ent_coef: PPO settings
            (``n_steps`` per env; DQN uses ``learning_rate``, ``batch_size`` and ``gamma``).
        net_arch: hidden layer sizes of the policy and value networks.
        torch_threads: torch threads of the learner (1 keeps CPU use modest).
        baselines: agents evaluated next to the policy.
        eval_seeds: every held-out chronic is played once per seed.
        eval_max_steps: step budget per held-out chronic (None: the whole chronic).
        eval_workers: processes of the evaluation (1: in this process).
        evaluate, plot: evaluate on the held-out chronics; write the learning-curve PNG.
        progress: show a progress bar (steps/s, recent episode length and reward) on stderr.
        verbose: SB3 verbosity (0, 1 or 2).
    """

    algo: str = "maskable-ppo"
    env_id: str = "PowerGrid-case14-hard-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    reward: str = "survival"
    action_space: str = "guarded"
    observation: str = "flat"
    min_elements: int = 4
    danger_threshold: float = 0.95
    default_prior: float = 0.95
    expert: tuple[str, ...] | None = None
    heuristic: str = "greedy"
    timesteps: int = 1024
    n_envs: int = 2
    vec_env: str = "subproc"
    start_method: str | None = None
    n_heldout: int = 8
    split_seed: int = 0
    train_chronics: tuple[str, ...] | None = None
    heldout_chronics: tuple[str, ...] | None = None
    random_start: bool = False
    seed: int = 0
    out: str = "runs/train"
    learning_rate: float = 3e-4
    n_steps: int = 128
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 0.99
    ent_coef: float = 0.001
    net_arch: tuple[int, ...] = (256, 256)
    torch_threads: int = 1
    baselines: tuple[str, ...] = ("do-nothing", "reconnect", "greedy")
    eval_seeds: tuple[int, ...] = (0, 1)
    eval_max_steps: int | None = None
    eval_workers: int = 2
    evaluate: bool = True
    plot: bool = True
    progress: bool = True
    verbose: int = 0

    def __post_init__(self) -> None:
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}={getattr(self, key)!r} is unknown; choose one of "
                                 f"{', '.join(map(str, allowed))}")
        if self.algo in ("maskable-ppo", "dqn") and self.action_space == "multibinary":
            raise ValueError(f"algo={self.algo!r} needs action_space='guarded' or 'discrete' "
                             "(a Discrete action space); use algo='ppo' for the MultiBinary "
                             "switches")
        import gym_powergrid  # noqa: F401 - registers the ids

        if self.env_id not in gym.registry:
            import difflib

            ids = sorted(i for i in gym.registry if i.startswith("PowerGrid-"))
            hint = difflib.get_close_matches(self.env_id, ids, n=1)
            extra = f" Did you mean {hint[0]!r}?" if hint else ""
            raise ValueError(f"unknown env {self.env_id!r}.{extra} Registered gym_powergrid "
                             f"ids: {', '.join(ids)}")
        from .envs.rewards import REWARDS

        if self.reward not in (*REWARDS, "file"):
            raise ValueError(f"unknown reward {self.reward!r}; choose one of "
                             f"{', '.join(sorted(REWARDS))} or 'file'")
        if not 0.0 <= float(self.danger_threshold) < 10.0:
            raise ValueError(f"danger_threshold={self.danger_threshold!r} must be a capacity "
                             "usage in [0, 10)")
        from .envs.guard import expert_specs

        self.expert = expert_specs(self.expert) or None
        for spec in (*(self.expert or ()), self.heuristic):
            _check_agent_spec(spec)
        if not 0.0 <= float(self.default_prior) < 1.0:
            raise ValueError(f"default_prior={self.default_prior!r} must be in [0, 1)")
        if not self.eval_seeds:
            raise ValueError("eval_seeds needs at least one seed")
        for key in ("timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "n_heldout"):
            if int(getattr(self, key)) < (key != "n_heldout"):
                raise ValueError(f"{key}={getattr(self, key)!r} must be >= "
                                 f"{int(key != 'n_heldout')}")

    @property
    def policy(self) -> str:
        """SB3 policy name for the observation kind."""
        return "MultiInputPolicy" if self.observation == "dict" else "MlpPolicy"


def _check_agent_spec(spec: str) -> None:
    """ValueError for an unknown agent or constructor option in ``"name[key=value,...]"``."""
    import inspect

    from .agents import resolve_agent
    from .agents.compare import parse_agent_spec

    name, options = parse_agent_spec(spec)
    cls = resolve_agent(name)  # ValueError naming the known agents
    try:
        inspect.signature(cls).bind(None, **options)
    except TypeError as exc:
        raise ValueError(f"expert {spec!r}: {exc}; the options of {name!r} are "
                         f"{', '.join(list(inspect.signature(cls).parameters)[1:])}") from None


# ---------------------------------------------------------------------- environments
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
             heuristic: str = "reconnect") -> gym.Env:
    """Apply the action and observation wrappers of a training recipe to ``env``."""
    from .envs.guard import GuardedActions
    from .envs.wrappers import DiscreteUnitaryActions, FlatObservation

    if action_space == "guarded":
        env = GuardedActions(env, threshold=danger_threshold, min_elements=min_elements,
                             expert=expert, heuristic=heuristic)
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
                      heuristic: str = "reconnect") -> gym.Env:
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
                   danger_threshold, expert, heuristic)
    if chronics is not None:
        env = ChronicSubset(env, chronics, random_start=random_start)
    if monitor_file is not None:
        from stable_baselines3.common.monitor import Monitor

        keys = ("game_over_reason",) + (("episode_env_steps",) if action_space == "guarded"
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
    """The vectorized training env of ``cfg`` (``SubprocVecEnv`` or ``DummyVecEnv``), seeded."""
    _require_sb3(cfg.algo)
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    fns: list[Callable[[], gym.Env]] = []
    for rank in range(cfg.n_envs):
        monitor = None if monitor_dir is None else str(Path(monitor_dir) / str(rank))
        fns.append(functools.partial(
            make_training_env, cfg.env_id, cfg.env_kwargs, cfg.reward, cfg.action_space,
            cfg.observation, cfg.min_elements, None if chronics is None else list(chronics),
            cfg.random_start, monitor, cfg.danger_threshold, cfg.expert, cfg.heuristic))
    if cfg.vec_env == "subproc" and cfg.n_envs > 1:
        venv = SubprocVecEnv(fns, start_method=cfg.start_method)
    else:
        venv = DummyVecEnv(fns)
    venv.seed(cfg.seed)
    return venv


# ---------------------------------------------------------------------- models
def build_model(cfg: TrainConfig, venv) -> Any:
    """A fresh SB3 model for ``cfg`` on ``venv``."""
    cls = algo_class(cfg.algo)
    common = dict(seed=cfg.seed, verbose=cfg.verbose, device="cpu", gamma=cfg.gamma,
                  learning_rate=cfg.learning_rate,
                  policy_kwargs={"net_arch": list(cfg.net_arch)})
    if cfg.algo == "dqn":
        return cls(cfg.policy, venv, batch_size=cfg.batch_size, buffer_size=50_000,
                   learning_starts=min(1000, max(cfg.timesteps // 10, 1)),
                   exploration_fraction=0.3, **common)
    model = cls(cfg.policy, venv, n_steps=cfg.n_steps, batch_size=cfg.batch_size,
                n_epochs=cfg.n_epochs, ent_coef=cfg.ent_coef, **common)
    if cfg.action_space == "guarded" and cfg.default_prior > 0 and cfg.algo != "dqn":
        import torch

        n = int(venv.action_space.n)
        k = 1 + len(cfg.expert or ())  # the heuristic's move and the experts' moves
        with torch.no_grad():  # softmax(bias): actions < k share default_prior
            model.policy.action_net.bias[:k] += float(
                np.log(cfg.default_prior / k / (1.0 - cfg.default_prior) * max(n - k, 1)))
    return model


def save_recipe(path: str | os.PathLike, cfg: TrainConfig, extra: dict | None = None) -> None:
    """Write ``model.json``: what :class:`PolicyAgent` needs to rebuild the wrappers."""
    d = dataclasses.asdict(cfg)
    d["env_kwargs"] = {k: v for k, v in cfg.env_kwargs.items()
                       if isinstance(v, (str, int, float, bool, type(None)))}
    d.update(extra or {})
    Path(path).write_text(json.dumps(d, indent=2, default=str), encoding="utf-8")


def load_model(path: str | os.PathLike, algo: str | None = None) -> Any:
    """Load a saved model; the algorithm is read from the ``.json`` next to it if not given."""
    path = Path(path)
    if algo is None:
        recipe = _read_recipe(path)
        algo = recipe.get("algo", "maskable-ppo")
    return algo_class(algo).load(str(path), device="cpu")


def _read_recipe(path: Path) -> dict:
    side = path.with_suffix(".json")
    if side.is_file():
        return json.loads(side.read_text(encoding="utf-8"))
    return {}


class PolicyAgent(Agent):
    """A trained SB3 policy as an :class:`~gym_powergrid.agents.Agent` on the raw env.

    It takes pypownet's ``Dict`` observation, applies the training wrappers' transforms itself
    (flattening, unitary-action list, action mask) and returns a switch vector, so it runs in
    the :class:`~gym_powergrid.runner.Runner` and the agent benchmark like any baseline.

    Args:
        env: the environment (``Dict`` observations, ``MultiBinary`` actions).
        seed: unused (the policy acts deterministically unless ``deterministic=False``).
        path: a saved ``model.zip`` (its ``model.json`` gives the algorithm and wrappers);
            default ``$GYM_POWERGRID_MODEL``.
        model: an SB3 model object instead of ``path``.
        action_space, observation, min_elements, danger_threshold: the training recipe
            (read from ``model.json`` when a path is given; inferred from the model's spaces
            otherwise). With ``"guarded"`` actions the policy runs only in danger states and
            the heuristic plays the others, exactly as in training.
        heuristic, expert: the guarded recipe's agents (read from ``model.json``; without
            it, ``heuristic`` defaults to ``"reconnect"`` and ``expert`` to none: give both
            with ``model=`` for a model trained with other ones).
        deterministic: act greedily with respect to the policy.
    """

    name = "sb3"

    def __init__(self, env: Any, seed: int | None = None, path: str | os.PathLike | None = None,
                 model: Any = None, action_space: str | None = None,
                 observation: str | None = None, min_elements: int | None = None,
                 danger_threshold: float | None = None, deterministic: bool = True,
                 heuristic: str | None = None, expert: Any = None) -> None:
        super().__init__(env, seed)
        recipe: dict = {}
        if model is None:
            path = path or os.environ.get(MODEL_ENV_VAR)
            if not path:
                raise ValueError(f"PolicyAgent needs path= (a saved model .zip), model= or the "
                                 f"{MODEL_ENV_VAR} environment variable")
            recipe = _read_recipe(Path(path))
            model = load_model(path, recipe.get("algo"))
        from gymnasium import spaces

        self.model = model
        self.deterministic = bool(deterministic)
        self.action_kind = action_space or recipe.get("action_space") or (
            "discrete" if isinstance(model.action_space, spaces.Discrete) else "multibinary")
        self.observation_kind = observation or recipe.get("observation") or (
            "dict" if isinstance(model.observation_space, spaces.Dict) else "flat")
        n_min = int(min_elements or recipe.get("min_elements", 4))
        self.maskable = type(model).__name__ == "MaskablePPO"
        from .envs.guard import GuardedActions
        from .envs.wrappers import DiscreteUnitaryActions, FlatObservation

        self._guard = None
        if self.action_kind == "guarded":
            threshold = danger_threshold if danger_threshold is not None else recipe.get(
                "danger_threshold", 0.95)
            self._guard = GuardedActions(env, threshold=float(threshold), min_elements=n_min,
                                         expert=expert or recipe.get("expert"),
                                         heuristic=heuristic or recipe.get("heuristic",
                                                                           "reconnect"))
            self._discrete = self._guard
        else:
            self._discrete = (DiscreteUnitaryActions(env, min_elements=n_min)
                              if self.action_kind == "discrete" else None)
        self._flat = FlatObservation(self._discrete or env) if self.observation_kind == "flat" \
            else None
        inner = self._flat or self._discrete or env
        if inner.action_space != model.action_space:
            raise ValueError(f"the model acts in {model.action_space} but this env's "
                             f"{self.action_kind} actions are {inner.action_space}: was it "
                             "trained on another grid or with another min_elements?")
        self.last_choice = "do nothing"

    def _predict(self, observation: Any, mask: np.ndarray | None = None):
        x = self._flat.observation(observation) if self._flat is not None else observation
        kwargs = {} if mask is None or not self.maskable else {"action_masks": mask}
        a, _ = self.model.predict(x, deterministic=self.deterministic, **kwargs)
        return a

    def act(self, observation: Any) -> np.ndarray:
        if self._guard is not None:
            index, _ = self._guard.choose(
                observation, lambda o, m: int(np.asarray(self._predict(o, m)).reshape(-1)[0]))
            self.last_choice = self._guard.describe(index)
            return self._guard.to_switches(index, observation)
        mask = self._discrete.action_masks() if self._discrete is not None else None
        a = self._predict(observation, mask)
        if self._discrete is None:
            self.last_choice = "switches"
            return np.asarray(a, dtype=np.int8).reshape(-1)
        index = int(np.asarray(a).reshape(-1)[0])
        self.last_choice = self._discrete.describe(index)
        return self._discrete.to_switches(index)


# ---------------------------------------------------------------------- evaluation, plots
POLICY_AGENT = "gym_powergrid.training:PolicyAgent"
#: Name of the trained policy in the evaluation tables and ``--json`` keys.
POLICY_LABEL = "policy"


def evaluate_policy(model_path: str | os.PathLike, label: str, env_id: str,
                    env_kwargs: dict | None, chronics: Sequence[str],
                    baselines: Sequence[str] = ("do-nothing", "greedy"),
                    max_steps: int | None = None, seeds: Sequence[int] = (0,),
                    workers: int = 1, output: str | os.PathLike | None = None):
    """Compare a saved policy with baselines through the agent benchmark.

    Every agent plays every (chronic, seed) until its first game over or ``max_steps``
    (:func:`gym_powergrid.agents.compare.compare_agents`, env's own reward).

    Args:
        model_path: the saved ``model.zip`` (played by :class:`PolicyAgent`).
        label: the policy's name in the tables (e.g. ``"maskable-ppo"``).
        env_id, env_kwargs: the evaluation env (``env_kwargs`` picklable).
        chronics, baselines, max_steps, seeds: what is played; ``max_steps=None``: all.
        workers: benchmark processes (1: in this process).
        output: folder for the benchmark's ``episodes.csv``, ``agents.csv``, ``survival.png``.

    Returns:
        ``(episodes, agents)``: the benchmark's DataFrames (one row per episode, one per
        agent), with the policy named ``label``.
    """
    from .agents.compare import aggregate, compare_agents, save_results

    agents = [POLICY_AGENT, *[b for b in baselines if b != POLICY_AGENT]]
    df = compare_agents([env_id], agents, chronics=list(chronics), seeds=tuple(seeds),
                        max_steps=max_steps, workers=workers, env_kwargs=dict(env_kwargs or {}),
                        agent_kwargs={POLICY_AGENT: {"path": str(model_path)}}, progress=False)
    df["agent"] = df["agent"].replace({POLICY_AGENT: label})
    agg = aggregate(df)
    if output is not None:
        save_results(df, agg, output, plot=True)
    return df, agg


def format_evaluation(agg) -> str:
    """The evaluation as the agent benchmark's plain-text table."""
    from .agents.compare import format_tables

    return format_tables(agg)


def load_monitor(monitor_dir: str | os.PathLike):
    """Training episodes from the Monitor CSVs, ordered in time, with a ``timesteps`` column
    (cumulative steps at the end of each episode, all processes together)."""
    from stable_baselines3.common.monitor import load_results

    df = load_results(str(monitor_dir)).sort_values("t").reset_index(drop=True)
    df["timesteps"] = df["l"].cumsum()
    return df


def plot_learning_curve(monitor_dir: str | os.PathLike, path: str | os.PathLike,
                        title: str = "", window: int = 20,
                        baselines: dict[str, float] | None = None) -> Path:
    """Save a PNG of the training episodes' length and return vs timesteps.

    Args:
        monitor_dir: folder of the Monitor CSVs.
        path: PNG to write.
        title: figure title.
        window: rolling-mean window, in episodes.
        baselines: label -> steps, drawn as horizontal lines on the length panel.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError('the learning curve needs matplotlib: pip install '
                          '"gym-powergrid[plot]"') from exc
    df = load_monitor(monitor_dir)
    w = max(1, min(window, len(df) // 3 or 1))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    length = "episode_env_steps" if "episode_env_steps" in df.columns else "l"
    for ax, col, label in ((axes[0], length, "episode length (steps survived)"),
                           (axes[1], "r", "episode return (training reward)")):
        ax.plot(df["timesteps"], df[col], ".", alpha=0.25, ms=3, color="tab:blue")
        ax.plot(df["timesteps"], df[col].rolling(w, min_periods=1).mean(), color="tab:blue",
                label=f"rolling mean ({w} episodes)")
        ax.set_xlabel("training timesteps" + (" (decisions)" if length != "l" else ""))
        ax.xaxis.set_major_formatter(lambda x, _: f"{x / 1000:g}k" if x else "0")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    for i, (name, value) in enumerate((baselines or {}).items()):
        axes[0].axhline(value, ls="--", color=f"C{i + 1}", label=name)
    axes[0].legend(fontsize=8, loc="center right")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------- the run
@dataclass
class TrainResult:
    """What :func:`train` produced."""

    config: TrainConfig
    model_path: Path
    train_chronics: list[str]
    heldout_chronics: list[str]
    train_seconds: float
    curve_path: Path | None = None
    evaluation: Any = None  # the benchmark's per-agent DataFrame (None: not evaluated)
    model: Any = None

    def metrics(self) -> dict[str, float]:
        """Flat dict of named numbers (what ``--json`` writes)."""
        m: dict[str, float] = {"timesteps": float(self.config.timesteps),
                               "train_seconds": self.train_seconds,
                               "train_steps_per_second": self.config.timesteps
                               / max(self.train_seconds, 1e-9),
                               "n_train_chronics": float(len(self.train_chronics)),
                               "n_heldout_chronics": float(len(self.heldout_chronics))}
        if self.evaluation is not None:
            for _, row in self.evaluation.iterrows():
                for key in ("episodes", "survival_mean", "survival_median", "reward_mean",
                            "game_overs", "actions_mean", "seconds_per_step"):
                    m[f"{row['agent']}/{key}"] = float(row[key])
        return m


def chronic_split(cfg: TrainConfig, warm_up: bool = False) -> tuple[list[str], list[str]]:
    """The (training, held-out) chronics of ``cfg``; raises ValueError for unknown names.

    ``warm_up`` also plays one step, which compiles (or loads) the numba kernels once, before
    the workers start (forked workers inherit them, others find them in numba's cache).
    """
    probe = gym.make(cfg.env_id, **cfg.env_kwargs)
    try:
        names = list(probe.unwrapped.chronics.names)
        if warm_up:
            probe.reset(seed=cfg.seed)
            probe.step(probe.unwrapped.action_helper.do_nothing())
    finally:
        probe.close()
    return split_chronics(names, cfg.n_heldout, cfg.train_chronics, cfg.heldout_chronics,
                          cfg.split_seed)


def train(cfg: TrainConfig) -> TrainResult:
    """Train, save, plot and evaluate (see the module docstring)."""
    _require_sb3(cfg.algo)
    import torch

    import gym_powergrid  # noqa: F401 - registers the ids

    torch.set_num_threads(max(1, int(cfg.torch_threads)))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    monitor_dir = out / "monitor"
    monitor_dir.mkdir(exist_ok=True)
    for old in monitor_dir.glob("*.monitor.csv"):
        old.unlink()
    tr, held = chronic_split(cfg, warm_up=True)
    logger.info("training %s on %s: %d chronics (%s), held out %s", cfg.algo, cfg.env_id,
                len(tr), ", ".join(tr), ", ".join(held))
    venv = make_vec_env(cfg, tr, monitor_dir)
    try:
        model = build_model(cfg, venv)
        t0 = time.perf_counter()
        callback = None
        if cfg.progress:
            from .training_progress import ProgressBar

            callback = ProgressBar(cfg.timesteps, f"{cfg.algo} on {cfg.env_id}")
        model.learn(total_timesteps=cfg.timesteps, callback=callback)
        seconds = time.perf_counter() - t0
    finally:
        venv.close()
    model_path = out / "model.zip"
    model.save(str(model_path))
    save_recipe(model_path.with_suffix(".json"), cfg,
                {"train_chronics": tr, "heldout_chronics": held, "train_seconds": seconds})
    result = TrainResult(cfg, model_path, tr, held, seconds, model=model)
    if cfg.evaluate:
        _, result.evaluation = evaluate_policy(
            model_path, POLICY_LABEL, cfg.env_id, cfg.env_kwargs, held, cfg.baselines,
            cfg.eval_max_steps, tuple(cfg.eval_seeds), cfg.eval_workers, out / "evaluation")
    if cfg.plot:
        ref = {} if result.evaluation is None else {
            f"{r['agent']} (held-out survival)": r["survival_mean"]
            for _, r in result.evaluation.iterrows() if r["agent"] != POLICY_LABEL}
        result.curve_path = plot_learning_curve(
            monitor_dir, out / "learning_curve.png",
            title=f"{cfg.algo} on {cfg.env_id} ({cfg.reward} reward)", baselines=ref)
    return result


# ---------------------------------------------------------------------- command line
_HELP = {
    "algo": "SB3 algorithm", "action_space": "discrete: unitary actions; multibinary: switches",
    "observation": "flat: MlpPolicy; dict: MultiInputPolicy",
    "min_elements": "substations with this many elements get configuration actions",
    "vec_env": "subproc: one process per env", "seed": "seed of the model and the envs",
    "out": "output folder", "torch_threads": "torch threads of the learner",
    "env_id": "registered env id", "reward": "training reward (survival, pypownet...)",
    "timesteps": "training budget (steps over all envs)", "n_envs": "parallel environments",
    "n_heldout": "N chronics, drawn at random with --split-seed, are held out for evaluation",
    "split_seed": "seed of the random held-out draw",
    "danger_threshold": "guarded actions: the policy acts when a line's usage reaches this",
    "eval_seeds": "every held-out chronic is played once per seed",
    "default_prior": "guarded actions: initial probability of the heuristic's and experts' "
                     "moves",
    "heuristic": "guarded actions: agent playing outside danger states, action 0",
    "expert": "guarded actions: agents whose moves are actions 1..k, e.g. greedy "
              "'greedy[horizon=6]' (none: no expert)",
    "n_steps": "PPO rollout length per env", "net_arch": "hidden layer sizes",
    "start_method": "start method of the SubprocVecEnv workers; None: SB3's (forkserver)",
    "random_start": "start new training episodes at a random step of their chronic",
    "baselines": "agents evaluated next to the policy",
    "eval_max_steps": "step budget per held-out chronic (default: the whole chronic)",
    "train_chronics": "training chronics (default: all but the held-out ones)",
    "heldout_chronics": "held-out chronics (default: N drawn at random)",
    "eval_workers": "processes of the held-out evaluation",
}
#: Types of the options whose default is None or a tuple ("+": one or more values).
_TYPES: dict[str, tuple[Any, str | None]] = {
    "start_method": (str, None), "expert": (str, "*"), "train_chronics": (str, "+"),
    "heldout_chronics": (str, "+"), "eval_max_steps": (int, None), "net_arch": (int, "+"),
    "baselines": (str, "*"), "eval_seeds": (int, "+")}


def build_parser(prog: str = "python -m gym_powergrid.training") -> argparse.ArgumentParser:
    """The command-line parser (shared with ``gym-powergrid train``): one option per
    :class:`TrainConfig` field (``--n-envs``...), ``--env``, ``--parameters`` and ``--json``."""
    p = argparse.ArgumentParser(
        prog=prog, description="Train a stable-baselines3 agent on a gym_powergrid env, save it, "
        "plot its learning curve and compare it with baselines on held-out chronics.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--parameters", default=None,
                   help="a pypownet-style parameter folder to use instead of the env's own")
    for f in dataclasses.fields(TrainConfig):
        name, default = f.name, TrainConfig.__dataclass_fields__[f.name].default
        flag = "--env" if name == "env_id" else "--" + name.replace("_", "-")
        text = _HELP.get(name, name.replace("_", " "))
        if name in ("env_kwargs", "verbose"):
            continue
        if name in ("evaluate", "plot", "progress"):
            skip = {"evaluate": ("eval", "held-out evaluation"),
                    "plot": ("plot", "learning-curve PNG"),
                    "progress": ("progress", "progress bar")}[name]
            p.add_argument(f"--no-{skip[0]}", dest=name, action="store_false",
                           default=argparse.SUPPRESS, help=f"skip the {skip[1]}")
        elif isinstance(default, bool):
            p.add_argument(flag, dest=name, action="store_true", default=argparse.SUPPRESS,
                           help=text)
        elif name in CHOICES:
            p.add_argument(flag, dest=name, choices=[c for c in CHOICES[name] if c],
                           default=default, help=text)
        elif name in _TYPES:
            kind, nargs = _TYPES[name]
            p.add_argument(flag, dest=name, type=kind, nargs=nargs, help=text,
                           metavar="NAME" if kind is str and nargs else None,
                           default=argparse.SUPPRESS if default is None else list(default)
                           if isinstance(default, tuple) else default)
        else:
            p.add_argument(flag, dest=name, type=type(default), default=default, help=text)
    p.add_argument("--json", default=None, metavar="PATH",
                   help="write the results as a flat JSON of named numbers")
    p.add_argument("--framework", choices=("sb3", "rllib"), default="sb3",
                   help="stable-baselines3, or RLlib's PPO (gym_powergrid.integrations.rllib, "
                        "needs gym-powergrid[rllib])")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --framework rllib: a running Ray cluster ('auto', HOST:6379); "
                        "default a local Ray")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="-v: progress logs and SB3's training table")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """A :class:`TrainConfig` from parsed command-line arguments."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
              if hasattr(args, f.name) and f.name != "verbose"}
    for name, value in values.items():
        if isinstance(value, list):
            values[name] = tuple(value)
    return TrainConfig(env_kwargs={"parameters": args.parameters} if args.parameters else {},
                       verbose=min(args.verbose, 2), **values)


def _say(text: str) -> None:
    """The command line's output (stdout)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    args = build_parser(prog or "python -m gym_powergrid.training").parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose:
        logger.setLevel(logging.INFO)
    if args.framework == "rllib":
        from .integrations.rllib import cli_main

        return cli_main(args, config_from_args, _say)
    try:
        cfg = config_from_args(args)
        _require_sb3(cfg.algo)
        tr, held = chronic_split(cfg)
    except (ValueError, ImportError) as exc:  # gym_powergrid's input errors are ValueErrors
        _say(f"error: {exc}")
        return 2
    _say(f"held-out chronics (drawn with --split-seed {cfg.split_seed}): {', '.join(held)}; "
         f"training on {len(tr)} chronics")
    result = train(cfg)
    say = _say
    say(f"trained {cfg.algo} on {cfg.env_id} for {cfg.timesteps:,} steps in "
        f"{result.train_seconds:.0f} s ({cfg.timesteps / result.train_seconds:,.0f} steps/s, "
        f"{cfg.n_envs} envs); chronics: train {', '.join(result.train_chronics)}; held out "
        f"{', '.join(result.heldout_chronics)}")
    say(f"model: {result.model_path}")
    if result.curve_path is not None:
        say(f"learning curve: {result.curve_path}")
    if result.evaluation is not None:
        say("")
        say(f"held-out chronics ({', '.join(result.heldout_chronics)}), episodes end at the "
            "first game over (env's own reward):")
        say(format_evaluation(result.evaluation))
        say(f"evaluation: {Path(cfg.out) / 'evaluation'}/ (episodes.csv, agents.csv, "
            "survival.png)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.metrics(), indent=2), encoding="utf-8")
        say(f"metrics: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
