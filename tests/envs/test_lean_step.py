"""The lean single-env step: reused kernel buffers never leak into what the caller holds, and
the transition reads an explicit :class:`StepContext`, not the env's private state."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gym_powergrid.core.step_kernel import ENV_STEP_BY_MODE
from gym_powergrid.envs.fast_path import fast_transition
from gym_powergrid.envs.step_context import StepContext, StepScratch
from tests.envs._factory import base_flows, make_chronic, make_env


@pytest.fixture(scope="module")
def env():
    limits = np.maximum(base_flows() * 1.3, 1.0)  # tight: overflows and breaks happen
    e = make_env(chronics=[make_chronic(n_steps=80, wave=0.2, limits=limits)])
    e.reset(seed=3)
    return e


def test_held_observations_results_and_actions_are_not_overwritten(env):
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    held = []
    for _ in range(30):
        a = env.action_helper.do_nothing()
        if rng.random() < 0.4:
            a[rng.integers(len(a))] = 1
        obs, _, term, trunc, info = env.step(a)
        res = env.last_result
        held.append((obs, {k: v.copy() for k, v in obs.items()}, res, res.line_a_or.copy(),
                     res.load_cut_mask.copy(), info["action_applied"],
                     info["action_applied"].copy()))
        env.simulate(a)  # the look-ahead backend has its own buffers
        if term or trunc:
            env.reset()
    for obs, copy, res, a_or, cut, applied, applied_copy in held:
        for k in obs:
            np.testing.assert_array_equal(obs[k], copy[k], err_msg=k)
        np.testing.assert_array_equal(res.line_a_or, a_or)
        np.testing.assert_array_equal(res.load_cut_mask, cut)
        np.testing.assert_array_equal(applied, applied_copy)
    last, prev = held[-1][0], held[-2][0]
    assert not any(np.shares_memory(last[k], prev[k]) for k in last)


def test_transition_reads_only_its_context():
    from gym_powergrid.core.powerflow import NumbaPowerFlow

    limits = np.maximum(base_flows() * 1.3, 1.0)
    env = make_env(chronics=[make_chronic(n_steps=20, wave=0.2, limits=limits)],
                   loadflow_mode="DC")  # DC: no warm start, a separate backend gives the same
    env.reset(seed=3)
    ctx = env.step_context
    assert isinstance(ctx, StepContext) and ctx.chronic is env.current_chronic
    np.testing.assert_array_equal(ctx.limits_a, env.limits_a)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.rules_i = None
    pf = NumbaPowerFlow(env.grid)  # a separate backend: the env's state stays untouched
    scratch = StepScratch(pf.sizes, env.grid.n_line, env.grid.n_sub)
    a = env.action_helper.do_nothing()
    st, result, flag, info, applied, _, obs, _ = fast_transition(
        ctx, scratch, env.state, a, pf, env.ac, simulate=True)
    expected = env.step(a)[0]
    for k in expected:
        np.testing.assert_array_equal(obs[k], expected[k], err_msg=k)
    np.testing.assert_array_equal(result().line_a_or, env.last_result.line_a_or)
    assert st.step == env.state.step and info["timestep"] == st.step


def test_hook_change_keeps_the_context_of_the_chronic(env):
    env.reset(seed=3)
    before = env.step_context
    env.set_injection_hook(lambda *args: {"seen": True})
    try:
        after = env.step_context
        assert after.injection_hook is not None and after.arrays is before.arrays
        assert after.limits_a is before.limits_a
        assert env.step(env.action_helper.do_nothing())[4]["cosim"] == {"seen": True}
    finally:
        env.set_injection_hook(None)


def test_one_step_kernel_signature_for_reset_step_simulate_and_hook(env):
    env.reset(seed=3)
    env.set_injection_hook(lambda *args: None)
    try:
        env.step(env.action_helper.do_nothing())
    finally:
        env.set_injection_hook(None)
    env.simulate(env.action_helper.do_nothing())
    env.step(env.action_helper.do_nothing())
    kernel = ENV_STEP_BY_MODE[env.powerflow.ac_mode if env.ac else 0]
    assert len(kernel.signatures) == 1


def test_pickle_after_a_step_keeps_the_result_and_the_trajectory(env):
    import pickle

    env.reset(seed=3)
    a = env.action_helper.do_nothing()
    for _ in range(3):
        env.step(a)
    clone = pickle.loads(pickle.dumps(env))  # the result is still a closure before this
    np.testing.assert_array_equal(clone.last_result.line_a_or, env.last_result.line_a_or)
    assert clone.last_result.status == env.last_result.status
    for _ in range(3):
        o1, r1, t1, u1, _ = env.step(a)
        o2, r2, t2, u2, _ = clone.step(a)
        assert (r1, t1, u1) == (r2, t2, u2)
        for k in o1:
            np.testing.assert_array_equal(o1[k], o2[k], err_msg=k)


def test_reset_result_is_the_reset_power_flow(env):
    obs, _ = env.reset(seed=3)
    res = env.last_result  # built lazily, after the reset
    np.testing.assert_allclose(res.line_a_or.astype(np.float32), obs["ampere_flows"])


def test_kernel_call_follows_the_context_and_survives_pickling(env):
    import pickle

    env.reset(seed=3)
    a = env.action_helper.do_nothing()
    env.step(a)
    call = env.kernel_call(env.powerflow, env.ac)
    assert env.kernel_call(env.powerflow, env.ac) is call and call.ctx is env.step_context
    env.reset(seed=3)  # a new context: the packed arguments are rebuilt
    assert env.kernel_call(env.powerflow, env.ac) is not call
    clone = pickle.loads(pickle.dumps(env))  # its tables come back writable
    for _ in range(3):
        o1, o2 = env.step(a)[0], clone.step(a)[0]
        for k in o1:
            np.testing.assert_array_equal(o1[k], o2[k], err_msg=k)
    kernel = ENV_STEP_BY_MODE[env.powerflow.ac_mode if env.ac else 0]
    assert len(kernel.signatures) == 1  # read-only views for the clone too: one signature
