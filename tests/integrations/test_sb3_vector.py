"""The SB3 VecEnv adapter over the native vector env (gym_powergrid.integrations.sb3)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
sb3_contrib = pytest.importorskip("sb3_contrib")

from stable_baselines3.common.vec_env import DummyVecEnv, VecCheckNan, VecEnv  # noqa: E402

from gym_powergrid.integrations.sb3 import PowerGridSB3VecEnv  # noqa: E402
from gym_powergrid.training import make_training_env  # noqa: E402

HARD = "PowerGrid-case14-hard-v0"


def dummy(env_id: str, n: int) -> DummyVecEnv:
    return DummyVecEnv([lambda: make_training_env(env_id) for _ in range(n)])


def test_same_as_dummy_vec_env_of_training_envs():
    """Flat observations, masks, rewards, dones and terminal infos equal DummyVecEnv's over
    make_training_env (the training recipe's envs) with the same seeds."""
    n = 3
    va, vb = PowerGridSB3VecEnv(HARD, n), dummy(HARD, n)
    assert isinstance(va, VecEnv)
    assert va.observation_space == vb.observation_space
    assert va.action_space == vb.action_space
    va.seed(5)
    vb.seed(5)
    oa, ob = va.reset(), vb.reset()
    rng = np.random.default_rng(0)
    n_done = 0
    for step in range(120):
        np.testing.assert_array_equal(oa, ob, err_msg=f"step {step}")
        ma = va.env_method("action_masks")
        mb = vb.env_method("action_masks")
        np.testing.assert_array_equal(np.stack(ma), np.stack(mb))
        acts = np.array([rng.choice(np.flatnonzero(m)) if rng.random() < 0.3 else 0
                         for m in mb])
        oa, ra, da, ia = va.step(acts)
        ob, rb, db, ib = vb.step(acts)
        np.testing.assert_array_equal(ra, rb)
        np.testing.assert_array_equal(da, db)
        for i in np.flatnonzero(db):
            n_done += 1
            np.testing.assert_array_equal(ia[i]["terminal_observation"],
                                          ib[i]["terminal_observation"])
            for k in ("TimeLimit.truncated", "game_over_reason", "timestep", "chronic_name"):
                assert ia[i][k] == ib[i][k], k
    assert n_done >= 1
    va.close()
    vb.close()


def test_masks_batched_and_ppo_learns():
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
    from stable_baselines3 import PPO

    venv = PowerGridSB3VecEnv("PowerGrid-case14-v0", 2)
    assert is_masking_supported(venv)
    venv.seed(0)
    obs = venv.reset()
    assert obs.shape == (2,) + venv.observation_space.shape
    masks = get_action_masks(venv)
    assert masks.shape == (2, venv.action_space.n) and masks.all()
    venv.step(np.array([1, 0]))  # action 1 = switch line 0: on cooldown afterwards in grid 0
    masks = get_action_masks(venv)
    assert not masks[0, 1] and masks[1, 1]
    with pytest.raises(ValueError, match=r"integers in \[0, "):
        venv.step(np.array([0, venv.action_space.n]))
    checked = VecCheckNan(venv, raise_exception=True)
    kw = {"n_steps": 64, "batch_size": 64, "n_epochs": 1, "seed": 0, "device": "cpu",
          "policy_kwargs": {"net_arch": [32]}}
    MaskablePPO("MlpPolicy", checked, **kw).learn(256)
    PPO("MlpPolicy", checked, **kw).learn(256)
    venv.close()


def test_bad_arguments():
    with pytest.raises(ValueError, match="action_space"):
        PowerGridSB3VecEnv("PowerGrid-case14-v0", 1, action_space="box")
    with pytest.raises(ValueError, match="observation"):
        PowerGridSB3VecEnv("PowerGrid-case14-v0", 1, observation="image")


def test_batched_masks_and_switches_match_the_per_action_rule():
    """The batched legality rule and switches of DiscreteUnitaryActions against the rule
    stated action by action (its documented meaning), on states with cooldowns and outages."""
    venv = PowerGridSB3VecEnv(HARD, 3)
    venv.seed(1)
    venv.reset()
    rng = np.random.default_rng(1)
    d = venv.discrete
    seen_false = 0
    for _ in range(60):
        masks = venv.action_masks()
        nodes = venv.native.topologies[:, :d.helper.offset_status]
        for g, st in enumerate(venv.native.states):
            for i, a in enumerate(d.actions):
                if a[0] == "line":
                    legal = not (st.line_cooldown[a[1]] > 0 or (
                        not st.line_status[a[1]] and st.line_unavailable[a[1]] > 0))
                elif a[0] == "substation":
                    legal = not st.sub_cooldown[a[1]] > 0
                else:
                    legal = True
                assert masks[g, i] == legal
                seen_false += not legal
        idx = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        sw = d.batch_to_switches(idx, nodes)
        for g, i in enumerate(idx):
            a = d.actions[i]
            want = np.zeros(sw.shape[1], np.int8)
            if a[0] == "line":
                want[d.helper.offset_status + a[1]] = 1
            elif a[0] == "substation":
                want[a[2]] = nodes[g, a[2]] ^ a[3]
            np.testing.assert_array_equal(sw[g], want)
        venv.step(idx)
    assert seen_false > 0
    venv.close()
