"""Held-out evaluation, learning curves and :class:`TrainResult`."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import TrainConfig

logger = logging.getLogger(__name__)

POLICY_AGENT = "gym_powergrid.training:PolicyAgent"
#: Name of the trained policy in the evaluation tables and ``--json`` keys.
POLICY_LABEL = "policy"


def evaluate_policy(model_path: str | os.PathLike, label: str, env_id: str,
                    env_kwargs: dict | None, chronics: Sequence[str],
                    baselines: Sequence[str] = ("do-nothing", "greedy"),
                    max_steps: int | None = None, seeds: Sequence[int] = (0,),
                    workers: int = 1, output: str | os.PathLike | None = None,
                    extra: dict[str, tuple[str, dict]] | None = None):
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
        extra: more agents, label -> (agent spec, constructor keywords), e.g. the ablations
            of :func:`ablation_agents`.

    Returns:
        ``(episodes, agents)``: the benchmark's DataFrames (one row per episode, one per
        agent), with the policy named ``label``.
    """
    from ..agents.compare import aggregate, compare_agents, save_results

    extra = dict(extra or {})
    agents = [POLICY_AGENT, *[b for b in baselines if b != POLICY_AGENT],
              *[spec for spec, _ in extra.values()]]
    kwargs = {POLICY_AGENT: {"path": str(model_path)}, **dict(extra.values())}
    df = compare_agents([env_id], agents, chronics=list(chronics), seeds=tuple(seeds),
                        max_steps=max_steps, workers=workers, env_kwargs=dict(env_kwargs or {}),
                        agent_kwargs=kwargs, progress=False)
    df["agent"] = df["agent"].replace({POLICY_AGENT: label,
                                       **{spec: name for name, (spec, _) in extra.items()}})
    agg = aggregate(df)
    if output is not None:
        save_results(df, agg, output, plot=True)
    return df, agg


#: The ablation agent of the candidates recipe (:mod:`gym_powergrid.training.ablations`).
CANDIDATE_AGENT = "gym_powergrid.training.ablations:CandidateAgent"


def ablation_agents(names: Sequence[str], model_path: str | os.PathLike,
                    untrained_path: str | os.PathLike | None,
                    slot_names: Sequence[str]) -> dict[str, tuple[str, dict]]:
    """The ``extra`` agents of :func:`evaluate_policy` for ablation ``names`` (label ->
    (spec, keywords)): ``untrained`` plays ``untrained_path``; ``slots`` expands to every
    ``slot-<i>``, labelled ``slot-<i>:<slot name>``."""
    out: dict[str, tuple[str, dict]] = {}
    for name in names:
        if name == "untrained":
            if untrained_path is not None:  # a distinct spec string for the same class
                out["untrained"] = (f"{POLICY_AGENT}[deterministic=true]",
                                    {"path": str(untrained_path)})
            continue
        rules = ([f"slot-{i}" for i in range(len(slot_names))] if name == "slots"
                 else [name])
        for rule in rules:
            label = (f"{rule}:{slot_names[int(rule[5:])]}" if rule.startswith("slot-")
                     else rule)
            out[label] = (f"{CANDIDATE_AGENT}[rule={rule}]", {"path": str(model_path)})
    return out


def format_evaluation(agg) -> str:
    """The evaluation as the agent benchmark's plain-text table."""
    from ..agents.compare import format_tables

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


