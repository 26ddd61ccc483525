"""Settings of a training run: :class:`TrainConfig`, its allowed values and checks."""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

logger = logging.getLogger(__name__)

ALGOS = ("maskable-ppo", "ppo", "dqn")
ACTION_SPACES = ("candidates", "guarded", "discrete", "multibinary")
#: Per action space, the defaults of the fields left at None: (danger_threshold, default_prior,
#: heuristic, expert).
RECIPE_DEFAULTS: dict[str, tuple] = {"candidates": (0.95, 0.0, "reconnect", ("greedy",)),
                                     "guarded": (0.95, 0.95, "greedy", None)}
#: Per action space, the default :attr:`TrainConfig.reward_scale`.
REWARD_SCALES = {"candidates": 0.01}
#: Ablation names of :attr:`TrainConfig.ablations` (besides ``slot-<i>``).
ABLATIONS = ("untrained", "uniform", "slots", "rule")
OBSERVATIONS = ("flat", "dict")
VEC_ENVS = ("subproc", "dummy", "native")
#: Action spaces the native vector env (``vec_env="native"``) can train on.
NATIVE_ACTION_SPACES = ("discrete", "multibinary")
#: Allowed values of the :class:`TrainConfig` fields that take a name.
CHOICES: dict[str, tuple] = {"algo": ALGOS, "action_space": ACTION_SPACES,
                             "observation": OBSERVATIONS, "vec_env": VEC_ENVS,
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
        action_space: ``"candidates"`` (the reference recipe: in danger states, a choice
            among a few candidate moves described by their AC simulation,
            :class:`~gym_powergrid.training.candidates.CandidateActions`), ``"guarded"``
            (unitary actions asked only in danger states, the heuristic otherwise),
            ``"discrete"`` (unitary actions at every step) or ``"multibinary"`` (switches).
        observation: ``"flat"`` (``MlpPolicy``) or ``"dict"`` (``MultiInputPolicy``).
        min_elements: substations with at least this many elements get configuration actions.
        danger_threshold: with candidates or guarded actions, the policy is asked only when
            an in-service line's capacity usage reaches this (the heuristic plays the other
            steps; :class:`~gym_powergrid.envs.guard.GuardedActions`). None: 0.95 (both
            recipes (:data:`RECIPE_DEFAULTS`).
        reward_scale: factor of the decisions' rewards (a decision sums the rewards of the
            steps it covers, up to hundreds; PPO learns better from returns of order 1).
            None: 0.01 for candidates, 1 otherwise.
        top_k: with candidates, how many of the DC look-ahead's best moves get a slot.
        ablations: with candidates, agents evaluated next to the policy to show what was
            learnt: ``"untrained"`` (the policy before training), ``"uniform"`` (a uniform
            choice among the valid slots), ``"slot-<i>"`` (always slot i when valid, else
            slot 0), ``"slots"`` (every ``slot-<i>``), ``"rule"`` (a hand-written rule on
            the same features: :class:`~gym_powergrid.training.ablations.CandidateAgent`).
        default_prior: with guarded actions and a PPO policy, the initial probability of
            action 0 (the heuristic's move), shared equally with the experts' moves (actions
            1 .. k), set through the bias of the action layer, so that learning starts from
            the heuristics instead of random topology changes (0: SB3's uniform start).
            With candidates, the prior is on slot 0. None: 0 for candidates, 0.95 guarded.
        heuristic: with guarded actions, the agent spec that plays outside danger states and
            whose move is action 0 (the recipe: ``"greedy"``, the one-step greedy search;
            ``"reconnect"``: the line-reconnection heuristic). None: ``"reconnect"`` for
            candidates, ``"greedy"`` for guarded actions.
        expert: with guarded actions, agent specs (a name such as ``"greedy"``, options in
            brackets as in the agent benchmark: ``"greedy[horizon=6]"``) whose moves are
            actions 1 .. k (:class:`~gym_powergrid.envs.guard.GuardedActions`); a single
            string is one expert, ``()`` none; None: ``("greedy",)`` for candidates, none
            for guarded actions.
        timesteps: training budget (environment steps, all processes together).
        n_envs: parallel environments.
        vec_env: ``"subproc"`` (one process each), ``"dummy"`` (in process) or ``"native"``
            (every grid in one numba call:
            :func:`~gym_powergrid.integrations.sb3.PowerGridSB3VecEnv`; discrete or
            multibinary action spaces only, without ``random_start``). None: ``"native"``
            for those action spaces (the faster one there, ``benchmarks/bench_vector.py
            --sb3``) unless ``random_start``, else ``"subproc"``.
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
    action_space: str = "candidates"
    observation: str = "flat"
    min_elements: int = 4
    danger_threshold: float | None = None
    default_prior: float | None = None
    expert: tuple[str, ...] | None = None
    heuristic: str | None = None
    top_k: int = 4
    reward_scale: float | None = None
    ablations: tuple[str, ...] = ("untrained", "uniform", "slots", "rule")
    timesteps: int = 20_000
    n_envs: int = 2
    vec_env: str | None = None
    start_method: str | None = None
    n_heldout: int = 8
    split_seed: int = 0
    train_chronics: tuple[str, ...] | None = None
    heldout_chronics: tuple[str, ...] | None = None
    random_start: bool = False
    seed: int = 0
    out: str = "runs/train"
    learning_rate: float = 1e-3
    n_steps: int = 512
    batch_size: int = 256
    n_epochs: int = 10
    gamma: float = 0.99
    ent_coef: float = 0.01
    net_arch: tuple[int, ...] = (64, 64)
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
        if self.vec_env is None:
            self.vec_env = ("native" if self.action_space in NATIVE_ACTION_SPACES
                            and not self.random_start else "subproc")
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
        from ..envs.rewards import REWARDS

        if self.reward not in (*REWARDS, "file"):
            raise ValueError(f"unknown reward {self.reward!r}; choose one of "
                             f"{', '.join(sorted(REWARDS))} or 'file'")
        if self.vec_env == "native" and self.action_space not in NATIVE_ACTION_SPACES:
            raise ValueError(
                f"vec_env='native' steps every grid in one numba call and takes "
                f"action_space {' or '.join(map(repr, NATIVE_ACTION_SPACES))}; the "
                f"{self.action_space!r} actions simulate moves in Python in each env: use "
                "vec_env='subproc' or 'dummy'")
        if self.vec_env == "native" and self.random_start:
            raise ValueError("vec_env='native' draws whole chronics: drop random_start or use "
                             "vec_env='subproc'")
        if self.action_space == "candidates" and self.algo != "maskable-ppo":
            raise ValueError("action_space='candidates' needs algo='maskable-ppo' (masked slots)")
        threshold, prior, heuristic, expert = RECIPE_DEFAULTS.get(
            self.action_space, RECIPE_DEFAULTS["guarded"])
        self.danger_threshold = threshold if self.danger_threshold is None else float(
            self.danger_threshold)
        self.default_prior = prior if self.default_prior is None else float(self.default_prior)
        self.heuristic = heuristic if self.heuristic is None else self.heuristic
        self.expert = expert if self.expert is None else self.expert
        self.reward_scale = float(REWARD_SCALES.get(self.action_space, 1.0)
                                  if self.reward_scale is None else self.reward_scale)
        if not self.reward_scale > 0:
            raise ValueError(f"reward_scale={self.reward_scale!r} must be > 0")
        if int(self.top_k) < 0:
            raise ValueError(f"top_k={self.top_k!r} must be >= 0")
        for name in self.ablations:
            if name not in ABLATIONS and not (name.startswith("slot-") and name[5:].isdigit()):
                raise ValueError(f"unknown ablation {name!r}; choose among "
                                 f"{', '.join(ABLATIONS)} or slot-<i>")
        if not 0.0 <= float(self.danger_threshold) < 10.0:
            raise ValueError(f"danger_threshold={self.danger_threshold!r} must be a capacity "
                             "usage in [0, 10)")
        from ..envs.guard import expert_specs

        self.expert = expert_specs(self.expert) or (() if self.action_space == "candidates"
                                                    else None)
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
    from ..agents import resolve_agent
    from ..agents.compare import parse_agent_spec

    name, options = parse_agent_spec(spec)
    cls = resolve_agent(name)  # ValueError naming the known agents
    try:
        inspect.signature(cls).bind(None, **options)
    except TypeError as exc:
        raise ValueError(f"expert {spec!r}: {exc}; the options of {name!r} are "
                         f"{', '.join(list(inspect.signature(cls).parameters)[1:])}") from None


