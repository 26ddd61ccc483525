"""Saved episodes: compact per-episode files, replay (GIF) and a line-usage heat map.

``Runner(..., record_episodes=True)`` writes ``RUN_DIR/episodes/episode_<K>.npz`` for each
episode ``K``: every observation shown (the reset one, then one per step, and the one after
each in-episode reset of soft game overs), the actions (bit-packed), rewards, termination
flags and the ``info`` events (timestep, date, lines broken, maintenance and hazards started,
game-over reason). Files are ``np.savez_compressed`` archives written to a temporary name and
renamed, so an interrupted run never leaves a half-written file under the final name.

Format (:data:`FORMAT_VERSION`): ``format`` = ``"gym_powergrid-episode"``, ``version``,
``meta`` (JSON: env, parameters folder, chronic, line names, observation keys), ``obs_<key>``
(frames x n), ``actions`` (packed bits, steps x ceil(n_action / 8)), ``n_action``,
``rewards``, ``terminated``, ``truncated``, ``frame_step`` (frame -> step index, -1 for the
first), ``events`` (JSON list, one dict per frame).

Command line: ``gym-powergrid replay RUN_DIR [--episode K] [--gif PATH] [--heatmap PATH]``.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import PowerGridError

logger = logging.getLogger(__name__)

FORMAT_NAME = "gym_powergrid-episode"
FORMAT_VERSION = 1
EPISODES_DIR = "episodes"
_EVENT_KEYS = ("timestep", "datetime", "chronic_name", "lines_broken",
               "lines_maintenance_started", "lines_hazards_started", "game_over_reason")


class EpisodeFileError(PowerGridError, ValueError):
    """A saved episode file is missing, truncated, or from another format version."""


def episode_path(run_dir: str | os.PathLike, episode: int) -> Path:
    return Path(run_dir) / EPISODES_DIR / f"episode_{int(episode):04d}.npz"


def _events(info: dict) -> dict:
    out = {}
    for k in _EVENT_KEYS:
        v = info.get(k)
        if v is None:
            continue
        out[k] = [int(x) for x in np.atleast_1d(v)] if k.startswith("lines_") else (
            int(v) if isinstance(v, (int, np.integer)) else str(v))
    return out


class EpisodeRecorder:
    """Collects one episode in memory and saves it (used by the Runner)."""

    def __init__(self, env_spec: str, parameters_folder: str | None, line_names) -> None:
        self.meta = {"env": env_spec, "parameters_folder": parameters_folder,
                     "line_names": [str(x) for x in line_names]}
        self._frames: list[dict] = []
        self._events: list[dict] = []
        self._frame_step: list[int] = []
        self._actions: list[np.ndarray] = []
        self._rewards: list[float] = []
        self._term: list[bool] = []
        self._trunc: list[bool] = []

    def reset(self, obs: dict, info: dict) -> None:
        """Record the observation of a reset (first one, or after a soft game over)."""
        self.meta.setdefault("chronic", str(info.get("chronic_name", "")))
        self._frames.append({k: np.asarray(v) for k, v in obs.items()})
        self._events.append({**_events(info), "reset": True})
        self._frame_step.append(len(self._actions) - 1)

    def step(self, action, obs: dict, reward: float, terminated: bool, truncated: bool,
             info: dict) -> None:
        self._actions.append(np.asarray(action, dtype=np.uint8).ravel())
        self._rewards.append(float(reward))
        self._term.append(bool(terminated))
        self._trunc.append(bool(truncated))
        self._frames.append({k: np.asarray(v) for k, v in obs.items()})
        self._events.append(_events(info))
        self._frame_step.append(len(self._actions) - 1)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the episode (atomically) and return its path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self._frames[0]) if self._frames else []
        self.meta["observation_keys"] = keys
        n_action = int(self._actions[0].size) if self._actions else 0
        acts = (np.packbits(np.stack(self._actions), axis=1) if self._actions
                else np.zeros((0, 0), np.uint8))
        arrays = {f"obs_{k}": np.stack([f[k] for f in self._frames]) for k in keys}
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(
                fh, format=np.array(FORMAT_NAME), version=np.array(FORMAT_VERSION),
                meta=np.array(json.dumps(self.meta)), actions=acts, n_action=np.array(n_action),
                rewards=np.array(self._rewards, np.float64),
                terminated=np.array(self._term, bool), truncated=np.array(self._trunc, bool),
                frame_step=np.array(self._frame_step, np.int64),
                events=np.array(json.dumps(self._events)), **arrays)
        os.replace(tmp, path)
        return path


@dataclass
class Episode:
    """A saved episode read back (see the module doc for the fields)."""

    path: Path
    meta: dict
    observations: dict[str, np.ndarray]
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    frame_step: np.ndarray
    events: list[dict]

    @property
    def n_steps(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def n_frames(self) -> int:
        return int(self.frame_step.shape[0])

    def frame(self, i: int) -> dict:
        return {k: v[i] for k, v in self.observations.items()}

    def line_usage(self) -> np.ndarray:
        """(frames, n_line) current / thermal limit."""
        a, lim = self.observations["ampere_flows"], self.observations["thermal_limits"]
        return np.divide(a, lim, out=np.zeros_like(a, dtype=np.float64), where=lim > 0)


def load_episode(run_dir: str | os.PathLike, episode: int = 0) -> Episode:
    """Read episode ``episode`` of a run folder (or an episode file given directly).

    Raises:
        EpisodeFileError: if the file is missing, truncated or not an episode file, or was
            written by another format version.
    """
    p = Path(run_dir)
    path = p if p.is_file() else episode_path(p, episode)
    if not path.is_file():
        folder = p / EPISODES_DIR
        have = sorted(x.name for x in folder.glob("episode_*.npz")) if folder.is_dir() else []
        raise EpisodeFileError(
            f"{path} does not exist; saved episodes: {', '.join(have) or 'none'} (run with "
            "'gym-powergrid run ... --record-episodes' or Runner(record_episodes=True))")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise EpisodeFileError(f"{path} is truncated or not a saved episode ({exc})") from exc
    if str(data.get("format", "")) != FORMAT_NAME:
        raise EpisodeFileError(f"{path} is not a gym_powergrid episode file")
    version = int(data["version"])
    if version != FORMAT_VERSION:
        raise EpisodeFileError(f"{path} has episode format version {version}; this "
                               f"gym_powergrid reads version {FORMAT_VERSION}: replay it with "
                               "the gym_powergrid version that wrote it")
    try:
        meta = json.loads(str(data["meta"]))
        n_action = int(data["n_action"])
        acts = np.unpackbits(data["actions"], axis=1, count=n_action) if n_action else \
            np.zeros((0, 0), np.uint8)
        obs = {k: data[f"obs_{k}"] for k in meta["observation_keys"]}
        ep = Episode(path, meta, obs, acts.astype(np.int8), data["rewards"],
                     data["terminated"], data["truncated"], data["frame_step"],
                     json.loads(str(data["events"])))
    except (KeyError, ValueError) as exc:
        raise EpisodeFileError(f"{path} is incomplete: {exc}") from exc
    if ep.n_frames != len(ep.events) or any(v.shape[0] != ep.n_frames for v in obs.values()):
        raise EpisodeFileError(f"{path} is incomplete: frame counts differ between fields")
    return ep


def _grid_of(ep: Episode):
    from .runner import build_env

    spec = ep.meta.get("parameters_folder") or ep.meta.get("env")
    try:
        env = build_env(spec)
    except Exception as exc:  # noqa: BLE001 - say which environment could not be rebuilt
        raise EpisodeFileError(f"cannot rebuild environment {spec!r} of {ep.path} to draw its "
                               f"grid: {exc}") from exc
    grid = env.unwrapped.grid
    env.close()
    if grid.n_line != len(ep.meta["line_names"]):
        raise EpisodeFileError(f"{ep.path}: environment {spec!r} now has {grid.n_line} lines, "
                               f"the episode {len(ep.meta['line_names'])}")
    return grid


def replay_frames(ep: Episode):
    """Yield the episode's frames re-rendered as RGB arrays (needs the ``render`` extra)."""
    from .render import GridRenderer

    renderer = GridRenderer(_grid_of(ep), render_mode="rgb_array")
    cumulative = 0.0
    try:
        for i in range(ep.n_frames):
            s = int(ep.frame_step[i])
            ev = ep.events[i]
            if s >= 0 and not ev.get("reset"):
                cumulative += float(ep.rewards[s])
            yield renderer.render(ep.frame(i), info=ev, cumulative_reward=cumulative,
                                  game_over=ev.get("game_over_reason"))
    finally:
        renderer.close()


