"""The training run: :func:`train` (split, train, save, evaluate, plot)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import gymnasium as gym

from .candidates import slot_labels
from .config import TrainConfig, _require_sb3
from .envs import make_vec_env, split_chronics
from .policy import build_model, save_recipe
from .results import (
    POLICY_LABEL,
    TrainResult,
    ablation_agents,
    evaluate_policy,
    plot_learning_curve,
)

logger = logging.getLogger(__name__)


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
        untrained = None
        if cfg.action_space == "candidates" and "untrained" in cfg.ablations:
            untrained = out / "model_untrained.zip"
            model.save(str(untrained))
            save_recipe(untrained.with_suffix(".json"), cfg)
        slot_names = slot_labels(cfg.heuristic, cfg.expert, cfg.top_k)
        t0 = time.perf_counter()
        callback = None
        if cfg.progress:
            from ..training_progress import ProgressBar

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
            cfg.eval_max_steps, tuple(cfg.eval_seeds), cfg.eval_workers, out / "evaluation",
            extra=ablation_agents(cfg.ablations, model_path, untrained, slot_names)
            if cfg.action_space == "candidates" else None)
    if cfg.plot:
        ref = {} if result.evaluation is None else {
            f"{r['agent']} (held-out survival)": r["survival_mean"]
            for _, r in result.evaluation.iterrows() if r["agent"] in cfg.baselines}
        result.curve_path = plot_learning_curve(
            monitor_dir, out / "learning_curve.png",
            title=f"{cfg.algo} on {cfg.env_id} ({cfg.reward} reward)", baselines=ref)
    return result


