"""RLlib: the environments registered with Ray's RLlib, and a PPO recipe.

:func:`register` registers ``"gym_powergrid"`` with ``ray.tune.registry.register_env``. Its
``env_config`` holds :class:`~gym_powergrid.training.TrainConfig`'s env fields (``env_id``,
``env_kwargs``, ``reward``, ``action_space``, ``observation``, ``min_elements``, ``chronics``,
``random_start``, and with guarded actions ``danger_threshold``, ``expert``,
``heuristic``) and ``action_mask``; the env is built by
:func:`gym_powergrid.training.make_training_env`, so RLlib sees exactly what SB3 trains on: the
scaled flat observations (:class:`~gym_powergrid.envs.wrappers.FlatObservation`) and the
``Discrete`` unitary actions. With ``action_mask=True`` (the default for ``Discrete`` actions)
the observation becomes RLlib's masking convention ``{"observations": ..., "action_mask": ...}``
and :func:`ppo_config` uses RLlib's ``ActionMaskingTorchRLModule``, which never samples an
illegal action. RLlib vectorizes the env itself (``num_envs_per_env_runner`` copies per
EnvRunner; gym_powergrid has no native vector env yet).

:func:`train_rllib` runs PPO for ``ceil(timesteps / (n_steps * n_envs))`` iterations on
``n_envs`` EnvRunners (Ray actors), locally or on a cluster (``ray_address``), and writes
``rllib.json`` (per-iteration mean episode return and env steps) and an RLlib checkpoint into
``out/rllib_checkpoint``. From the command line::

    python -m gym_powergrid.training --framework rllib --env PowerGrid-case14-v0 \\
        --timesteps 20000 --n-envs 2 --out runs/case14-rllib --ray-address auto
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

logger = logging.getLogger(__name__)

ENV_NAME = "gym_powergrid"
INSTALL_HINT = 'pip install "gym-powergrid[rllib]"'


def import_rllib() -> Any:
    """``import ray.rllib``, or an ImportError with the install line."""
    try:
        import ray.rllib  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"RLlib training needs ray[rllib] and torch ({exc}); install them "
                          f"with: {INSTALL_HINT}") from exc
    import ray

    return ray


class ActionMaskObservation(gym.ObservationWrapper):
    """``{"observations": obs, "action_mask": float32 0/1}`` (RLlib's action-masking layout).

    The mask is the wrapped env's ``action_masks()`` (legal unitary actions), read after each
    reset and step.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        try:
            self._masks = env.get_wrapper_attr("action_masks")
        except AttributeError:
            self._masks = None
        if not isinstance(env.action_space, spaces.Discrete) or self._masks is None:
            raise ValueError("action masks need Discrete unitary actions "
                             "(action_space='discrete')")
        n = int(env.action_space.n)
        self.observation_space = spaces.Dict({
            "observations": env.observation_space,
            "action_mask": spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32)})

    def observation(self, observation: Any) -> dict[str, Any]:
        mask = np.asarray(self._masks(), dtype=np.float32)
        return {"observations": observation, "action_mask": mask}


def make_env(env_config: dict | None = None) -> gym.Env:
    """The env creator registered with RLlib (``env_config`` keys: see the module docstring)."""
    from ..training import make_training_env

    c = dict(env_config or {})
    action_space = c.get("action_space", "discrete")
    env = make_training_env(
        c.get("env_id", "PowerGrid-case14-v0"), c.get("env_kwargs") or {},
        c.get("reward", "survival"), action_space, c.get("observation", "flat"),
        int(c.get("min_elements", 4)), c.get("chronics"), bool(c.get("random_start", False)),
        danger_threshold=float(c.get("danger_threshold", 0.95)), expert=c.get("expert"),
        heuristic=c.get("heuristic", "reconnect"))
    if c.get("action_mask", action_space == "discrete"):
        env = ActionMaskObservation(env)
    return env


def register(name: str = ENV_NAME) -> str:
    """Register :func:`make_env` with RLlib under ``name``; returns the name."""
    import_rllib()
    from ray.tune.registry import register_env

    register_env(name, make_env)
    return name


def env_config(cfg: Any, chronics: list[str] | None = None) -> dict[str, Any]:
    """The ``env_config`` of a :class:`~gym_powergrid.training.TrainConfig`."""
    return {"env_id": cfg.env_id, "env_kwargs": dict(cfg.env_kwargs), "reward": cfg.reward,
            "action_space": cfg.action_space, "observation": cfg.observation,
            "min_elements": cfg.min_elements, "chronics": chronics,
            "random_start": cfg.random_start, "action_mask": cfg.action_space == "discrete",
            "danger_threshold": cfg.danger_threshold, "expert": cfg.expert,
            "heuristic": cfg.heuristic}


