"""Run an agent on an environment over episodes and record what happens (pypownet's Runner).

:class:`Runner` plays episodes with a progress bar and, when given an output folder, writes
what pypownet's runner wrote (``runner.log`` and ``machine_logs.csv``) in a documented format:

``OUTPUT/runner.log``
    human-readable log: the run's settings, one line per step (reward, actions, events), one
    per game over and a summary per episode.
``OUTPUT/steps.csv``
    one row per step (pypownet's ``machine_logs.csv``); columns in :data:`STEP_COLUMNS` plus
    one ``reward_<name>`` column per reward component; load with :func:`load_steps_csv`.
``OUTPUT/episodes.csv``
    one row per episode (the :class:`EpisodeSummary` fields).
``OUTPUT/summary.json``
    the run's settings, per-episode summaries and agent statistics.
``OUTPUT/actions.csv`` (``record_actions=True``)
    every action taken, replayable with the ``replay`` agent.

Episodes follow pypownet's game-over modes: in ``soft`` and ``easy`` mode a game over is
counted and the episode goes on from the next step with the reference topology (the env's
``reset`` does that); in ``hard`` mode a game over ends the episode. ``stop_on_game_over=True``
ends episodes at the first game over whatever the mode (what the agent benchmark does).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# re-exported: their home is below both this module and ``agents`` (no import cycle)
from .env_specs import build_env, check_env_spec, format_table, import_user_module_path

__all__ = ["EpisodeSummary", "LIST_COLUMNS", "RunSummary", "Runner", "STEP_COLUMNS", "build_env",
           "check_env_spec", "format_table", "import_user_module_path", "load_steps_csv"]

logger = logging.getLogger(__name__)
#: per-step lines (DEBUG); ``runner.log`` always gets them
step_logger = logging.getLogger(__name__ + ".steps")

#: Columns of ``steps.csv`` (``reward_<component>`` columns follow ``reward``).
#: List-valued cells hold space-separated integers ("" for none).
STEP_COLUMNS: dict[str, str] = {
    "episode": "episode number (0-based) within the run",
    "chronic": "name of the chronic played",
    "step": "step number within the episode (1-based)",
    "timestep": "row of the chronic reached by this step",
    "datetime": "date and time of that row",
    "reward": "reward of the step (sum of the components)",
    "cumulative_reward": "reward summed since the episode started",
    "actions": "indices of the 1s of the agent's action (list)",
    "actions_applied": "indices of the 1s of the action applied after the legality rules (list)",
    "illegal_replaced": "1 when the action exceeded the limits and became do-nothing",
    "illegal_reconnections": "lines whose reconnection was refused: broken/maintenance (list)",
    "lines_on_cooldown": "line switches refused because of a cooldown (list)",
    "substations_on_cooldown": "substation switches refused because of a cooldown (list)",
    "lines_broken": "lines broken by overflows during the step's cascade (list)",
    "lines_maintenance": "lines whose planned maintenance started (list)",
    "lines_hazards": "lines taken out by a hazard (list)",
    "cascade_depth": "number of cascade levels",
    "game_over": "1 when the step ended in a game over",
    "game_over_reason": "diverged, too_many_loads_cut or too_many_prods_cut ('' if none)",
    "agent_seconds": "time the agent took to act",
    "env_seconds": "time the environment took to step",
}
LIST_COLUMNS = ("actions", "actions_applied", "illegal_reconnections", "lines_on_cooldown",
                "substations_on_cooldown", "lines_broken", "lines_maintenance", "lines_hazards")


@dataclass
class EpisodeSummary:
    """What happened in one episode.

    ``steps_survived`` counts the steps completed before the first game over (the failing
    step excluded); without a game over it equals ``steps``.
    """

    episode: int
    chronic: str
    seed: int | None
    steps: int = 0
    steps_survived: int = 0
    cumulative_reward: float = 0.0
    game_overs: int = 0
    game_over_reasons: dict[str, int] = field(default_factory=dict)
    first_game_over_reason: str = ""
    actions_taken: int = 0
    switches: int = 0
    illegal_actions: int = 0
    lines_broken: int = 0
    seconds: float = 0.0
    agent_seconds: float = 0.0

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / self.steps if self.steps else float("nan")

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["game_over_reasons"] = ";".join(f"{k}:{v}" for k, v in
                                            sorted(self.game_over_reasons.items()))
        row["seconds_per_step"] = self.seconds_per_step
        return row


@dataclass
class RunSummary:
    """All episodes of a run, with totals and a printable table."""

    env: str
    agent: str
    episodes: list[EpisodeSummary]
    agent_stats: dict[str, float] = field(default_factory=dict)
    output_dir: str | None = None

    @property
    def total_steps(self) -> int:
        return sum(e.steps for e in self.episodes)

    def totals(self) -> dict[str, float]:
        """Aggregates over episodes (flat dict of numbers)."""
        eps = self.episodes
        steps = self.total_steps
        out: dict[str, float] = {
            "episodes": len(eps), "steps": steps,
            "steps_survived_mean": float(np.mean([e.steps_survived for e in eps])) if eps else 0.0,
            "steps_survived_median": (float(np.median([e.steps_survived for e in eps]))
                                      if eps else 0.0),
            "cumulative_reward_mean": (float(np.mean([e.cumulative_reward for e in eps]))
                                       if eps else 0.0),
            "game_overs": sum(e.game_overs for e in eps),
            "actions_taken": sum(e.actions_taken for e in eps),
            "illegal_actions": sum(e.illegal_actions for e in eps),
            "lines_broken": sum(e.lines_broken for e in eps),
            "seconds_per_step": (sum(e.seconds for e in eps) / steps) if steps else float("nan"),
        }
        out.update(self.agent_stats)
        return out

    def to_frame(self):
        """Episodes as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([e.as_row() for e in self.episodes])

    def format_table(self) -> str:
        """A plain-text table of the episodes and their totals."""
        headers = ["episode", "chronic", "steps", "survived", "reward", "game overs",
                   "reasons", "actions", "illegal", "broken", "ms/step"]
        rows = []
        for e in self.episodes:
            reasons = ", ".join(f"{k} x{v}" for k, v in sorted(e.game_over_reasons.items()))
            rows.append([e.episode, e.chronic, e.steps, e.steps_survived,
                         f"{e.cumulative_reward:.2f}", e.game_overs, reasons or "-",
                         e.actions_taken, e.illegal_actions, e.lines_broken,
                         f"{1e3 * e.seconds_per_step:.2f}"])
        t = self.totals()
        if len(self.episodes) > 1:
            reasons = Counter()
            for e in self.episodes:
                reasons.update(e.game_over_reasons)
            rows.append(["all", f"{len(self.episodes)} episodes", t["steps"],
                         f"{t['steps_survived_mean']:.1f}",
                         f"{t['cumulative_reward_mean']:.2f}", t["game_overs"],
                         ", ".join(f"{k} x{v}" for k, v in sorted(reasons.items())) or "-",
                         t["actions_taken"], t["illegal_actions"], t["lines_broken"],
                         f"{1e3 * t['seconds_per_step']:.2f}"])
        title = f"{self.agent} on {self.env}"
        lines = [title, format_table(headers, rows, separator_before_last=len(self.episodes) > 1)]
        cps = self.agent_stats.get("candidates_per_second", float("nan"))
        if cps == cps and cps > 0:  # agents without a look-ahead report nothing
            lines.append(f"look-ahead: {self.agent_stats['candidates_per_second']:,.0f} "
                         f"candidate actions evaluated per second")
        return "\n".join(lines)


