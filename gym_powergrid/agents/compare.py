"""Agent benchmark: every agent on the same chronics and seeds, in parallel processes.

Used by ``gym-powergrid bench`` and ``benchmarks/compare_agents.py``. Each task is one episode
(agent, env, chronic, seed) played by :class:`~gym_powergrid.runner.Runner` until the first
game over (``stop_on_game_over=True``) or the step budget; tasks run in a
``ProcessPoolExecutor`` (``spawn``; numba limited to one thread per worker so workers do not
fight over cores) or as Ray tasks (``executor="ray"``, :mod:`gym_powergrid.agents.executors`).
Results: one table per env, ``episodes.csv`` (one row per task),
``agents.csv`` (one row per env and agent), ``survival.png`` (fraction of episodes still alive
after each step, per agent) and a flat JSON of named numbers (keys documented in
``benchmarks/README_compare_agents.md``).
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DEFAULT_ENV = "PowerGrid-case14-v0"
#: ``--quick``: two chronics where do-nothing fails early on the shipped envs (case14: at steps
#: 355 and 188; case30: 371 in 08_aug), with a budget long enough for that to show, so the
#: agents separate (random ones fail within a few steps, do-nothing within the budget, the
#: search and reconnection agents survive). Envs without these chronics use their first two.
QUICK = {"n_chronics": 2, "prefer_chronics": ("03_mar", "08_aug"), "seeds": (0,),
         "max_steps": 400}
FULL = {"n_chronics": 8, "prefer_chronics": None, "seeds": (0, 1), "max_steps": 744}


@dataclass(frozen=True)
class Task:
    """One episode to play."""

    env: Any  # env spec (id, name, folder, "module:factory" or a picklable factory)
    agent: str
    chronic: Any
    seed: int
    max_steps: int | None
    env_kwargs: tuple = ()
    agent_kwargs: tuple = ()


_ENV_CACHE: dict[Any, Any] = {}


def _worker_init(threads: int) -> None:
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except ImportError:  # pragma: no cover
        pass


def run_task(task: Task) -> dict[str, Any]:
    """Play one task in this process; returns a flat dict (one ``episodes.csv`` row)."""
    from ..env_specs import build_env
    from ..runner import Runner
    from . import make_agent

    key = (task.env if isinstance(task.env, str) else id(task.env), task.env_kwargs)
    env = _ENV_CACHE.get(key)
    if env is None:
        env = build_env(task.env, **dict(task.env_kwargs))
        _ENV_CACHE[key] = env
        env.reset(seed=0)  # warm-up: load the numba kernels before anything is timed
        env.step(env.unwrapped.action_helper.do_nothing())
    name, options = parse_agent_spec(task.agent)
    options.update(dict(task.agent_kwargs))
    agent = make_agent(name, env, seed=task.seed, **options)
    runner = Runner(env, agent, progress=False, stop_on_game_over=True)
    t0 = time.perf_counter()
    summary = runner.run(episodes=1, max_steps=task.max_steps, chronics=[task.chronic],
                         seed=task.seed)
    ep = summary.episodes[0]
    row = {"env": env_label(task.env), "agent": task.agent, "chronic": ep.chronic,
           "seed": task.seed,
        "max_steps": task.max_steps if task.max_steps is not None else -1,
        "steps": ep.steps, "steps_survived": ep.steps_survived,
        "game_over": int(ep.game_overs > 0), "game_over_reason": ep.first_game_over_reason,
        "cumulative_reward": ep.cumulative_reward,
        "reward_per_step": ep.cumulative_reward / ep.steps if ep.steps else float("nan"),
        "actions_taken": ep.actions_taken,
        "illegal_actions": ep.illegal_actions, "lines_broken": ep.lines_broken,
        "seconds_per_step": ep.seconds_per_step, "seconds": time.perf_counter() - t0}
    row.update({k: v for k, v in summary.agent_stats.items()})
    return row


def parse_agent_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``"name[key=value,key=value]"`` into the agent and its constructor options.

    A dotted key fills a dict option: ``"greedy[weights.line_off=0]"``.

    Example:
        >>> parse_agent_spec("greedy[ac_correction=true,min_elements=5]")
        ('greedy', {'ac_correction': True, 'min_elements': 5})
    """
    text = str(spec).strip()
    if not text.endswith("]") or "[" not in text:
        return text, {}
    import yaml

    name, _, body = text[:-1].partition("[")
    options: dict[str, Any] = {}
    for item in filter(None, (x.strip() for x in body.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"agent option {item!r} in {spec!r} must look like key=value")
        key = key.strip()
        if "." in key:  # "weights.line_off=0" -> {"weights": {"line_off": 0}}
            outer, _, inner = key.partition(".")
            options.setdefault(outer, {})[inner] = yaml.safe_load(value)
        else:
            options[key] = yaml.safe_load(value)
    return name.strip(), options


def env_label(spec: Any) -> str:
    """Short printable name of an env spec."""
    if isinstance(spec, str):
        return spec
    return getattr(spec, "__name__", type(spec).__name__)


def chronic_names(env_spec: Any, n: int | None, env_kwargs: dict | None = None,
                  prefer: tuple | None = None) -> list[Any]:
    """The first ``n`` chronic names of an env (all when ``n`` is None).

    With ``prefer``, the preferred names the env has (when it has any) instead.
    """
    from ..env_specs import build_env

    env = build_env(env_spec, **(env_kwargs or {}))
    names = list(env.unwrapped.chronics.names)
    env.close()
    chosen = [c for c in (prefer or ()) if c in names]
    if chosen:
        return chosen
    return names if n is None else names[:n]


def check_specs(envs: list[Any], agents: list[str]) -> None:
    """Fail fast, with close names, on an unknown env or agent (before any worker starts)."""
    from ..env_specs import check_env_spec
    from . import resolve_agent

    for env in envs:
        check_env_spec(env)
    for agent in agents:
        name, _ = parse_agent_spec(agent)
        resolve_agent(name)


def compare_agents(envs: list[Any], agents: list[str], n_chronics: int | None = 8,
                   chronics: list[Any] | None = None, seeds: tuple[int, ...] = (0,),
                   max_steps: int | None = 744, workers: int = 2,
                   env_kwargs: dict | None = None,
                   agent_kwargs: dict[str, dict] | None = None, progress: bool = True,
                   prefer_chronics: tuple | None = None,
                   executor: str = "local", ray_address: str | None = None):
    """Play every agent on every env, chronic and seed; returns a DataFrame (one row per task).

    Args:
        envs: env specs (see :func:`gym_powergrid.runner.build_env`).
        agents: registered names or import paths, optionally with constructor options
            ``"greedy[ac_correction=true]"`` (the whole string labels the agent).
        n_chronics: the first ``n_chronics`` chronics of each env (when ``chronics`` is None).
        chronics: explicit chronic names or indices.
        seeds: seeds; every (chronic, seed) pair is one episode per agent.
        max_steps: step budget per episode.
        workers: processes (1: run in this process).
        env_kwargs: keyword arguments for every env (e.g. ``game_over_mode``).
        agent_kwargs: per agent name, keyword arguments of its constructor.
        progress: show a progress bar over tasks.
        prefer_chronics: without ``chronics``, play these where the env has them (see
            :data:`QUICK`), else the first ``n_chronics``.
        executor: ``"local"`` (processes) or ``"ray"`` (Ray tasks; see
            :mod:`gym_powergrid.agents.executors`): same rows for the same tasks.
        ray_address: Ray cluster address (``executor="ray"``; None starts a local instance).

    Raises:
        ValueError: an unknown env or agent (close names suggested), before any worker starts.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from .executors import run_tasks

    check_specs(envs, agents)
    env_kwargs = dict(env_kwargs or {})
    tasks = []
    for env in envs:
        chosen = list(chronics) if chronics else chronic_names(env, n_chronics, env_kwargs,
                                                                prefer_chronics)
        for agent in agents:
            kw = tuple(sorted((agent_kwargs or {}).get(agent, {}).items()))
            for chronic in chosen:
                for seed in seeds:
                    tasks.append(Task(env, agent, chronic, int(seed), max_steps,
                                      tuple(sorted(env_kwargs.items())), kw))
    logger.info("%d tasks (%d envs x %d agents), %d worker(s)", len(tasks), len(envs),
                len(agents), workers)
    bar = tqdm(total=len(tasks), unit="episode", disable=not progress, desc="agents")
    try:
        rows, report = run_tasks(tasks, executor=executor, workers=workers,
                                 ray_address=ray_address, progress=bar.update)
    finally:
        bar.close()
    df = pd.DataFrame(rows)
    df.attrs["retries"] = report.retries
    return df


def aggregate(df) -> Any:
    """One row per (env, agent): survival mean/median, reward, game overs, actions, speed."""
    import pandas as pd

    out = []
    for (env, agent), g in df.groupby(["env", "agent"], sort=False):
        reasons = Counter(r for r in g["game_over_reason"] if r)
        row = {"env": env, "agent": agent, "episodes": len(g),
               "survival_mean": float(g["steps_survived"].mean()),
               "survival_median": float(g["steps_survived"].median()),
               "reward_mean": float(g["cumulative_reward"].mean()),
               "reward_per_step": float(g["reward_per_step"].mean()),
               "game_overs": int(g["game_over"].sum()),
               "game_over_reasons": ", ".join(f"{k} x{v}" for k, v in sorted(reasons.items())),
               "actions_mean": float(g["actions_taken"].mean()),
               "seconds_per_step": float(g["seconds"].sum() / max(g["steps"].sum(), 1))}
        if "candidates_per_second" in g:
            cps = g["candidates_per_second"].replace([np.inf], np.nan).dropna()
            row["candidates_per_second"] = float(cps.mean()) if len(cps) else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def format_tables(agg) -> str:
    """One plain-text table per env."""
    from ..env_specs import format_table

    parts = []
    for env, g in agg.groupby("env", sort=False):
        headers = ["agent", "episodes", "survival mean", "median", "reward mean", "reward/step",
                   "game overs", "reasons", "actions", "ms/step", "candidates/s"]
        rows = []
        for _, r in g.iterrows():
            cps = r.get("candidates_per_second", float("nan"))
            rows.append([r["agent"], r["episodes"], f"{r['survival_mean']:.1f}",
                         f"{r['survival_median']:.0f}", f"{r['reward_mean']:.1f}",
                         f"{r['reward_per_step']:.3f}", r["game_overs"],
                         r["game_over_reasons"] or "-",
                         f"{r['actions_mean']:.1f}", f"{1e3 * r['seconds_per_step']:.2f}",
                         "-" if not np.isfinite(cps) else f"{cps:,.0f}"])
        parts.append(f"== {env} ==\n" + format_table(headers, rows))
    return "\n\n".join(parts)


def survival_curves(df) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """Per (env, agent): steps and the fraction of episodes that survived them."""
    curves = {}
    for (env, agent), g in df.groupby(["env", "agent"], sort=False):
        horizon = int(max(g["steps"].max(), 1))
        steps = np.arange(horizon + 1)
        survived = g["steps_survived"].to_numpy()
        failed = g["game_over"].to_numpy().astype(bool)
        alive = np.array([np.mean(~failed | (survived >= s)) for s in steps])
        curves[(env, agent)] = (steps, alive)
    return curves


def plot_survival(df, path: str | os.PathLike) -> Path | None:
    """Write the survival-curve PNG (one panel per env); None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning('matplotlib is not installed: no plot (pip install "gym-powergrid[plot]")')
        return None
    curves = survival_curves(df)
    envs = list(dict.fromkeys(k[0] for k in curves))
    fig, axes = plt.subplots(1, len(envs), figsize=(6 * len(envs), 4), squeeze=False)
    styles = ("-", "--", "-.", ":")
    for ax, env in zip(axes[0], envs):
        mine = [(agent, c) for (e, agent), c in curves.items() if e == env]
        for i, (agent, (steps, alive)) in enumerate(mine):
            # identical curves (agents that all survive) stay visible: thick first, dashed after
            ax.step(steps, alive, where="post", label=agent, linestyle=styles[i % len(styles)],
                    linewidth=1.2 + 2.0 * (len(mine) - 1 - i) / max(len(mine) - 1, 1))
        ax.set_title(f"survival on {env}")
        ax.set_xlabel("step")
        ax.set_ylabel("fraction of episodes without game over")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def flat_metrics(agg) -> dict[str, float]:
    """Named numbers: ``<env>/<agent>/<metric>`` (keys documented in the benchmarks README)."""
    out: dict[str, float] = {}
    for _, r in agg.iterrows():
        prefix = f"{r['env']}/{r['agent']}"
        for metric in ("episodes", "survival_mean", "survival_median", "reward_mean",
                       "reward_per_step", "game_overs", "actions_mean", "seconds_per_step",
                       "candidates_per_second"):
            if metric in r and r[metric] == r[metric]:
                out[f"{prefix}/{metric}"] = float(r[metric])
    return out


def measure_lookahead(env_spec: Any, env_kwargs: dict | None = None, steps: int = 4,
                      repeats: int = 5) -> dict[str, float]:
    """Greedy's candidates scored by the batch kernel and by ``simulate``, side by side.

    Plays ``steps`` do-nothing steps and, at each, scores every legal greedy candidate with
    :class:`~gym_powergrid.agents.lookahead.BatchLookahead` (best of ``repeats``, one thread and
    all threads) and once with :class:`~gym_powergrid.agents.lookahead.SimulateLookahead`.

    Returns:
        ``candidates``, ``batch_1thread_candidates_per_second``,
        ``batch_candidates_per_second`` (all threads), ``simulate_candidates_per_second`` and
        ``speedup`` (the faster batch figure over simulate).
    """
    import numba

    from ..env_specs import build_env
    from .lookahead import BatchLookahead, SimulateLookahead
    from .search import CandidateSet

    env = build_env(env_spec, **(env_kwargs or {}))
    env.reset(seed=0)
    base = env.unwrapped
    cands = CandidateSet(env, lines=True, substations=True)
    batch, ref = BatchLookahead(env), SimulateLookahead(env)
    batch.evaluator.min_per_thread = 1  # measure with exactly the threads asked below
    n_threads = numba.get_num_threads()
    t_batch = {1: 0.0, n_threads: 0.0}
    t_sim = 0.0
    n = 0
    for _ in range(steps):
        actions = cands.actions[cands.mask(base.state, base.limits)]
        for threads in t_batch:
            numba.set_num_threads(threads)
            best = float("inf")
            for _ in range(repeats):
                batch.evaluate(actions)
                best = min(best, batch.last_seconds)
            t_batch[threads] += best
        numba.set_num_threads(n_threads)
        ref.evaluate(actions)
        t_sim += ref.last_seconds
        n += len(actions)
        _, _, term, trunc, _ = env.step(base.action_helper.do_nothing())
        if term or trunc:
            env.reset()
    env.close()
    out = {"candidates": float(n / steps),
           "batch_1thread_candidates_per_second": n / t_batch[1],
           "batch_candidates_per_second": n / t_batch[n_threads],
           "simulate_candidates_per_second": n / t_sim, "threads": float(n_threads)}
    best = max(out["batch_1thread_candidates_per_second"], out["batch_candidates_per_second"])
    out["speedup"] = best / out["simulate_candidates_per_second"]
    return out


def save_results(df, agg, output: str | os.PathLike, plot: bool = True) -> dict[str, Path]:
    """Write ``episodes.csv``, ``agents.csv`` and ``survival.png`` into ``output``."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"episodes": out / "episodes.csv", "agents": out / "agents.csv"}
    df.to_csv(paths["episodes"], index=False)
    agg.to_csv(paths["agents"], index=False)
    if plot:
        png = plot_survival(df, out / "survival.png")
        if png is not None:
            paths["plot"] = png
    return paths
