"""Default reward, constraint costs and scaled observations on every registered id."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import gym_powergrid
from gym_powergrid.envs.rewards import (
    SURVIVAL_GAME_OVER,
    SURVIVAL_STEP_MAX,
    SURVIVAL_STEP_MIN,
    SurvivalReward,
)
from gym_powergrid.envs.wrappers import DiscreteUnitaryActions, FlatObservation

IDS = sorted(gym_powergrid.ENV_IDS)
N_STEPS = 10_000


def test_game_over_is_never_worth_more_than_surviving():
    assert SURVIVAL_GAME_OVER < 0 < SURVIVAL_STEP_MIN <= SURVIVAL_STEP_MAX
    r = SurvivalReward()
    worst = r.from_features(np.array([0, 0, 0, 0, -5.0, 1000, 1000, 3]), None, n_illegal=50)
    best = r.from_features(np.array([0, 0, 0, 0, 5.0, 0, 0, 3]), None)
    over = r.from_features(np.array([0, 0, 0, 0, 1.0, 0, 0, 3]), "diverged")
    assert sum(worst.values()) == pytest.approx(SURVIVAL_STEP_MIN)
    assert sum(best.values()) == pytest.approx(SURVIVAL_STEP_MAX)
    assert sum(over.values()) == SURVIVAL_GAME_OVER


@pytest.mark.parametrize("env_id", IDS)
def test_reward_and_observation_bounds_over_random_steps(env_id):
    """10,000 random legal unitary actions: rewards within the documented bounds, every
    scaled observation inside ``observation_space``, constraint costs in ``info``."""
    env = FlatObservation(DiscreteUnitaryActions(gym.make(env_id)))
    space = env.observation_space
    assert np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))
    assert space.high.max() <= 3 and space.low.min() >= -3
    masks = env.get_wrapper_attr("action_masks")
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    n_over = acted = 0
    lo, hi = np.full(space.shape, np.inf), np.full(space.shape, -np.inf)
    for _ in range(N_STEPS):
        assert space.contains(obs)
        lo, hi = np.minimum(lo, obs), np.maximum(hi, obs)
        legal = np.flatnonzero(masks())
        action = 0 if rng.random() < 0.7 else int(rng.choice(legal))
        acted += action != 0
        obs, reward, terminated, truncated, info = env.step(action)
        costs = info["constraint_costs"]
        assert set(costs) == {"overloaded_lines", "loads_cut", "prods_cut"}
        assert info["cost"] == sum(costs.values()) >= 0
        if terminated:
            n_over += 1
            assert reward == SURVIVAL_GAME_OVER
        else:
            assert SURVIVAL_STEP_MIN - 1e-9 <= reward <= SURVIVAL_STEP_MAX + 1e-9
            assert info["reward_components"]["survival"] > 0
        if terminated or truncated:
            obs, _ = env.reset()
    env.close()
    assert acted > 1000
    # the features really move within their range (not all clipped or constant)
    assert np.count_nonzero(hi > lo) > space.shape[0] // 4


def test_pypownet_reward_stays_available_by_name():
    env = gym.make("PowerGrid-case14-v0", reward="pypownet")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(env.action_space.shape, np.int8))
    comps = info["reward_components"]
    assert set(comps) == {"loads_cut", "prods_cut", "action_cost", "distance_to_reference",
                          "line_usage"}
    assert reward == pytest.approx(sum(comps.values())) and reward <= 0
    env.close()


def test_scaled_observation_features():
    env = FlatObservation(gym.make("PowerGrid-case14-v0"))
    obs, _ = env.reset(seed=0, options={"chronic": 0})
    raw = env.unwrapped._last_obs
    usage = raw["ampere_flows"] / raw["thermal_limits"]
    np.testing.assert_allclose(obs[env.slices["ampere_flows"]], usage, rtol=1e-5)
    np.testing.assert_allclose(obs[env.slices["date_hour"]], raw["date_hour"] / 23, rtol=1e-6)
    assert np.all(obs[env.slices["lines_status"]] == 1)
    with pytest.raises(ValueError, match="no scaling rule"):
        FlatObservation(gym.make("PowerGrid-case14-v0"), keys=("substations_ids",))