def ppo_config(cfg: Any, chronics: list[str] | None = None) -> Any:
    """RLlib's ``PPOConfig`` for a :class:`~gym_powergrid.training.TrainConfig`.

    ``n_envs`` EnvRunners with one env each, ``train_batch_size = n_steps * n_envs``,
    ``minibatch_size = batch_size``, ``num_epochs = n_epochs``, ``lr``, ``gamma``,
    ``entropy_coeff = ent_coef``, hidden layers ``net_arch``; masked logits for ``Discrete``
    actions. Only the ``flat`` observation is supported (RLlib's default encoders).
    """
    import_rllib()
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
    from ray.rllib.core.rl_module.rl_module import RLModuleSpec

    if cfg.observation != "flat":
        raise ValueError("the RLlib recipe needs observation='flat' (the scaled flat Box)")
    if cfg.algo not in ("ppo", "maskable-ppo"):
        raise ValueError(f"the RLlib recipe is PPO (masked for discrete actions); got "
                         f"algo={cfg.algo!r}")
    model = DefaultModelConfig(fcnet_hiddens=list(cfg.net_arch), fcnet_activation="tanh")
    config = (
        PPOConfig()
        .environment(register(), env_config=env_config(cfg, chronics))
        .framework("torch")
        .env_runners(num_env_runners=int(cfg.n_envs), num_envs_per_env_runner=1,
                     rollout_fragment_length=int(cfg.n_steps), num_cpus_per_env_runner=1)
        .learners(num_learners=0)
        .training(lr=cfg.learning_rate, gamma=cfg.gamma, entropy_coeff=cfg.ent_coef,
                  train_batch_size_per_learner=int(cfg.n_steps) * int(cfg.n_envs),
                  minibatch_size=int(cfg.batch_size), num_epochs=int(cfg.n_epochs))
        .debugging(seed=int(cfg.seed), log_level="WARN")
    )
    if cfg.action_space == "discrete":
        from ray.rllib.examples.rl_modules.classes.action_masking_rlm import (
            ActionMaskingTorchRLModule,
        )

        config = config.rl_module(rl_module_spec=RLModuleSpec(
            module_class=ActionMaskingTorchRLModule, model_config=model))
    else:
        config = config.rl_module(model_config=model)
    return config


def _episode_return(result: dict) -> float:
    runners = result.get("env_runners", {})
    value = runners.get("episode_return_mean", float("nan"))
    return float(value) if value is not None else float("nan")


def train_rllib(cfg: Any, ray_address: str | None = None, iterations: int | None = None,
                num_cpus: int | None = None) -> dict[str, Any]:
    """Run the PPO recipe; returns (and writes to ``out/rllib.json``) the named numbers.

    Args:
        cfg: a :class:`~gym_powergrid.training.TrainConfig` (``algo`` ``ppo`` or
            ``maskable-ppo``, ``observation='flat'``).
        ray_address: a running cluster (``"auto"``, ``"HOST:6379"``); None starts a local Ray
            (dashboard off) on ``num_cpus`` CPUs (default ``n_envs + 1``) and shuts it down.
        iterations: PPO iterations (default: ``ceil(timesteps / (n_steps * n_envs))``).

    Returns:
        ``iterations``, ``env_steps``, ``train_seconds``, ``env_steps_per_second``,
        ``episode_return_mean`` (last iteration; NaN when no episode ended yet) and the
        per-iteration lists ``returns`` and ``steps``; ``checkpoint`` (a path).
    """
    ray = import_rllib()
    from ..runner import build_env
    from ..training import split_chronics

    env = build_env(cfg.env_id, **cfg.env_kwargs)
    names = list(env.unwrapped.chronics.names)
    env.close()
    chronics, _ = split_chronics(names, cfg.n_heldout, cfg.train_chronics, cfg.heldout_chronics)
    per_iter = int(cfg.n_steps) * int(cfg.n_envs)
    n_iter = int(iterations or max(1, math.ceil(cfg.timesteps / per_iter)))
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING}
        if ray_address is None:
            kwargs.update(num_cpus=num_cpus or int(cfg.n_envs) + 1,
                          _node_ip_address="127.0.0.1")
        ray.init(address=ray_address, **kwargs)
        started = True
    algo = None
    try:
        algo = ppo_config(cfg, chronics).build_algo()
        returns, steps = [], []
        t0 = time.perf_counter()
        for i in range(n_iter):
            result = algo.train()
            returns.append(_episode_return(result))
            steps.append(int(result.get("num_env_steps_sampled_lifetime",
                                        result.get("env_runners", {}).get(
                                            "num_env_steps_sampled_lifetime", (i + 1) * per_iter))))
            logger.info("iteration %d: return %.2f, %d env steps", i + 1, returns[-1], steps[-1])
        seconds = time.perf_counter() - t0
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        checkpoint = str(algo.save_to_path(str((out / "rllib_checkpoint").resolve())))
    finally:
        if algo is not None:
            algo.stop()
        if started:
            ray.shutdown()
    metrics = {"iterations": n_iter, "env_steps": steps[-1], "train_seconds": seconds,
               "env_steps_per_second": steps[-1] / seconds,
               "episode_return_mean": returns[-1], "returns": returns, "steps": steps,
               "checkpoint": checkpoint, "train_chronics": chronics}
    (out / "rllib.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    return metrics


def cli_main(args: Any, config_from_args: Any, say: Any) -> int:
    """``python -m gym_powergrid.training --framework rllib ...``; returns the exit code."""
    try:
        cfg = config_from_args(args)
        import_rllib()
        ppo_config(cfg)  # bad recipe options fail here, before Ray starts
    except (ValueError, ImportError) as exc:
        say(f"error: {exc}")
        return 2
    if args.verbose:
        logger.setLevel(logging.INFO)
    m = train_rllib(cfg, ray_address=args.ray_address)
    say(f"trained RLlib PPO on {cfg.env_id}: {m['iterations']} iterations, {m['env_steps']:,} "
        f"env steps in {m['train_seconds']:.0f} s ({m['env_steps_per_second']:,.0f} steps/s, "
        f"{cfg.n_envs} EnvRunners); mean episode return {m['episode_return_mean']:.3f}")
    say(f"checkpoint: {m['checkpoint']}")
    say(f"metrics: {Path(cfg.out) / 'rllib.json'}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        flat = {k: float(v) for k, v in m.items() if isinstance(v, int | float)}
        Path(args.json).write_text(json.dumps(flat, indent=2), encoding="utf-8")
        say(f"metrics: {args.json}")
    return 0
