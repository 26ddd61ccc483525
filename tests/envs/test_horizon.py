"""``simulate(action, horizon=h)``: the action then a follow-up policy over ``h`` planned steps,
without touching the env (state, power-flow warm start, next real step)."""

from __future__ import annotations

import numpy as np
import pytest
from envs._factory import base_flows, grid_and_net

from gym_powergrid.chronics.chronic import Chronic
from gym_powergrid.envs import PowerGridEnv
from gym_powergrid.envs.horizon import HorizonResult, max_horizon
from gym_powergrid.errors import ConfigurationError

N_STEPS = 24
MAINT_STEP, MAINT_LINE = 4, 9


def _chronic(name="a", margin=10.0):
    """Realised injections on a daily wave; planned ones 5 % above them (so the test can tell
    which were used); one maintenance of 2 steps at MAINT_STEP."""
    grid, _ = grid_and_net("case14")
    t = np.arange(N_STEPS)
    f = (1.0 + 0.2 * np.sin(2 * np.pi * t / 24.0))[:, None]
    lp, lq, pp = grid.load_p_mw[None, :] * f, grid.load_q_mvar[None, :] * f, grid.prod_p_mw * f
    pv = np.repeat(grid.prod_vm_pu[None, :], N_STEPS, 0)
    m = np.zeros((N_STEPS, grid.n_line), int)
    m[MAINT_STEP, MAINT_LINE] = 2
    h = np.zeros((N_STEPS, grid.n_line), int)
    h[3, 2] = 1  # a hazard: never known in advance
    limits = np.maximum(base_flows("case14") * margin, 1.0)
    dts = np.datetime64("2019-01-07T00:00") + t * np.timedelta64(60, "m")
    return Chronic(name, pp, pv, lp, lq, pp * 1.05, pv, lp * 1.05, lq * 1.05, m, h, dts, t,
                   limits)


def _env(**config) -> PowerGridEnv:
    _, net = grid_and_net("case14")
    env = PowerGridEnv(net, chronics=[_chronic()], **config)
    env.reset(seed=0)
    return env


@pytest.fixture
def env():
    e = _env()
    yield e
    e.close()


@pytest.mark.parametrize("bad", [0, -1, 2.0, "3", True])
def test_bad_horizon_is_refused_with_the_allowed_range(env, bad):
    with pytest.raises(ConfigurationError, match=rf"from 1 to {N_STEPS - 1}"):
        env.simulate(env.action_helper.do_nothing(), horizon=bad)


def test_horizon_past_the_chronic_end_is_refused(env):
    dn = env.action_helper.do_nothing()
    assert max_horizon(env) == N_STEPS - 1
    env.simulate(dn, horizon=N_STEPS - 1)  # the last planned row: allowed
    with pytest.raises(ConfigurationError, match=rf"from 1 to {N_STEPS - 1} .*got {N_STEPS}"):
        env.simulate(dn, horizon=N_STEPS)
    env.reset(options={"start_step": N_STEPS - 1})
    with pytest.raises(ConfigurationError, match="no planned step is left"):
        env.simulate(dn, horizon=1)
    env.simulate(dn)  # horizon=None keeps the one-step behaviour (the last row again)


def test_bad_policy_is_refused(env):
    with pytest.raises(ConfigurationError, match="policy must be None"):
        env.simulate(env.action_helper.do_nothing(), horizon=2, policy="do-nothing")


def test_horizon_one_is_the_one_step_simulate(env):
    a = env.action_helper.set_lines_status_switch_from_id(env.action_helper.do_nothing(), 4, 1)
    obs0, r0, t0, i0 = env.simulate(a)
    obs1, r1, t1, i1 = env.simulate(a, horizon=1)
    assert (r0, t0) == (r1, t1)
    for k in obs0:
        np.testing.assert_array_equal(obs0[k], obs1[k])


@pytest.mark.parametrize("mode", ["DC", "AC"])
def test_steps_use_the_planned_rows_and_known_maintenance(env, mode):
    for _ in range(2):
        env.step(env.action_helper.do_nothing())
    t = env.state.step
    h = 4
    a = env.action_helper.set_lines_status_switch_from_id(env.action_helper.do_nothing(), 4, 1)
    res = env.simulate(a, mode, horizon=h)
    assert isinstance(res, HorizonResult)
    assert len(res) == h and res.game_over_step is None and not res.terminated
    assert res.timesteps == list(range(t + 1, t + 1 + h))
    c = env.current_chronic
    for k, obs in enumerate(res.observations):
        np.testing.assert_allclose(obs["active_loads"], c.load_p_planned_mw[t + 1 + k],
                                   rtol=1e-6)
    # the first step equals the one-step simulate
    one = env.simulate(a, mode)
    assert res.rewards[0] == one[1]
    np.testing.assert_array_equal(res.observations[0]["ampere_flows"], one[0]["ampere_flows"])
    # the action at the first step only: line 4 stays switched, with its cooldown running down
    assert all(o["lines_status"][4] == 0 for o in res.observations)
    assert [i["action_applied"].sum() for i in res.infos] == [1, 0, 0, 0]
    # maintenance starting at MAINT_STEP is known; the hazard at step 3 is not
    k_m = MAINT_STEP - (t + 1)
    assert res.infos[k_m]["lines_maintenance_started"] == [MAINT_LINE]
    assert res.observations[k_m]["lines_status"][MAINT_LINE] == 0
    assert res.observations[k_m - 1]["lines_status"][MAINT_LINE] == 1
    assert all(i["lines_hazards_started"] == [] for i in res.infos)
    assert res.total_reward == pytest.approx(sum(res.rewards))
    assert res.discounted_reward(0.5) == pytest.approx(
        sum(r * 0.5 ** k for k, r in enumerate(res.rewards)))


