"""Saved episodes and replay (issue 15, item 4)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

import gym_powergrid  # noqa: F401 - registers the ids
from gym_powergrid.agents import make_agent
from gym_powergrid.episodes import EpisodeFileError, episode_path, load_episode
from gym_powergrid.runner import Runner


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    env = gym.make("PowerGrid-case14-v0")
    agent = make_agent("random-switch", env, seed=0)
    Runner(env, agent, output_dir=out, progress=False, record_episodes=True).run(
        episodes=2, max_steps=12, seed=3)
    env.close()
    return out


def test_saved_episode_matches_the_run(run_dir):
    import pandas as pd

    steps = pd.read_csv(run_dir / "steps.csv")
    for k in (0, 1):
        ep = load_episode(run_dir, k)
        rows = steps[steps.episode == k]
        assert ep.n_steps == len(rows) == 12
        np.testing.assert_allclose(ep.rewards, rows.reward.to_numpy())
        assert ep.n_frames == ep.n_steps + 1 + int(ep.terminated[:-1].sum())
        assert int(ep.actions.any(axis=1).sum()) == int(rows.actions.notna().sum())
        assert ep.line_usage().shape == (ep.n_frames, 20)
        assert ep.meta["env"] == "PowerGrid-case14-v0"


def test_replay_command_writes_heatmap_and_gif(run_dir, tmp_path):
    args = [sys.executable, "-m", "gym_powergrid", "replay", str(run_dir), "--episode", "1",
            "--heatmap", str(tmp_path / "usage.png")]
    if importlib.util.find_spec("pygame") is not None:
        args += ["--gif", str(tmp_path / "ep.gif")]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "12 steps" in out.stdout and (tmp_path / "usage.png").stat().st_size > 1000
    if "--gif" in args:
        from PIL import Image

        with Image.open(tmp_path / "ep.gif") as im:
            assert im.n_frames >= 13


def test_bad_files_are_refused(run_dir, tmp_path):
    with pytest.raises(EpisodeFileError, match="episode_0007.npz does not exist.*episode_0000"):
        load_episode(run_dir, 7)
    data = episode_path(run_dir, 0).read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(EpisodeFileError, match="truncated"):
        load_episode(cut)
    with np.load(episode_path(run_dir, 0)) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["version"] = np.array(99)
    other = tmp_path / "other.npz"
    np.savez(other, **arrays)
    with pytest.raises(EpisodeFileError, match="format version 99.*reads version 1"):
        load_episode(other)
    out = subprocess.run([sys.executable, "-m", "gym_powergrid", "replay", str(cut)],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "truncated" in out.stderr
    with pytest.raises(ValueError, match="needs an output_dir"):
        Runner(gym.make("PowerGrid-case14-v0"), None, record_episodes=True)
