"""The native vector env (gym_powergrid.envs.vector) against N single envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, VectorEnv

import gym_powergrid  # noqa: F401
from gym_powergrid.envs.actions import ActionError
from gym_powergrid.envs.registration import ENV_IDS
from gym_powergrid.envs.vector import PowerGridVectorEnv
from gym_powergrid.errors import ConfigurationError

HARD = "PowerGrid-case14-hard-v0"


def native(env_id=HARD, n=3, **kw):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", **kw)


def sync(env_id=HARD, n=3, mode=AutoresetMode.NEXT_STEP, **kw):
    return gym.make_vec(env_id, num_envs=n, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": mode}, **kw)


def random_actions(obs: dict, rng, n_act: int) -> np.ndarray:
    """Per grid: do-nothing, a random legal line switch, or a random switch (maybe refused)."""
    n = obs["lines_status"].shape[0]
    n_line = obs["lines_status"].shape[1]
    a = np.zeros((n, n_act), np.int8)
    for i in range(n):
        r = rng.random()
        if r < 0.3:
            cd = obs["timesteps_before_lines_reactionable"][i]
            ok = np.flatnonzero(cd == 0)
            if ok.size:
                a[i, n_act - n_line + int(rng.choice(ok))] = 1
        elif r < 0.5:
            a[i, int(rng.integers(n_act))] = 1
    return a


def assert_info_equal(got: dict, want: dict, path: str = "") -> None:
    for k, v in want.items():
        assert k in got, f"info key {path}{k} missing"
        if k.startswith("_"):
            np.testing.assert_array_equal(got[k], v, err_msg=f"mask {path}{k}")
            continue
        if isinstance(v, dict):
            assert_info_equal(got[k], v, f"{path}{k}.")
            continue
        mask = want["_" + k]
        if k == "final_obs":
            for i in np.flatnonzero(mask):
                for key in v[i]:
                    np.testing.assert_array_equal(got[k][i][key], v[i][key])
            continue
        g = got[k]
        assert g.dtype == v.dtype, f"{path}{k}: {g.dtype} != {v.dtype}"
        for i in np.flatnonzero(mask):
            np.testing.assert_array_equal(np.asarray(g[i]), np.asarray(v[i]),
                                          err_msg=f"{path}{k}[{i}]")
    for k in got:  # keys only the native env has: masked out everywhere
        if k not in want and not k.startswith("_"):
            assert not got["_" + k].any(), f"info key {path}{k} only in the native env"


def run_both(env_id, n, n_steps, mode, seed=7, policy="random", **kw):
    va = native(env_id, n, autoreset_mode=mode, **kw)
    vb = sync(env_id, n, mode, **kw)
    oa, ia = va.reset(seed=seed)
    ob, ib = vb.reset(seed=seed)
    assert_info_equal(ia, ib)
    rng = np.random.default_rng(seed)
    n_act = va.single_action_space.n
    stats = {"terminated": 0, "truncated": 0}
    for step in range(n_steps):
        for k in ob:
            np.testing.assert_array_equal(oa[k], ob[k], err_msg=f"step {step} obs {k}")
        if policy == "random":
            act = random_actions(ob, rng, n_act)
        else:
            act = np.zeros((n, n_act), np.int8)
        oa, ra, ta, ua, ia = va.step(act)
        ob, rb, tb, ub, ib = vb.step(act)
        np.testing.assert_array_equal(ra, rb, err_msg=f"step {step} rewards")
        np.testing.assert_array_equal(ta, tb, err_msg=f"step {step} terminated")
        np.testing.assert_array_equal(ua, ub, err_msg=f"step {step} truncated")
        assert_info_equal(ia, ib)
        stats["terminated"] += int(tb.sum())
        stats["truncated"] += int(ub.sum())
    va.close()
    vb.close()
    return stats


@pytest.mark.slow
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_same_trajectories_as_single_envs(mode):
    """obs, rewards, terminated, truncated and info equal SyncVectorEnv's over N single envs
    (gymnasium.make, same seeds), through game overs and soft-game-over resets."""
    stats = run_both(HARD, 3, 160, mode)
    assert stats["terminated"] >= 2  # the run covers game overs and the resets after them


def test_same_trajectories_do_nothing_and_pypownet_reward():
    """Do-nothing and a reward computed grid by grid (not the batched survival one)."""
    run_both(HARD, 2, 40, AutoresetMode.NEXT_STEP, seed=1, policy="do-nothing",
             reward="pypownet")


def test_truncation_at_the_end_of_the_chronic():
    """Starting 3 steps before the end of the chronic: truncated as the single env."""
    va = native("PowerGrid-case14-v0", 2)
    vb = sync("PowerGrid-case14-v0", 2)
    opts = {"chronic": 0, "start_step": 0}
    va.reset(seed=0, options=opts)
    vb.reset(seed=0, options=opts)
    n_steps = va.unwrapped.envs[0].current_chronic.n_steps
    opts["start_step"] = n_steps - 3
    oa, _ = va.reset(seed=0, options=opts)
    ob, _ = vb.reset(seed=0, options=opts)
    act = np.zeros((2, va.single_action_space.n), np.int8)
    n_truncated = 0
    for _ in range(4):
        oa, ra, ta, ua, ia = va.step(act)
        ob, rb, tb, ub, ib = vb.step(act)
        np.testing.assert_array_equal(ua, ub)
        np.testing.assert_array_equal(ra, rb)
        assert_info_equal(ia, ib)
        for k in ob:
            np.testing.assert_array_equal(oa[k], ob[k])
        n_truncated += int(ub.sum())
    assert n_truncated == 2  # each grid once, at the chronic's last step


@pytest.mark.slow
@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_every_registered_id(env_id):
    v = native(env_id, 2)
    assert isinstance(v, VectorEnv) and isinstance(v.unwrapped, PowerGridVectorEnv)
    obs, info = v.reset(seed=0)
    assert obs in v.observation_space
    for _ in range(3):
        obs, r, te, tr, info = v.step(v.action_space.sample() * 0)
        assert obs in v.observation_space
        assert r.shape == (2,) and r.dtype == np.float64
        assert te.dtype == np.bool_ and tr.dtype == np.bool_
    v.close()


def test_make_vec_defaults_to_native_and_spaces():
    v = gym.make_vec("PowerGrid-case14-v0", num_envs=2)
    assert isinstance(v.unwrapped, PowerGridVectorEnv)
    assert v.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert v.single_action_space == gym.make("PowerGrid-case14-v0").action_space
    assert v.action_space.shape == (2, v.single_action_space.n)


def test_bad_input_gives_clear_errors():
    v = native("PowerGrid-case14-v0", 2)
    n_act = v.single_action_space.n
    with pytest.raises(RuntimeError, match="reset"):
        v.step(np.zeros((2, n_act), np.int8))
    v.reset(seed=0)
    with pytest.raises(ActionError, match=r"shape \(num_envs, action length\) = \(2, "):
        v.step(np.zeros(n_act, np.int8))
    with pytest.raises(ActionError, match="only 0 and 1; grid 1"):
        bad = np.zeros((2, n_act), np.int8)
        bad[1, 3] = 2
        v.step(bad)
    with pytest.raises(ActionError, match="numbers"):
        v.step(np.full((2, n_act), "a"))
    with pytest.raises(ConfigurationError, match="autoreset_mode"):
        native("PowerGrid-case14-v0", 2, autoreset_mode="sometimes")
    with pytest.raises(ConfigurationError, match="num_envs"):
        PowerGridVectorEnv(0)
    with pytest.raises(ConfigurationError, match="sync"):
        PowerGridVectorEnv(1, parameters="case14", backend="pandapower")
    with pytest.raises(ValueError, match="seeds"):
        v.reset(seed=[1, 2, 3])
    with pytest.raises(ConfigurationError, match="num_threads"):
        native("PowerGrid-case14-v0", 1, num_threads=0)


def test_one_thread_gives_the_same_steps():
    runs = []
    for threads in (None, 1):
        v = native(HARD, 3, num_threads=threads)
        obs, _ = v.reset(seed=2)
        rng = np.random.default_rng(2)
        out = []
        for _ in range(30):
            obs, r, te, tr, _ = v.step(random_actions(obs, rng, v.single_action_space.n))
            out.append((obs["ampere_flows"].copy(), r, te, tr))
        runs.append(out)
    for a, b in zip(*runs):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_copy_false_reuses_buffers_copy_true_does_not():
    act = None
    for copy in (True, False):
        v = native("PowerGrid-case14-v0", 2, copy=copy)
        obs, _ = v.reset(seed=0)
        act = np.zeros((2, v.single_action_space.n), np.int8)
        o1, *_ = v.step(act)
        kept = o1["date_hour"].copy()
        v.step(act)
        changed = not np.array_equal(o1["date_hour"], kept)
        assert changed is (not copy)


def test_disabled_autoreset_needs_reset_mask():
    v = native(HARD, 2, autoreset_mode=AutoresetMode.DISABLED)
    v.reset(seed=7)
    act = np.zeros((2, v.single_action_space.n), np.int8)
    rng = np.random.default_rng(0)
    obs = v.reset(seed=7)[0]
    for _ in range(400):
        obs, r, te, tr, info = v.step(random_actions(obs, rng, act.shape[1]))
        if (te | tr).any():
            break
    assert (te | tr).any()
    with pytest.raises(RuntimeError, match="reset_mask"):
        v.step(act * 0)
    obs, info = v.reset(options={"reset_mask": te | tr})
    assert info["_timestep"].tolist() == (te | tr).tolist()
    v.step(act * 0)
