"""Every registered id builds, passes Gymnasium's and SB3's checkers, and runs."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import gym_powergrid
from gym_powergrid.envs.sources import shipped_environments

IDS = sorted(gym_powergrid.ENV_IDS)


def test_registered_ids_and_shipped_folders():
    assert {"PowerGrid-case14-v0", "PowerGrid-case30-v0", "PowerGrid-case118-v0",
            "PowerGrid-case14-dc-v0"} <= set(IDS)
    assert {"case14", "case30", "case118"} <= set(shipped_environments())


@pytest.mark.parametrize("env_id", IDS)
def test_checkers(env_id):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert info["chronic_name"]
    env.close()


def test_make_without_prior_import():
    code = ("import gymnasium as gym; e = gym.make('gym_powergrid:PowerGrid-case14-v0'); "
            "o, _ = e.reset(seed=0); print(e.spec.max_episode_steps, len(o))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600, check=True)
    steps, n_keys = out.stdout.split()
    assert int(steps) >= 672 and int(n_keys) == 45


def test_dc_variant_and_overrides():
    env = gym.make("PowerGrid-case14-dc-v0", hard_overflow_coefficient=2.0)
    assert env.unwrapped.config.loadflow_mode == "DC"
    assert env.unwrapped.config.hard_overflow_coefficient == 2.0
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["reactive_flows_origin"], 0)
    with pytest.raises(ValueError, match="not_a_key"):
        gym.make("PowerGrid-case14-v0", not_a_key=1)


def test_unknown_env_name_hint():
    with pytest.raises(ValueError, match="Did you mean 'case14'"):
        gym_powergrid.PowerGridEnv("case41")


def test_render_rgb_array_registered():
    pytest.importorskip("pygame")
    env = gym.make("PowerGrid-case14-v0", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    env.close()