def _ids(values) -> str:
    return " ".join(str(int(v)) for v in values)


def load_steps_csv(path: str | os.PathLike):
    """Read ``steps.csv`` into a DataFrame; list columns become lists of ints."""
    import pandas as pd

    text_cols = (*LIST_COLUMNS, "chronic", "game_over_reason", "datetime")
    df = pd.read_csv(path, dtype=dict.fromkeys(text_cols, str), keep_default_na=False)
    for col in LIST_COLUMNS:
        if col in df.columns:
            df[col] = [[int(x) for x in v.split()] for v in df[col]]
    return df


class Runner:
    """Plays an agent on an environment and records the episodes.

    Args:
        env: a gym_powergrid env (possibly wrapped; its action space must stay MultiBinary).
        agent: an :class:`~gym_powergrid.agents.Agent` (anything with ``act``).
        output_dir: folder for ``runner.log``, ``steps.csv``, ``episodes.csv``, ``summary.json``
            (None: write nothing).
        progress: show a tqdm progress bar (on stderr).
        render_latency: seconds to sleep after each step when the env renders (``human``).
        record_actions: also write ``actions.csv`` (needs ``output_dir``), replayable with
            the ``replay`` agent.
        stop_on_game_over: end episodes at the first game over (default: only in ``hard``
            game-over mode, as pypownet).
        record_episodes: also save each episode to ``episodes/episode_<K>.npz`` (needs
            ``output_dir``), replayable with ``gym-powergrid replay`` (see
            :mod:`gym_powergrid.episodes`).
    """

    def __init__(self, env: Any, agent: Any, output_dir: str | os.PathLike | None = None,
                 progress: bool = True, render_latency: float | None = None,
                 record_actions: bool = False, stop_on_game_over: bool | None = None,
                 record_episodes: bool = False) -> None:
        self.env = env
        self.agent = agent
        self.base_env = getattr(env, "unwrapped", env)
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.progress = progress
        self.render_latency = render_latency
        self.record_actions = record_actions
        if record_episodes and self.output_dir is None:
            raise ValueError("record_episodes=True needs an output_dir to save episodes into")
        self.record_episodes = record_episodes
        self._episode_rec = None
        mode = getattr(getattr(self.base_env, "config", None), "game_over_mode", "soft")
        self.stop_on_game_over = (mode == "hard") if stop_on_game_over is None else bool(
            stop_on_game_over)
        self._csv_fh = None
        self._csv = None
        self._components: list[str] | None = None
        self._recorder = None
        self._log_fh = None
        self._settings: dict[str, Any] = {}

    # ------------------------------------------------------------------ public
    def run(self, episodes: int = 1, max_steps: int | None = None,
            chronics: list[str | int] | None = None, seed: int | None = None,
            start_step: int | None = None) -> RunSummary:
        """Play ``episodes`` episodes of at most ``max_steps`` steps each.

        Args:
            episodes: number of episodes.
            max_steps: step budget per episode (None: until the chronic ends).
            chronics: chronic names or indices played in turn (None: the env's looping mode).
            seed: seed of the env's first reset (episodes then follow the env's generator).
            start_step: first row of the chronic of each episode (default 0).

        Returns:
            the :class:`RunSummary`.
        """
        from tqdm.auto import tqdm

        if episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {episodes}")
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {max_steps}")
        from .agents import agent_name

        env_name = getattr(getattr(self.env, "spec", None), "id", None) or getattr(
            self.base_env, "name", type(self.base_env).__name__)
        summary = RunSummary(str(env_name), agent_name(self.agent), [],
                             output_dir=str(self.output_dir) if self.output_dir else None)
        handler = self._open_outputs(summary, episodes, max_steps, chronics, seed)
        total = episodes * max_steps if max_steps else None
        bar = tqdm(total=total, unit="step", disable=not self.progress, dynamic_ncols=True,
                   desc=f"{summary.agent}")
        try:
            for e in range(episodes):
                chronic = chronics[e % len(chronics)] if chronics else None
                ep = self._episode(e, chronic, seed if e == 0 else None, start_step, max_steps,
                                   bar)
                summary.episodes.append(ep)
                self._note("episode %d (%s): %d steps, survived %d, reward %.3f, %d game "
                           "over(s) %s, %d actions, %.2f ms/step", e, ep.chronic, ep.steps,
                           ep.steps_survived, ep.cumulative_reward, ep.game_overs,
                           dict(ep.game_over_reasons), ep.actions_taken,
                           1e3 * ep.seconds_per_step)
        finally:
            bar.close()
            summary.agent_stats = dict(getattr(self.agent, "stats", {}) or {})
            self._close_outputs(summary, handler)
        return summary

    def loop(self, iterations: int, epochs: int = 1) -> RunSummary:
        """pypownet's ``Runner.loop``: ``epochs`` episodes of ``iterations`` steps."""
        return self.run(episodes=epochs, max_steps=iterations)

    # ------------------------------------------------------------------ episodes
    def _episode(self, e: int, chronic, seed, start_step, max_steps, bar) -> EpisodeSummary:
        env, agent = self.env, self.agent
        options: dict[str, Any] = {"start_step": 0 if start_step is None else int(start_step)}
        if chronic is not None:
            options["chronic"] = chronic
        obs, info = env.reset(seed=seed, options=options)
        ep = EpisodeSummary(e, str(info.get("chronic_name", chronic)), seed)
        rec = self._new_episode_recorder()
        if rec is not None:
            rec.reset(obs, info)
        self._note("episode %d: chronic %s from step %s (%s)", e, ep.chronic,
                   info.get("timestep"), info.get("datetime"))
        if hasattr(agent, "reset"):
            agent.reset(obs, info)
        reasons: Counter = Counter()
        cumulative = 0.0
        survived = None
        t_start = time.perf_counter()
        while max_steps is None or ep.steps < max_steps:
            t0 = time.perf_counter()
            action = agent.act(obs)
            t1 = time.perf_counter()
            obs, reward, terminated, truncated, info = env.step(action)
            t2 = time.perf_counter()
            if hasattr(agent, "feed_reward"):
                agent.feed_reward(action, obs, reward, info)
            ep.steps += 1
            ep.agent_seconds += t1 - t0
            cumulative += float(reward)
            a = np.asarray(action)
            if a.any():
                ep.actions_taken += 1
                ep.switches += int(np.count_nonzero(a))
            illegal = info.get("illegal") or {}
            if illegal.get("replaced_by_do_nothing") or illegal.get("illegal_reconnections") or \
                    illegal.get("lines_on_cooldown") or illegal.get("substations_on_cooldown"):
                ep.illegal_actions += 1
            ep.lines_broken += len(info.get("lines_broken", ()))
            if rec is not None:
                rec.step(a, obs, float(reward), terminated, truncated, info)
            reason = info.get("game_over_reason") if terminated else None
            self._write_step(e, ep, a, float(reward), cumulative, info, reason, t1 - t0, t2 - t1)
            bar.update(1)
            if self.render_latency and getattr(self.base_env, "render_mode", None) == "human":
                time.sleep(self.render_latency)
            if terminated:
                ep.game_overs += 1
                reasons[reason or "unknown"] += 1
                if survived is None:
                    survived = ep.steps - 1
                    ep.first_game_over_reason = reason or "unknown"
                self._note("episode %d step %d: game over (%s)", e, ep.steps, reason)
                chron = getattr(self.base_env, "current_chronic", None)
                at_end = chron is not None and info.get("timestep", 0) >= chron.n_steps - 1
                if self.stop_on_game_over or at_end or (max_steps is not None
                                                        and ep.steps >= max_steps):
                    break
                obs, info = env.reset()  # soft/easy: the same chronic goes on
                if rec is not None:
                    rec.reset(obs, info)
                continue
            if truncated:
                break
        ep.seconds = time.perf_counter() - t_start
        if rec is not None:
            from .episodes import episode_path

            rec.save(episode_path(self.output_dir, e))
        ep.cumulative_reward = cumulative
        ep.steps_survived = ep.steps if survived is None else survived
        ep.game_over_reasons = dict(reasons)
        return ep

    def _new_episode_recorder(self):
        if not self.record_episodes:
            return None
        from .episodes import EpisodeRecorder

        base = self.base_env
        spec = getattr(getattr(self.env, "spec", None), "id", None) or getattr(base, "name", "")
        folder = getattr(base, "parameters_folder", None)
        return EpisodeRecorder(str(spec), str(folder) if folder else None, base.grid.line_name)

    # ------------------------------------------------------------------ outputs
    def _open_outputs(self, summary: RunSummary, episodes, max_steps, chronics, seed):
        self._settings = {"env": summary.env, "agent": summary.agent, "episodes": episodes,
                          "max_steps": max_steps, "chronics": chronics, "seed": seed,
                          "stop_on_game_over": self.stop_on_game_over}
        cfg = getattr(self.base_env, "config", None)
        if cfg is not None:
            import dataclasses

            self._settings["configuration"] = dataclasses.asdict(cfg)
        if self.output_dir is None:
            return None
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._log_fh = open(self.output_dir / "runner.log", "w", encoding="utf-8")  # noqa: SIM115
        # warnings of the library (env, agents) during the run also go to runner.log
        handler = logging.StreamHandler(self._log_fh)
        handler.setLevel(logging.WARNING)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
        logging.getLogger("gym_powergrid").addHandler(handler)
        self._note("run settings: %s", json.dumps(self._settings, default=str))
        self._csv_fh = open(self.output_dir / "steps.csv", "w", newline="",  # noqa: SIM115
                            encoding="utf-8")
        self._csv = csv.writer(self._csv_fh)
        self._components = None
        if self.record_actions:
            from .agents.replay import ActionsRecorder

            self._recorder = ActionsRecorder(self.output_dir / "actions.csv")
        return handler

    def _note(self, fmt: str, *args: Any, level: int = logging.INFO,
              log: logging.Logger = logger) -> None:
        """Log a message and write it to ``runner.log`` (when there is one)."""
        log.log(level, fmt, *args)
        if self._log_fh is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            self._log_fh.write(f"{stamp} {logging.getLevelName(level)} {fmt % args}\n")

    def _log_step(self, e, ep, action, reward, cumulative, info, reason) -> None:
        choice = getattr(self.agent, "last_choice", None)
        self._note("ep %d step %d t=%s %s reward %.4f cum %.4f actions [%s]%s%s%s", e, ep.steps,
                   info.get("timestep"), info.get("datetime"), reward, cumulative,
                   _ids(np.flatnonzero(action)), f" ({choice})" if choice else "",
                   f" broken {info['lines_broken']}" if info.get("lines_broken") else "",
                   f" GAME OVER {reason}" if reason else "", level=logging.DEBUG,
                   log=step_logger)

    def _write_step(self, e, ep, action, reward, cumulative, info, reason, agent_s, env_s):
        illegal = info.get("illegal") or {}
        if self._log_fh is not None or step_logger.isEnabledFor(logging.DEBUG):
            self._log_step(e, ep, action, reward, cumulative, info, reason)
        if self._recorder is not None:
            self._recorder.dump(action)
        if self._csv is None:
            return
        comps = info.get("reward_components") or {}
        if self._components is None:
            self._components = list(comps)
            header = list(STEP_COLUMNS)
            i = header.index("reward") + 1
            header[i:i] = [f"reward_{c}" for c in self._components]
            self._csv.writerow(header)
        applied = info.get("action_applied")
        row = [e, ep.chronic, ep.steps, info.get("timestep", ""), info.get("datetime", ""),
               repr(reward)]
        row += [repr(float(comps[c])) if c in comps else "" for c in self._components]
        row += [repr(cumulative), _ids(np.flatnonzero(action)),
                _ids(np.flatnonzero(applied)) if applied is not None else "",
                int(bool(illegal.get("replaced_by_do_nothing"))),
                _ids(illegal.get("illegal_reconnections", ())),
                _ids(illegal.get("lines_on_cooldown", ())),
                _ids(illegal.get("substations_on_cooldown", ())),
                _ids(info.get("lines_broken", ())), _ids(info.get("lines_maintenance_started", ())),
                _ids(info.get("lines_hazards_started", ())), info.get("cascade_depth", 0),
                int(reason is not None), reason or "", f"{agent_s:.6f}", f"{env_s:.6f}"]
        self._csv.writerow(row)

    def _close_outputs(self, summary: RunSummary, handler) -> None:
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
        if self._csv_fh is not None:
            self._csv_fh.close()
            self._csv_fh = self._csv = None
        if self.output_dir is not None and summary.episodes is not None:
            summary.to_frame().to_csv(self.output_dir / "episodes.csv", index=False)
            payload = {"settings": self._settings, "totals": summary.totals(),
                       "episodes": [e.as_row() for e in summary.episodes]}
            with open(self.output_dir / "summary.json", "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=2, default=_json_default)
        if handler is not None:
            self._note("totals: %s", json.dumps(summary.totals(), default=_json_default))
            logging.getLogger("gym_powergrid").removeHandler(handler)
            handler.close()
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None


def _json_default(obj: Any):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