def _snapshot(env):
    st = env.state
    return (st.topo.copy(), st.line_unavailable.copy(), st.line_overflow_steps.copy(),
            st.line_cooldown.copy(), st.sub_cooldown.copy(), st.step)


def test_simulate_changes_nothing_and_the_next_steps_are_those_of_an_env_that_never_simulated():
    """AC game: the power flow warm-starts from the last step; simulating (AC and DC, long
    horizons, with a follow-up policy) must change neither the state nor the next real steps."""
    sim, ref = _env(loadflow_mode="AC"), _env(loadflow_mode="AC")
    helper = sim.action_helper
    rng = np.random.default_rng(3)

    def policy(obs):
        a = helper.do_nothing()
        a[helper.offset_status + int(rng.integers(helper.n_line))] = 1
        return a

    for step in range(8):
        before = _snapshot(sim)
        bus_v = sim.last_result.bus_vm_pu.copy()
        for mode in ("AC", "DC"):
            sim.simulate(policy(None), mode, horizon=min(6, max_horizon(sim)), policy=policy)
            sim.simulate(policy(None), mode)
        after = _snapshot(sim)
        for x, y in zip(before, after):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(bus_v, sim.last_result.bus_vm_pu)
        a = helper.do_nothing()
        if step % 3 == 1:
            a[helper.offset_status + step] = 1
        o1, r1, te1, tr1, i1 = sim.step(a)
        o2, r2, te2, tr2, i2 = ref.step(a)
        assert (r1, te1, tr1) == (r2, te2, tr2)
        for k in o1:
            np.testing.assert_array_equal(o1[k], o2[k], err_msg=k)
        assert i1["lines_hazards_started"] == i2["lines_hazards_started"]


def test_follow_up_policy_and_predicted_game_over():
    """A follow-up policy that switches a line off at the second step: some line ends the game
    there (an isolated production); the prediction stops at the game-over step."""
    env = _env(max_number_prods_game_over=0, max_number_loads_game_over=0)
    helper = env.action_helper
    dn = helper.do_nothing()
    found = []
    for line in range(helper.n_line):
        calls = []

        class Policy:  # an object with act(observation)
            def act(self, obs, line=line, calls=calls):
                calls.append(obs)
                if len(calls) > 1:
                    return helper.do_nothing()
                return helper.set_lines_status_switch_from_id(helper.do_nothing(), line, 1)

        res = env.simulate(dn, horizon=4, policy=Policy())
        assert len(calls) == len(res) - 1  # after each step but the last
        if res.game_over_step is not None:
            assert len(res) == res.game_over_step >= 2
            assert res.infos[-1]["game_over_reason"] in ("too_many_prods_cut",
                                                         "too_many_loads_cut", "diverged")
            assert all(i["game_over_reason"] is None for i in res.infos[:-1])
            assert res.infos[1]["action_applied"][helper.offset_status + line] == 1
            if res.game_over_step == 2:
                found.append(line)
        else:
            assert len(res) == 4
    assert found, "no single line switch ends the game: the test does not exercise game over"
    assert env.simulate(dn, horizon=4).game_over_step is None


@pytest.mark.parametrize("mode", ["DC", "AC"])
def test_pandapower_backend_predicts_the_same_horizon(env, mode):
    """The oracle: the same look-ahead on the pandapower backend's Python loop of the rules."""
    pytest.importorskip("pandapower")
    pp_env = _env(backend="pandapower")
    helper = env.action_helper
    a = helper.set_lines_status_switch_from_id(helper.do_nothing(), 4, 1)
    fast, ref = env.simulate(a, mode, horizon=5), pp_env.simulate(a, mode, horizon=5)
    assert fast.timesteps == ref.timesteps and fast.game_over_step == ref.game_over_step
    for of, orf, inf, inr in zip(fast.observations, ref.observations, fast.infos, ref.infos):
        np.testing.assert_allclose(of["ampere_flows"], orf["ampere_flows"], rtol=1e-4, atol=1e-3)
        np.testing.assert_array_equal(of["lines_status"], orf["lines_status"])
        assert inf["lines_maintenance_started"] == inr["lines_maintenance_started"]
    np.testing.assert_allclose(fast.rewards, ref.rewards, rtol=1e-4, atol=1e-6)