def save_gif(ep: Episode, path: str | os.PathLike, fps: float = 4.0) -> Path:
    from .render import record_gif

    return record_gif(replay_frames(ep), path, fps=fps)


def plot_line_usage(ep: Episode, path: str | os.PathLike | None = None):
    """Heat map of line usage (lines x frames) with actions and game overs marked.

    Returns the matplotlib Figure (saved to ``path`` when given; needs the ``plot`` extra).
    """
    from .errors import require

    require("matplotlib", "plot", "The line-usage heat map")
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    usage = ep.line_usage()
    fig, ax = plt.subplots(figsize=(max(6, min(18, ep.n_frames / 20)), 4 + usage.shape[1] / 8))
    im = ax.imshow(usage.T, aspect="auto", interpolation="nearest", cmap="magma_r",
                   vmin=0, vmax=max(1.2, float(usage.max())))
    fig.colorbar(im, ax=ax, label="usage (current / thermal limit)")
    names = ep.meta["line_names"]
    ax.set_yticks(range(len(names)), names, fontsize=6)
    ax.set_xlabel("frame (step)")
    acted = [i for i in range(ep.n_frames) if ep.frame_step[i] >= 0
             and not ep.events[i].get("reset") and ep.actions[ep.frame_step[i]].any()]
    overs = [i for i, e in enumerate(ep.events) if e.get("game_over_reason")]
    for i in acted:
        ax.axvline(i, color="tab:blue", lw=0.8, alpha=0.7)
    for i in overs:
        ax.axvline(i, color="tab:red", lw=1.5)
    from matplotlib.lines import Line2D

    ax.legend([Line2D([], [], color="tab:blue"), Line2D([], [], color="tab:red", lw=1.5)],
              [f"action ({len(acted)})", f"game over ({len(overs)})"], loc="upper right",
              fontsize=7)
    ax.set_title(f"{ep.meta.get('env')} / {ep.meta.get('chronic')}: line usage")
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def summary_text(ep: Episode) -> str:
    overs = [e["game_over_reason"] for e in ep.events if e.get("game_over_reason")]
    return (f"{ep.path}: env {ep.meta.get('env')}, chronic {ep.meta.get('chronic')}, "
            f"{ep.n_steps} steps, reward {float(ep.rewards.sum()):.3f}, "
            f"{int(ep.actions.any(axis=1).sum()) if ep.n_steps else 0} actions, "
            f"{len(overs)} game over(s){' ' + str(overs) if overs else ''}, "
            f"max line usage {float(ep.line_usage().max()):.2f}")
