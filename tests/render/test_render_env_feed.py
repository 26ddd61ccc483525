"""What the env gives the renderer: every reward component drawn, history fed at every step,
and gymnasium's RecordVideo (moviepy, from the ``render`` extra)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pygame")

from gym_powergrid.render import GridRenderer  # noqa: E402

COMPONENTS = ("loads_cut", "prods_cut", "action_cost", "distance_to_reference", "line_usage")


def test_every_reward_component_is_drawn(case14):
    grid, obs = case14
    r = GridRenderer(grid, "rgb_array")
    frames = []
    for last in (0.0, -2.4):
        comps = {k: 0.0 for k in COMPONENTS}
        comps["line_usage"] = last  # the last of pypownet's five, the only one non-zero in play
        frames.append(r.render(obs, {"timestep": 1}, cumulative_reward=-1.0,
                               reward_components=comps))
    changed = np.any(frames[0] != frames[1], axis=2)
    x, y, w, h = r.panels.sec_reward
    assert changed[y:y + h, x:x + w].sum() > 50  # its bar and value are in the reward panel
    assert changed.sum() == changed[y:y + h, x:x + w].sum()
    r.close()


def test_many_components_say_how_many_are_hidden(case14):
    grid, obs = case14
    r = GridRenderer(grid, "rgb_array", width=960, height=540)
    comps = {f"c{i}": -float(i) for i in range(30)}
    frame = r.render(obs, {"timestep": 1}, reward_components=comps)
    assert frame.std() > 10
    r.close()


def test_history_is_fed_at_every_step_without_drawing():
    import gymnasium as gym

    import gym_powergrid  # noqa: F401

    env = gym.make("PowerGrid-case14-v0", render_mode="rgb_array")
    env.reset(seed=0, options={"chronic": "01_jan"})
    base = env.unwrapped
    for _ in range(30):
        env.step(base.action_helper.do_nothing())
    frame = env.render()
    history = base._get_renderer().history
    assert len(history) == 31  # reset + 30 steps, the drawn frame not counted twice
    load, _ = history.series()
    assert np.all(load > 0) and np.ptp(load) > 0
    assert frame.shape[2] == 3
    env.reset(seed=0, options={"chronic": "02_feb"})
    assert len(history) == 1
    env.close()


def test_record_video_writes_an_mp4(tmp_path):
    pytest.importorskip("moviepy", reason='RecordVideo needs moviepy: '
                        'pip install "gym-powergrid[render]"')
    import gymnasium as gym
    from gymnasium.wrappers import RecordVideo

    import gym_powergrid  # noqa: F401

    env = RecordVideo(gym.make("PowerGrid-case14-v0", render_mode="rgb_array"),
                      video_folder=str(tmp_path / "videos"), episode_trigger=lambda e: True,
                      video_length=6, disable_logger=True)
    env.reset(seed=0)
    for _ in range(6):
        env.step(env.unwrapped.action_helper.do_nothing())
    env.close()
    videos = list((tmp_path / "videos").glob("*.mp4"))
    assert videos and videos[0].stat().st_size > 1000
